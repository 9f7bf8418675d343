"""Names of device-model variables: the `VariableRef` key and the station-config key syntax.

The `[device_model]` table of the station config names a variable as

    Component[componentInstance]@evse/connector.Variable[variableInstance]

where the brackets and the `@…` part are optional, e.g. `OCPPCommCtrlr.HeartbeatInterval`,
`OCPPCommCtrlr.MessageAttempts[TransactionEvent]`, `EVSE@1.AvailabilityState`,
`Connector@1/2.ConnectorType`. `parse_key` turns such a key into a `VariableRef` or raises
`DeviceModelKeyError` naming the key and what is wrong with it. `component_json` / `variable_json` give the
OCPP ComponentType / VariableType of anything named by the six fields of a `VariableRef`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
_INSTANCE = re.compile(r"[A-Za-z0-9_\-:.]+")
_NAME_MAX = 50  # OCPP ComponentType.name / VariableType.name maxLength


class DeviceModelKeyError(ValueError):
    """A `[device_model]` key that does not follow `Component[inst]@evse/conn.Variable[inst]`."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"device_model key {key!r}: {problem}")
        self.key = key
        self.problem = problem


class Named(Protocol):
    """What names one variable of one component (VariableRef, catalog.VariableSpec)."""

    @property
    def component(self) -> str: ...
    @property
    def variable(self) -> str: ...
    @property
    def component_instance(self) -> str | None: ...
    @property
    def evse_id(self) -> int | None: ...
    @property
    def connector_id(self) -> int | None: ...
    @property
    def variable_instance(self) -> str | None: ...


def component_json(ref: Named) -> dict[str, Any]:
    """OCPP ComponentType: name, instance, evse {id, connectorId} (the optional ones only when set)."""
    out: dict[str, Any] = {"name": ref.component}
    if ref.component_instance is not None:
        out["instance"] = ref.component_instance
    if ref.evse_id is not None:
        out["evse"] = {"id": ref.evse_id}
        if ref.connector_id is not None:
            out["evse"]["connectorId"] = ref.connector_id
    return out


def variable_json(ref: Named) -> dict[str, Any]:
    """OCPP VariableType: name, instance (when set)."""
    out: dict[str, Any] = {"name": ref.variable}
    if ref.variable_instance is not None:
        out["instance"] = ref.variable_instance
    return out


@dataclass(frozen=True)
class VariableRef:
    """One variable of one component, as OCPP addresses it (names as written, not case-folded)."""

    component: str
    variable: str
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    variable_instance: str | None = None

    def component_json(self) -> dict[str, Any]:
        return component_json(self)

    def variable_json(self) -> dict[str, Any]:
        return variable_json(self)

    def __str__(self) -> str:
        text = self.component
        if self.component_instance is not None:
            text += f"[{self.component_instance}]"
        if self.evse_id is not None:
            text += f"@{self.evse_id}"
            if self.connector_id is not None:
                text += f"/{self.connector_id}"
        text += f".{self.variable}"
        if self.variable_instance is not None:
            text += f"[{self.variable_instance}]"
        return text


def parse_key(key: str) -> VariableRef:
    """Parse a `[device_model]` config key; raise DeviceModelKeyError with the reason."""
    if not isinstance(key, str) or not key.strip():
        raise DeviceModelKeyError(str(key), "empty key")
    text = key.strip()
    component_part, dot, variable_part = _split_component_variable(key, text)
    if not dot:
        raise DeviceModelKeyError(key, "missing '.' between component and variable")
    address = None
    if "@" in component_part:
        component_part, address = component_part.split("@", 1)
    component, component_instance = _name_and_instance(key, component_part, "component")
    variable, variable_instance = _name_and_instance(key, variable_part, "variable")
    evse_id, connector_id = _parse_address(key, address)
    return VariableRef(component, variable, component_instance, evse_id, connector_id, variable_instance)


def _split_component_variable(key: str, text: str) -> tuple[str, bool, str]:
    """Split at the first '.' outside brackets (instances may contain dots)."""
    depth = 0
    split_at = -1
    for index, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise DeviceModelKeyError(key, "']' without a matching '['")
        elif char == "." and depth == 0 and split_at < 0:
            split_at = index
    if depth:
        raise DeviceModelKeyError(key, "'[' without a matching ']'")
    if split_at < 0:
        return text, False, ""
    return text[:split_at], True, text[split_at + 1 :]


def _name_and_instance(key: str, part: str, what: str) -> tuple[str, str | None]:
    if not part:
        raise DeviceModelKeyError(key, f"{what} name is missing")
    instance = None
    name = part
    if "[" in part or "]" in part:
        if not part.endswith("]") or part.count("[") != 1 or part.count("]") != 1:
            raise DeviceModelKeyError(key, f"{what} instance must be written as Name[instance]")
        name, instance = part[:-1].split("[", 1)
        if not instance:
            raise DeviceModelKeyError(key, f"{what} instance in '[]' is empty")
        if not _INSTANCE.fullmatch(instance) or len(instance) > _NAME_MAX:
            raise DeviceModelKeyError(key, f"{what} instance {instance!r} is not a valid instance name")
    if not name:
        raise DeviceModelKeyError(key, f"{what} name is missing")
    if not _NAME.fullmatch(name) or len(name) > _NAME_MAX:
        raise DeviceModelKeyError(
            key, f"{what} name {name!r} must start with a letter and hold only letters, digits, '_' or '-'"
        )
    return name, instance


def _parse_address(key: str, address: str | None) -> tuple[int | None, int | None]:
    if address is None:
        return None, None
    evse_text, _, connector_text = address.partition("/")
    if not evse_text.isdigit() or int(evse_text) < 1:
        raise DeviceModelKeyError(key, f"EVSE id after '@' must be a number >= 1, got {evse_text!r}")
    if "/" not in address:
        return int(evse_text), None
    if not connector_text.isdigit() or int(connector_text) < 1:
        problem = f"connector id after '/' must be a number >= 1, got {connector_text!r}"
        raise DeviceModelKeyError(key, problem)
    return int(evse_text), int(connector_text)


def station_seeds(
    *,
    station_id: str,
    serial_number: str,
    model: str,
    vendor: str,
    firmware_version: str,
    security_profile: int,
    basic_auth_password: str | None = None,
) -> dict[str, object]:
    """Seeds for the variables the station config's [station] and [csms] tables define.

    Merge them over the `[device_model]` table (`{**table, **station_seeds(...)}`): the identity in
    [station] is what BootNotification reports, so it wins over a stray device_model entry.
    """
    seeds: dict[str, object] = {
        "SecurityCtrlr.Identity": station_id,
        "ChargingStation.SerialNumber": serial_number,
        "ChargingStation.Model": model,
        "ChargingStation.VendorName": vendor,
        "ChargingStation.FirmwareVersion": firmware_version,
        "SecurityCtrlr.SecurityProfile": security_profile,
    }
    if basic_auth_password is not None:
        seeds["SecurityCtrlr.BasicAuthPassword"] = basic_auth_password
    return seeds
