"""Service contracts: the state a service publishes, its events and its commands, declared once.

A shape is a small type language, checked at the bus boundary:
  "str" "int" "float" "bool" "any" "list" "dict"   a value of that type ("float" accepts ints)
  "int?"                                             the same, or None / absent
  "enum(A|B|C)"                                      one of these strings
  {"field": shape, ...}                              a map; unknown fields are allowed (contracts grow)
  [shape]                                            a list whose items have that shape
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Any

Shape = Any

_SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
}
_ENUM = re.compile(r"^enum\((.+)\)$")


class ContractViolation(ValueError):
    """A value that does not match its declared shape; the message names the path and the problem."""


def validate(shape: Shape, value: Any, path: str = "$") -> None:
    """Raise ContractViolation when `value` does not have `shape`."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise ContractViolation(f"{path}: expected a map, got {type(value).__name__}")
        for key, sub in shape.items():
            optional = isinstance(sub, str) and sub.endswith("?")
            if key not in value:
                if not optional:
                    raise ContractViolation(f"{path}.{key}: missing")
                continue
            validate(sub, value[key], f"{path}.{key}")
        return
    if isinstance(shape, list):
        if not isinstance(value, (list, tuple)):
            raise ContractViolation(f"{path}: expected a list, got {type(value).__name__}")
        for i, item in enumerate(value):
            validate(shape[0], item, f"{path}[{i}]")
        return
    if not isinstance(shape, str):
        raise TypeError(f"bad shape {shape!r}")
    if shape.endswith("?"):
        if value is None:
            return
        shape = shape[:-1]
    if shape == "any":
        return
    enum = _ENUM.match(shape)
    if enum:
        choices = enum.group(1).split("|")
        if value not in choices:
            raise ContractViolation(f"{path}: {value!r} is not one of {', '.join(choices)}")
        return
    types = _SCALARS.get(shape)
    if types is None:
        raise TypeError(f"bad shape {shape!r}")
    if isinstance(value, bool) and shape != "bool":
        raise ContractViolation(f"{path}: expected {shape}, got bool")
    if not isinstance(value, types):
        raise ContractViolation(f"{path}: expected {shape}, got {type(value).__name__}")


def render_shape(shape: Shape) -> str:
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k}: {render_shape(v)}" for k, v in shape.items()) + "}"
    if isinstance(shape, list):
        return "[" + render_shape(shape[0]) + "]"
    return str(shape)


@dataclass(frozen=True)
class Topic:
    """A state or event name under the service's prefix; `{param}` parts match one dotted segment."""

    name: str
    shape: Shape
    doc: str

    def matches(self, name: str) -> bool:
        pattern = "^" + re.sub(r"\\\{[a-z_]+\\\}", r"[^.]+", re.escape(self.name)) + "$"
        return re.match(pattern, name) is not None


@dataclass(frozen=True)
class Command:
    """A command served on the service's RPC socket. Only idempotent commands are retried by callers."""

    name: str
    args: Shape
    result: Shape
    doc: str
    idempotent: bool = False


@dataclass(frozen=True)
class Contract:
    service: str
    doc: str
    state: tuple[Topic, ...] = ()
    events: tuple[Topic, ...] = ()
    commands: tuple[Command, ...] = ()
    extra_commands: tuple[Command, ...] = field(default=(), repr=False)

    def find_state(self, name: str) -> Topic | None:
        return next((t for t in self.state if t.matches(name)), None)

    def find_event(self, name: str) -> Topic | None:
        return next((t for t in self.events if t.matches(name)), None)

    def find_command(self, name: str) -> Command | None:
        return next((c for c in self.commands if c.name == name), None)

    def check_published(self, kind: str, name: str, body: Any) -> None:
        """Raise ContractViolation unless (kind, name, body) is declared by this contract."""
        topic = self.find_state(name) if kind == "state" else self.find_event(name)
        if topic is None:
            raise ContractViolation(f"{self.service}.{kind}.{name}: not declared in the contract")
        validate(topic.shape, body, f"{self.service}.{kind}.{name}")

    def render(self) -> str:
        """The contract as a person reads it (reonctl contract)."""
        lines = [f"{self.service} — {self.doc}"]
        for title, topics, kind in (("state", self.state, "state"), ("events", self.events, "evt")):
            if topics:
                lines.append(f"  {title}:")
                for t in topics:
                    lines.append(f"    {self.service}.{kind}.{t.name}  {t.doc}")
                    lines.append(f"        {render_shape(t.shape)}")
        if self.commands:
            lines.append("  commands:")
            for c in self.commands:
                flag = " (idempotent)" if c.idempotent else ""
                lines.append(f"    {c.name}{flag}  {c.doc}")
                lines.append(f"        args   {render_shape(c.args)}")
                lines.append(f"        result {render_shape(c.result)}")
        return "\n".join(lines)


# Where contracts live, by convention (no list to keep up to date): the broker's in bus.broker_contract, one
# `contract` module with a CONTRACT in every package under services/, the simulator's in sim.contract.
SERVICES_PACKAGE = "services"
FIXED_CONTRACT_MODULES = ("bus.broker_contract", "sim.contract")

_loaded: dict[str, Contract] = {}
_discovered = False


def contract_modules() -> list[str]:
    """The module names that may hold a contract, found by the convention above."""
    names = [FIXED_CONTRACT_MODULES[0]]
    try:
        services = importlib.import_module(SERVICES_PACKAGE)
    except ModuleNotFoundError:
        services = None
    if services is not None:
        names += [f"{SERVICES_PACKAGE}.{info.name}.contract"
                  for info in sorted(pkgutil.iter_modules(services.__path__), key=lambda i: i.name) if info.ispkg]
    return [*names, *FIXED_CONTRACT_MODULES[1:]]


def all_contracts() -> dict[str, Contract]:
    """Every installed contract by service name (the bus first, the simulator last)."""
    global _discovered
    if not _discovered:
        for module_name in contract_modules():
            try:
                contract = importlib.import_module(module_name).CONTRACT
            except ModuleNotFoundError as exc:
                if exc.name is not None and module_name.startswith(exc.name):
                    continue  # a package without a contract module, or a part not installed
                raise
            _loaded.setdefault(contract.service, contract)
        _discovered = True
    return dict(_loaded)


def register_contract(contract: Contract) -> None:
    """Make a contract known without a module (stand-in services in tests)."""
    _loaded[contract.service] = contract


def load_contract(service: str) -> Contract | None:
    """The declared contract of a service, or None when that service is not installed."""
    if service not in _loaded:
        all_contracts()
    return _loaded.get(service)
