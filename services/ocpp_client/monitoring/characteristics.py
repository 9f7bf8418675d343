"""The monitoring block's narrow view of the device model: `DeviceModelView` gives the callables it needs
(describe, has_component, declares, current_value) over anything with DeviceModel's `catalog`, `lookup`,
`has_component` and `value`. Which variables support monitoring is the catalog's rule
(`VariableSpec.supports_monitoring`: every variable whose value can change, WriteOnly ones too, N07.FR.10).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.ocpp_client.device_model.catalog import VariableSpec
from services.ocpp_client.device_model.keys import VariableRef
from services.ocpp_client.monitoring.monitors import VariableInfo
from services.ocpp_client.monitoring.store import Target


def variable_info(spec: VariableSpec) -> VariableInfo:
    write_only = any(attr.mutability == "WriteOnly" for attr in spec.attributes)
    return VariableInfo(spec.data_type, spec.min_limit, spec.max_limit, spec.supports_monitoring, write_only)


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
        spec = self._model.lookup(target)
        return None if spec is None else variable_info(spec)

    def has_component(self, target: Target) -> bool:
        return self._model.has_component(target)

    def declares(self, component: str | None, variable: str | None) -> bool:
        """Whether any instance of the component declares the variable (None: any component / variable)."""
        name = None if component is None else component.casefold()
        wanted = None if variable is None else variable.casefold()
        return any(name in (None, spec.component.casefold()) and wanted in (None, spec.variable.casefold())
                   for spec in self._model.catalog)

    def current_value(self, target: Target) -> str | None:
        spec = self._model.lookup(target)
        return None if spec is None else self._model.value(spec)
