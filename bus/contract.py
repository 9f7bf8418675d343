"""Service contracts: the state a service publishes, its events and its commands, declared once.

A shape is a small type language, checked at the bus boundary:
  "str" "int" "float" "bool" "any" "list" "dict"   a value of that type ("float" accepts ints)
  "int?"                                             the same, or None / absent
  "enum(A|B|C)"                                      one of these strings
  {"field": shape, ...}                              a map; unknown fields are allowed (contracts grow)
  [shape]                                            a list whose items have that shape

A durable stream (bus/durable.py) is declared in its producer's contract as a DurableStream: the kinds of
entry it carries and the fields of each, with a comment per field; entries are checked when appended and when
consumed, so a misspelled kind or a missing field fails at once on either end.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from enum import StrEnum
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


# One journal entry of a durable stream as it travels (event `<service>.evt.<stream>` and `replay` results).
ENTRY = {"stream": "str", "seq": "int", "ts": "float", "name": "str", "data": "any"}


def stream_topics(stream: str, doc: str) -> tuple[Topic, Topic]:
    """The state and event topics a producer declares in its contract for one stream."""
    return (Topic(f"stream.{stream}", {"last_seq": "int"}, f"head of the durable stream {stream!r}"),
            Topic(stream, ENTRY, doc))


@dataclass(frozen=True)
class Field:
    """One field of a durable stream entry's data: its shape and what it means."""

    name: str
    shape: Shape
    doc: str = ""


@dataclass(frozen=True)
class EntryKind:
    """One kind of entry of a durable stream (the entry's `name`) and the fields of its data."""

    name: str
    doc: str
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class DurableStream:
    """A producer's durable stream: its entry kinds; `common` fields are in the data of every kind."""

    name: str
    doc: str
    kinds: tuple[EntryKind, ...]
    common: tuple[Field, ...] = ()

    def kind_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.kinds)

    def find_kind(self, name: str) -> EntryKind | None:
        return next((k for k in self.kinds if k.name == name), None)

    def enum(self) -> type[StrEnum]:
        """The kind names as a StrEnum, member PLUGGED_IN = "plugged_in" (for a consumer that has no import)."""
        return StrEnum(f"{self.name.title()}Kind", [(k.name.upper(), k.name) for k in self.kinds])  # type: ignore[return-value]

    def shape(self, kind: EntryKind) -> dict[str, Shape]:
        return {f.name: f.shape for f in (*self.common, *kind.fields)}

    def check_entry(self, name: Any, data: Any, where: str) -> None:
        """Raise ContractViolation unless `name` is a declared kind and `data` has its fields."""
        kind = self.find_kind(name) if isinstance(name, str) else None
        if kind is None:
            raise ContractViolation(f"{where}: entry kind {name!r} is not declared; one of "
                                    f"{', '.join(self.kind_names())}")
        validate(self.shape(kind), data, f"{where}.{kind.name}")

    def topics(self) -> tuple[Topic, Topic]:
        return stream_topics(self.name, self.doc)

    def render(self, service: str) -> list[str]:
        lines = [f"    {service}.evt.{self.name}  {self.doc}",
                 f"        entry {render_shape(ENTRY)}; head {service}.state.stream.{self.name} {{last_seq: int}}"]
        if self.common:
            lines.append("        data of every kind:")
            lines += _render_fields(self.common)
        for kind in self.kinds:
            lines.append(f"      {kind.name}  {kind.doc}")
            lines += _render_fields(kind.fields)
        return lines


def _render_fields(fields: tuple[Field, ...]) -> list[str]:
    width = min(40, max((len(f"{f.name}: {render_shape(f.shape)}") for f in fields), default=0))
    return [f"          {f'{f.name}: {render_shape(f.shape)}':<{width}}  # {f.doc}" if f.doc else
            f"          {f.name}: {render_shape(f.shape)}" for f in fields]


@dataclass(frozen=True)
class Contract:
    service: str
    doc: str
    state: tuple[Topic, ...] = ()
    events: tuple[Topic, ...] = ()
    commands: tuple[Command, ...] = ()
    extra_commands: tuple[Command, ...] = field(default=(), repr=False)
    streams: tuple[DurableStream, ...] = ()

    def __post_init__(self) -> None:
        """Each declared stream brings its head (state) and entry (event) topics."""
        for stream in self.streams:
            head, entry = stream.topics()
            if self.find_state(head.name) is None:
                object.__setattr__(self, "state", (*self.state, head))
            if self.find_event(entry.name) is None:
                object.__setattr__(self, "events", (*self.events, entry))

    def find_stream(self, name: str) -> DurableStream | None:
        return next((s for s in self.streams if s.name == name), None)

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
        """The contract as a person reads it (reonctl contract); a long shape is printed once, then named."""
        seen: dict[str, str] = {}

        def shape_line(label: str, shape: Shape, where: str) -> str:
            text = render_shape(shape)
            if len(text) > 60 and text in seen:
                return f"{label}same as {seen[text]}"
            seen.setdefault(text, where)
            return label + text

        streamed = {s.name for s in self.streams} | {f"stream.{s.name}" for s in self.streams}
        lines = [f"{self.service} — {self.doc}"]
        for title, topics, kind in (("state", self.state, "state"), ("events", self.events, "evt")):
            shown = [t for t in topics if t.name not in streamed]
            if shown:
                lines.append(f"  {title}:")
                for t in shown:
                    where = f"{self.service}.{kind}.{t.name}"
                    lines.append(f"    {where}  {t.doc}")
                    lines.append(shape_line("        ", t.shape, where))
        if self.streams:
            lines.append("  durable streams (replay / ack):")
            for stream in self.streams:
                lines += stream.render(self.service)
        if self.commands:
            lines.append("  commands:")
            for c in self.commands:
                flag = " (idempotent)" if c.idempotent else ""
                lines.append(f"    {c.name}{flag}  {c.doc}")
                lines.append(shape_line("        args   ", c.args, f"{c.name} args"))
                lines.append(shape_line("        result ", c.result, f"{c.name} result"))
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


def _load(module_name: str) -> None:
    try:
        contract = importlib.import_module(module_name).CONTRACT
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            return  # a package without a contract module, or a part not installed
        raise
    _loaded.setdefault(contract.service, contract)


def all_contracts() -> dict[str, Contract]:
    """Every installed contract by service name (the bus first, the simulator last)."""
    global _discovered
    if not _discovered:
        for module_name in contract_modules():
            _load(module_name)
        _discovered = True
    return dict(_loaded)


def register_contract(contract: Contract) -> None:
    """Make a contract known without a module (stand-in services in tests)."""
    _loaded[contract.service] = contract


def load_contract(service: str) -> Contract | None:
    """The declared contract of a service, or None when that service is not installed."""
    if service not in _loaded and not _discovered:
        # in convention order, stopping at the first that declares it: a service asking for its peers' contracts
        # imports only those (not the simulator's, which pulls in the MCU protocol's protobuf)
        for module_name in contract_modules():
            _load(module_name)
            if service in _loaded:
                break
    return _loaded.get(service)
