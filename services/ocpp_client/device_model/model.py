"""The OCPP 2.0.1 device model of the station: declared variables, their values, persistence, listeners.

Plain code, no network or bus. `reports.py` turns CSMS requests into calls on this model; the rest of
ocpp_client reads its settings through the typed accessors (`dm.get_int("OCPPCommCtrlr",
"HeartbeatInterval")`) and hears about changes through `on_change`.

Seeding rule (station config `[device_model]` table → database), applied at every open:
the *seed* of an attribute is its config value when the config names it, else the catalog default.
If the seed differs from the seed applied at the previous open (the operator edited the file, or a
software update changed the default), the seed is applied. Otherwise the stored value wins, so a value
set by SetVariables (or by the station, e.g. the heartbeat interval from BootNotification) survives
restarts. A fresh database takes every seed. Live values (persistent=False) always start from the seed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict, Unpack

from services.ocpp_client.device_model.catalog import EvseTopology, VariableSpec, build_catalog
from services.ocpp_client.device_model.keys import DeviceModelKeyError, VariableRef, parse_key
from services.ocpp_client.device_model.store import DeviceModelStore, StoredAttribute
from services.ocpp_client.device_model.values import InvalidValueError, normalise, split_list, to_text

log = logging.getLogger(__name__)


class DeviceModelError(Exception):
    """A station-side misuse of the device model (unknown variable, unset value)."""


class UnknownVariableError(DeviceModelError, LookupError):
    """The component/variable (or attribute) is not declared in the device model."""


@dataclass(frozen=True)
class VariableChange:
    """What a change listener receives; `source` is "csms" or "station"."""

    spec: VariableSpec
    attribute: str
    old_value: str | None
    new_value: str | None
    source: str


@dataclass(frozen=True)
class AttributeOutcome:
    """Result of a CSMS read or write of one attribute, in OCPP status terms."""

    status: str
    value: str | None = None
    reason_code: str | None = None
    detail: str | None = None


ChangeListener = Callable[[VariableChange], None]


class Address(TypedDict, total=False):
    """Where a variable sits besides its component and variable names (keywords of the accessors)."""

    component_instance: str
    evse_id: int
    connector_id: int
    variable_instance: str


def format_datetime(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds and a Z, the form REON sends."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DeviceModel:
    """Declared components/variables of the station with their persisted values."""

    def __init__(
        self,
        db_path: str | Path,
        evses: Sequence[EvseTopology],
        seeds: Mapping[str, object] | None = None,
        *,
        extra_variables: Sequence[VariableSpec] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.catalog: tuple[VariableSpec, ...] = (*build_catalog(evses), *extra_variables)
        self._by_ident: dict[tuple, VariableSpec] = {}
        for spec in self.catalog:
            if spec.ident in self._by_ident:
                raise ValueError(f"device model declares {spec.component}.{spec.variable} twice")
            self._by_ident[spec.ident] = spec
        self._components = {spec.ident[:4] for spec in self.catalog}
        self._clock = clock or (lambda: datetime.now(UTC))
        self._values: dict[tuple[tuple, str], str | None] = {}
        self._readers: dict[tuple, Callable[[], str | None]] = {}
        self._listeners: list[tuple[tuple, ChangeListener]] = []
        self._reboot_pending: dict[tuple, VariableSpec] = {}
        self._seeds_applied: dict[tuple[tuple, str], str | None] = {}
        config_seeds = self._parse_seeds(seeds or {})
        self._store = DeviceModelStore(db_path)
        self._load(config_seeds)
        self.set_reader("ClockCtrlr", "DateTime", lambda: format_datetime(self.now()))

    # ----- lookup ---------------------------------------------------------------------------------

    def lookup(self, ref: VariableRef) -> VariableSpec | None:
        """The declared variable `ref` names (names and instances compared case-insensitively)."""
        return self._by_ident.get(_ident(ref))

    def has_component(self, ref: VariableRef) -> bool:
        """Whether the component of `ref` (name, instance, EVSE, connector) exists."""
        return _ident(ref)[:4] in self._components

    def now(self) -> datetime:
        return self._clock()

    # ----- station-side access ----------------------------------------------------------------------

    def get(self, component: str, variable: str, *, attribute: str = "Actual",
            **where: Unpack[Address]) -> str | None:
        """The value of an attribute (None when unset). WriteOnly values are readable station-side."""
        spec = self._require(component, variable, attribute, where)
        return self.value(spec, attribute)

    def get_str(self, component: str, variable: str, **where: Unpack[Address]) -> str:
        return self._require_value(component, variable, where)

    def get_int(self, component: str, variable: str, **where: Unpack[Address]) -> int:
        return int(self._require_value(component, variable, where))

    def get_float(self, component: str, variable: str, **where: Unpack[Address]) -> float:
        return float(self._require_value(component, variable, where))

    def get_bool(self, component: str, variable: str, **where: Unpack[Address]) -> bool:
        return self._require_value(component, variable, where) == "true"

    def get_list(self, component: str, variable: str, **where: Unpack[Address]) -> list[str]:
        """Entries of a MemberList/SequenceList/OptionList value, in order."""
        return split_list(self._require_value(component, variable, where))

    def set(self, component: str, variable: str, value: object, *, attribute: str = "Actual",
            **where: Unpack[Address]) -> None:
        """Station-side write (any mutability), e.g. ICCID from the modem or the heartbeat interval from
        BootNotification. Raises InvalidValueError when the value breaks the variable's characteristics."""
        spec = self._require(component, variable, attribute, where)
        text = normalise(spec, to_text(value))
        self._commit([(spec, attribute, text)], source="station")

    def set_reader(self, component: str, variable: str, reader: Callable[[], str | None],
                   **where: Unpack[Address]) -> None:
        """Serve the Actual value of a live variable from `reader` (e.g. ClockCtrlr.DateTime)."""
        spec = self._require(component, variable, "Actual", where)
        self._readers[spec.ident] = reader

    def on_change(self, component: str, variable: str, callback: ChangeListener, **where: Unpack[Address]
                  ) -> Callable[[], None]:
        """Call `callback(VariableChange)` after a committed change of a matching variable.

        Keywords left out (component_instance, evse_id, connector_id, variable_instance) match any,
        so `on_change("EVSE", "AvailabilityState", cb)` hears every EVSE. Returns an unsubscribe function.
        """
        pattern = (component.casefold(), _fold(where.get("component_instance")), where.get("evse_id"),
                   where.get("connector_id"), variable.casefold(), _fold(where.get("variable_instance")))
        if not any(_matches(pattern, spec.ident) for spec in self.catalog):
            raise UnknownVariableError(f"no declared variable matches {component}.{variable} {where or ''}")
        entry = (pattern, callback)
        self._listeners.append(entry)
        return lambda: self._listeners.remove(entry) if entry in self._listeners else None

    def write_only_variable_names(self) -> frozenset[str]:
        """Names of variables whose values must never be logged or reported (for the message log)."""
        return frozenset(spec.variable for spec in self.catalog
                         if any(attr.mutability == "WriteOnly" for attr in spec.attributes))

    def reboot_pending(self) -> tuple[VariableSpec, ...]:
        """Variables set by the CSMS that take effect only after the next reboot."""
        return tuple(self._reboot_pending.values())

    def value(self, spec: VariableSpec, attribute: str = "Actual") -> str | None:
        """Raw value of a declared attribute (live reader first). Callers facing the CSMS hide WriteOnly."""
        reader = self._readers.get(spec.ident)
        if reader is not None and attribute == "Actual":
            return reader()
        return self._values.get((spec.ident, attribute))

    # ----- CSMS-side access (B05/B06) ---------------------------------------------------------------

    def read_for_csms(self, spec: VariableSpec, attribute: str) -> AttributeOutcome:
        """GetVariables semantics for one declared variable (B06.FR.08/09/10/13)."""
        declared = spec.attribute(attribute)
        if declared is None:
            return AttributeOutcome("NotSupportedAttributeType", reason_code="UnsupportedParam")
        if declared.mutability == "WriteOnly":
            return AttributeOutcome("Rejected", reason_code="WriteOnly")
        value = self.value(spec, attribute)
        return AttributeOutcome("Accepted", value=self.clip_for_report(value or ""))

    def write_from_csms(self, writes: Sequence[tuple[VariableSpec, str, str]]) -> list[AttributeOutcome]:
        """SetVariables semantics (B05): check each write, commit the accepted ones in one transaction,
        then notify listeners. Returns one outcome per write, in order."""
        outcomes: list[AttributeOutcome] = []
        accepted: list[tuple[VariableSpec, str, str]] = []
        for spec, attribute, text in writes:
            outcome, normalised = self._check_csms_write(spec, attribute, text)
            outcomes.append(outcome)
            if normalised is not None:
                accepted.append((spec, attribute, normalised))
        self._commit(accepted, source="csms")
        return outcomes

    def clip_for_report(self, text: str) -> str:
        """Cut a reported value to ReportingValueSize characters."""
        limit = self._int_or_none("DeviceDataCtrlr", "ReportingValueSize") or 2500
        return text[:limit]

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> DeviceModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- internals --------------------------------------------------------------------------------

    def _check_csms_write(self, spec: VariableSpec, attribute: str, text: str
                          ) -> tuple[AttributeOutcome, str | None]:
        declared = spec.attribute(attribute)
        if declared is None:
            return AttributeOutcome("NotSupportedAttributeType", reason_code="UnsupportedParam"), None
        if declared.mutability == "ReadOnly":
            return AttributeOutcome("Rejected", reason_code="ReadOnly"), None
        size_limit = self._int_or_none("DeviceDataCtrlr", "ConfigurationValueSize")
        if size_limit is not None and len(text) > size_limit:
            detail = f"value longer than ConfigurationValueSize ({size_limit})"
            return AttributeOutcome("Rejected", reason_code="TooLargeElement", detail=detail), None
        try:
            normalised = normalise(spec, text)
        except InvalidValueError as error:
            return AttributeOutcome("Rejected", reason_code=error.reason_code, detail=error.message), None
        status = "RebootRequired" if spec.reboot_required else "Accepted"
        return AttributeOutcome(status), normalised

    def _commit(self, writes: Sequence[tuple[VariableSpec, str, str]], source: str) -> None:
        changes: list[VariableChange] = []
        rows = []
        for spec, attribute, text in writes:
            key = (spec.ident, attribute)
            old = self._values.get(key)
            if spec.persistent:
                seed = self._seeds_applied.get(key)
                rows.append((spec.ident, attribute, StoredAttribute(text, seed, source)))
            if old != text:
                changes.append(VariableChange(spec, attribute, old, text, source))
        self._store.save(rows)
        for change in changes:
            self._values[(change.spec.ident, change.attribute)] = change.new_value
            level = logging.INFO if source == "csms" or change.spec.persistent else logging.DEBUG
            log.log(level, "device model: %s(%s) set to %s by %s", _label(change.spec), change.attribute,
                    _shown(change.spec, change.attribute, change.new_value), source)
            if change.spec.reboot_required and source == "csms":
                self._reboot_pending[change.spec.ident] = change.spec
                continue
            self._notify(change)

    def _notify(self, change: VariableChange) -> None:
        for pattern, callback in list(self._listeners):
            if not _matches(pattern, change.spec.ident):
                continue
            try:
                callback(change)
            except Exception:
                log.exception("device model: change listener for %s failed", _label(change.spec))

    def _parse_seeds(self, seeds: Mapping[str, object]) -> dict[tuple[tuple, str], str]:
        parsed: dict[tuple[tuple, str], str] = {}
        for key, raw in seeds.items():
            ref = parse_key(key)
            spec = self.lookup(ref)
            if spec is None:
                what = "component" if not self.has_component(ref) else "variable"
                raise DeviceModelKeyError(key, f"unknown {what} in REON's device model")
            try:
                parsed[(spec.ident, "Actual")] = normalise(spec, to_text(raw))
            except InvalidValueError as error:
                raise DeviceModelKeyError(key, f"bad value {raw!r}: {error.message}") from None
        return parsed

    def _load(self, config_seeds: Mapping[tuple[tuple, str], str]) -> None:
        stored = self._store.load()
        rows = []
        for spec in self.catalog:
            for declared in spec.attributes:
                key = (spec.ident, declared.type)
                seed = config_seeds.get(key, declared.default)
                self._seeds_applied[key] = seed
                row = stored.get(key)
                if not spec.persistent:
                    self._values[key] = seed
                elif row is not None and row.seed_value == seed and self._still_valid(spec, row.value):
                    self._values[key] = row.value
                else:
                    if row is not None and row.value != seed:
                        log.info("device model: %s(%s) seed changed to %s, replacing the stored value",
                                 _label(spec), declared.type, _shown(spec, declared.type, seed))
                    self._values[key] = seed
                    rows.append((spec.ident, declared.type, StoredAttribute(seed, seed, "seed")))
        self._store.save(rows)

    @staticmethod
    def _still_valid(spec: VariableSpec, value: str | None) -> bool:
        if value is None:
            return True
        try:
            normalise(spec, value)
        except InvalidValueError:
            log.warning("device model: stored value of %s no longer valid, using the seed", _label(spec))
            return False
        return True

    def _require(self, component: str, variable: str, attribute: str, where: Mapping[str, object]
                 ) -> VariableSpec:
        ref = VariableRef(component, variable, **where)  # type: ignore[arg-type]
        spec = self.lookup(ref)
        if spec is None:
            raise UnknownVariableError(f"{ref} is not declared in the device model")
        if spec.attribute(attribute) is None:
            raise UnknownVariableError(f"{ref} has no {attribute} attribute")
        return spec

    def _require_value(self, component: str, variable: str, where: Mapping[str, object]) -> str:
        spec = self._require(component, variable, "Actual", where)
        value = self.value(spec)
        if value is None:
            raise DeviceModelError(f"{_label(spec)} has no value")
        return value

    def _int_or_none(self, component: str, variable: str) -> int | None:
        spec = self._by_ident.get((component.casefold(), "", 0, 0, variable.casefold(), ""))
        value = self.value(spec) if spec else None
        return int(value) if value else None


def _fold(text: object) -> str | None:
    return None if text is None else str(text).casefold()


def _ident(ref: VariableRef) -> tuple:
    return (ref.component.casefold(), (ref.component_instance or "").casefold(), ref.evse_id or 0,
            ref.connector_id or 0, ref.variable.casefold(), (ref.variable_instance or "").casefold())


def _matches(pattern: tuple, ident: tuple) -> bool:
    component, c_instance, evse_id, connector_id, variable, v_instance = pattern
    return (ident[0] == component and ident[4] == variable
            and (c_instance is None or ident[1] == c_instance)
            and (evse_id is None or ident[2] == evse_id)
            and (connector_id is None or ident[3] == connector_id)
            and (v_instance is None or ident[5] == v_instance))


def _label(spec: VariableSpec) -> str:
    return str(VariableRef(spec.component, spec.variable, spec.component_instance, spec.evse_id,
                           spec.connector_id, spec.variable_instance))


def _shown(spec: VariableSpec, attribute: str, value: str | None) -> str:
    declared = spec.attribute(attribute)
    if declared is not None and declared.mutability == "WriteOnly":
        return "<hidden>"
    return repr(value)
