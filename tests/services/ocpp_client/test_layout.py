"""The shape of services/ocpp_client: one sub-package per OCPP functional block, no import cycle among its
modules, a small top level and small packages (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "services" / "ocpp_client"
PREFIX = "services.ocpp_client"
MAX_TOP_LEVEL_ENTRIES = 19  # __init__, service, contract, clock, store, peers and 13 block packages
MAX_FILES_PER_PACKAGE = 12
BLOCKS = {"link", "device_model", "provisioning", "authorization", "transactions", "availability", "meter_values",
          "security", "firmware", "smart_charging", "reservation", "certificates", "monitoring"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """ocpp_client modules this file imports at run time (not under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    type_only = {id(node) for stmt in ast.walk(tree) if isinstance(stmt, ast.If)
                 and "TYPE_CHECKING" in ast.unparse(stmt.test) for body in stmt.body for node in ast.walk(body)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: _imports(path, set(files)) - {name} for name, path in files.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_among_ocpp_client_modules() -> None:
    graph = _graph()
    assert len(graph) > 40
    assert _cycle(graph) is None, " → ".join(_cycle(graph) or [])


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_top_level_is_small_and_has_one_package_per_block() -> None:
    entries = [p for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= MAX_TOP_LEVEL_ENTRIES, sorted(p.name for p in entries)
    packages = {p.name for p in entries if p.is_dir()}
    assert packages == BLOCKS
    assert all((PACKAGE / block / "__init__.py").read_text().startswith('"""') for block in BLOCKS)


def test_no_package_holds_more_than_twelve_files() -> None:
    for block in BLOCKS:
        files = [p for p in (PACKAGE / block).glob("*.py")]
        assert len(files) <= MAX_FILES_PER_PACKAGE, (block, len(files))


def test_no_ocpp_client_module_imports_another_service() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
                assert not (module.startswith("services.") and not module.startswith(PREFIX)), (path, module)
