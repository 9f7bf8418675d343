"""The house rules of the tree, read from the source with ast: who may import whom, no cycles, no shadowing."""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("bus", "station", "services", "sim", "reonctl")
def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in FIRST_PARTY:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


@cache
def imports_of(name: str) -> tuple[str, ...]:
    """Every module `name` imports (absolute names, any depth in the file)."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules()]
    return tuple(found)


def first_party_imports(name: str) -> set[str]:
    return {i for i in imports_of(name) if i in modules()}


def offenders(where: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{name} imports {i}" for name in modules() if name == where or name.startswith(where + ".")
                  for i in imports_of(name) if i.split(".")[0] in forbidden or i in forbidden)


def test_nothing_under_services_or_sim_imports_reonctl() -> None:
    assert offenders("services", ("reonctl",)) + offenders("sim", ("reonctl",)) == []


def test_only_bus_imports_zmq_and_msgpack() -> None:
    found = [o for package in FIRST_PARTY if package != "bus" for o in offenders(package, ("zmq", "msgpack"))]
    assert found == []


def test_station_imports_neither_the_bus_nor_any_program() -> None:
    assert offenders("station", ("bus", "services", "sim", "reonctl")) == []


def test_no_service_imports_another_service() -> None:
    found = []
    for name in modules():
        if name.startswith("services."):
            own = name.split(".")[1]
            found += [f"{name} imports {i}" for i in imports_of(name)
                      if i.startswith("services.") and i.split(".")[1] != own]
    assert found == []


def shadowing(scope: str) -> list[str]:
    """Files whose module name is also a standard-library module's (`queue.py`, `inspect.py` …)."""
    paths = [p for name, p in modules().items() if name == scope or name.startswith(scope + ".")]
    if scope == "tests":
        paths = [*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").glob("*.py")]
    names = {(p.parent.name if p.name == "__init__.py" else p.stem): p for p in paths}
    return sorted(str(names[n].relative_to(ROOT)) for n in set(names) & set(sys.stdlib_module_names))


@pytest.mark.parametrize("scope", ["bus", "station", "services.evse_io", "services.meter", "services.modem",
                                   "services.firmware", "sim", "reonctl", "tests"])
def test_no_file_shadows_a_standard_library_module(scope: str) -> None:
    assert shadowing(scope) == []


def test_no_file_in_ocpp_client_shadows_a_standard_library_module() -> None:
    assert shadowing("services.ocpp_client") == []


def import_cycles(scope: str = "") -> list[list[str]]:
    """Cycles among first-party modules (a package's __init__ counts as the package)."""
    graph = {name: sorted(first_party_imports(name)) for name in modules()}
    cycles, state = [], {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    for name in sorted(graph):
        if name not in state:
            visit(name)
    return [c for c in cycles if any(m.startswith(scope) for m in c)] if scope else cycles


def test_no_import_cycle_outside_ocpp_client() -> None:
    assert [c for c in import_cycles() if not any(m.startswith("services.ocpp_client") for m in c)] == []


def test_no_import_cycle_anywhere() -> None:
    assert import_cycles() == []
