"""Device-model facts the monitoring block needs, and the data a complete device model adds (wave 2 wiring).

- `supports_monitoring(spec)`: every declared variable whose value can change (not `constant`) supports
  monitoring; a WriteOnly one too (its events carry actualValue "", N07.FR.10).
- `variable_characteristics(spec)`: VariableCharacteristicsType for full reports (B07): unit, dataType,
  minLimit, maxLimit, valuesList, supportsMonitoring.
- `power_variables(evses)`: EVSE.Power and ChargingStation.Power with Actual, MaxSet and (for the station)
  the sum of the EVSEs' maxima as maxLimit (appendix 3: EVSE.Power maxLimit is required), to replace the
  Actual-only EVSE.Power of the base catalog.
- `DeviceModelView`: the narrow callables (describe, has_component, declares, current_value) over anything
  with DeviceModel's `catalog`, `lookup`, `has_component` and `value`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from services.ocpp_client.device_model_catalog import AttributeSpec, EvseTopology, VariableSpec
from services.ocpp_client.device_model_keys import VariableRef
from services.ocpp_client.monitoring.monitors import VariableInfo
from services.ocpp_client.monitoring.store import Target


def supports_monitoring(spec: VariableSpec) -> bool:
    return not spec.constant


def variable_info(spec: VariableSpec) -> VariableInfo:
    write_only = any(attr.mutability == "WriteOnly" for attr in spec.attributes)
    return VariableInfo(spec.data_type, spec.min_limit, spec.max_limit, supports_monitoring(spec), write_only)


def variable_characteristics(spec: VariableSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"dataType": spec.data_type, "supportsMonitoring": supports_monitoring(spec)}
    if spec.unit is not None:
        out["unit"] = spec.unit
    if spec.min_limit is not None:
        out["minLimit"] = _number(spec.min_limit)
    if spec.max_limit is not None:
        out["maxLimit"] = _number(spec.max_limit)
    if spec.values_list is not None:
        out["valuesList"] = ",".join(spec.values_list)
    return out


def power_variables(evses: Sequence[EvseTopology]) -> list[VariableSpec]:
    specs = []
    for evse in sorted(evses, key=lambda e: e.evse_id):
        limit = str(_number(evse.max_power_w))
        specs.append(VariableSpec("EVSE", "Power", "decimal", (
            AttributeSpec("Actual", "ReadOnly", "0"), AttributeSpec("MaxSet", "ReadOnly", limit)),
            evse_id=evse.evse_id, unit="W", min_limit=0, max_limit=evse.max_power_w, persistent=False))
    total = sum(evse.max_power_w for evse in evses)
    specs.append(VariableSpec("ChargingStation", "Power", "decimal", (
        AttributeSpec("Actual", "ReadOnly", "0"), AttributeSpec("MaxSet", "ReadOnly", str(_number(total)))),
        unit="W", min_limit=0, max_limit=total, persistent=False))
    return specs


class _Model(Protocol):
    catalog: Sequence[VariableSpec]

    def lookup(self, ref: VariableRef) -> VariableSpec | None: ...
    def has_component(self, ref: VariableRef) -> bool: ...
    def value(self, spec: VariableSpec, attribute: str = "Actual") -> str | None: ...


class DeviceModelView:
    """The monitoring block's narrow view of the device model."""

    def __init__(self, model: _Model) -> None:
        self._model = model

    def describe(self, target: Target) -> VariableInfo | None:
        spec = self._model.lookup(_ref(target))
        return None if spec is None else variable_info(spec)

    def has_component(self, target: Target) -> bool:
        return self._model.has_component(_ref(target))

    def declares(self, component: str, variable: str | None) -> bool:
        """Whether any instance of the component declares the variable (None: any variable)."""
        name, wanted = component.casefold(), None if variable is None else variable.casefold()
        return any(spec.component.casefold() == name and wanted in (None, spec.variable.casefold())
                   for spec in self._model.catalog)

    def current_value(self, target: Target) -> str | None:
        spec = self._model.lookup(_ref(target))
        return None if spec is None else self._model.value(spec)


def _ref(target: Target) -> VariableRef:
    return VariableRef(target.component, target.variable, target.component_instance, target.evse_id,
                       target.connector_id, target.variable_instance)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value
