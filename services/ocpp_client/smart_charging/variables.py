"""SmartChargingCtrlr: the limits smart charging declares and the settings it reads.

The variables themselves (Part 2 appendix 3) are declared in device_model/catalog.py from these limits.
Entries (instance ChargingProfiles) is live: smart_charging/service.py serves it with `DeviceModel.set_reader`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

COMPONENT = "SmartChargingCtrlr"
RATE_UNITS = ("A", "W")
MAX_ENTRIES = 64
MAX_PERIODS_PER_SCHEDULE = 1024
MAX_STACK_LEVEL = 32


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
