"""SmartChargingCtrlr: the device-model variables of smart charging, as data for device_model_catalog.py.

Part 2 appendix 3 (SmartChargingCtrlr). The lead adds `*smart_charging_ctrlr()` to build_catalog. Entries
(instance ChargingProfiles) is live: the service serves it with `DeviceModel.set_reader` from the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.ocpp_client.device_model.catalog import AttributeSpec, VariableSpec

COMPONENT = "SmartChargingCtrlr"
RATE_UNITS = ("A", "W")
MAX_ENTRIES = 64
MAX_PERIODS_PER_SCHEDULE = 1024
MAX_STACK_LEVEL = 32


def _v(variable: str, data_type: str, default: str | None, mutability: str = "ReadWrite",
       **characteristics: object) -> VariableSpec:
    attributes = (AttributeSpec("Actual", mutability, default),)
    return VariableSpec(COMPONENT, variable, data_type, attributes, **characteristics)  # type: ignore[arg-type]


def smart_charging_ctrlr() -> list[VariableSpec]:
    """The SmartChargingCtrlr variables REON declares, with REON's factory values."""
    return [
        _v("ACPhaseSwitchingSupported", "boolean", "false", "ReadOnly"),
        _v("Available", "boolean", "true", "ReadOnly"),
        _v("Enabled", "boolean", "true"),
        _v("Entries", "integer", "0", "ReadOnly", variable_instance="ChargingProfiles", min_limit=0,
           max_limit=MAX_ENTRIES, persistent=False),
        _v("ExternalControlSignalsEnabled", "boolean", "false"),
        _v("LimitChangeSignificance", "decimal", "10", unit="Percent", min_limit=0, max_limit=100),
        _v("NotifyChargingLimitWithSchedules", "boolean", "false"),
        _v("PeriodsPerSchedule", "integer", "24", "ReadOnly", min_limit=1, max_limit=MAX_PERIODS_PER_SCHEDULE),
        _v("ProfileStackLevel", "integer", "8", "ReadOnly", min_limit=0, max_limit=MAX_STACK_LEVEL),
        _v("RateUnit", "MemberList", ",".join(RATE_UNITS), "ReadOnly", values_list=RATE_UNITS, allow_empty=False),
    ]


@dataclass(frozen=True)
class Settings:
    """The SmartChargingCtrlr values the block acts on, read fresh for each request."""

    enabled: bool = True
    rate_units: tuple[str, ...] = RATE_UNITS
    periods_per_schedule: int = 24
    max_stack_level: int = 8
    max_entries: int = MAX_ENTRIES
    phase_switching: bool = False


def read_settings(get_bool: Callable[..., bool], get_int: Callable[..., int],
                  get_list: Callable[..., list[str]]) -> Settings:
    """Settings from the device model's typed getters (DeviceModel.get_bool/get_int/get_list)."""
    return Settings(
        enabled=get_bool(COMPONENT, "Available") and get_bool(COMPONENT, "Enabled"),
        rate_units=tuple(get_list(COMPONENT, "RateUnit")),
        periods_per_schedule=get_int(COMPONENT, "PeriodsPerSchedule"),
        max_stack_level=get_int(COMPONENT, "ProfileStackLevel"),
        phase_switching=get_bool(COMPONENT, "ACPhaseSwitchingSupported"),
    )
