"""The values ChargingControl takes and returns: MCU actions, session events, config, error flags, faults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class SetDuty:
    """Send ``pwm_duty_cycle`` (0.01 %) to the MCU."""

    duty: int


@dataclass(frozen=True)
class AllowPower:
    """Send ``allow_power_on``: the relays may close (True) or must open (False)."""

    allowed: bool


@dataclass(frozen=True)
class Lock:
    """Send ``connector_lock``: lock (True) or unlock (False)."""

    locked: bool


Action = SetDuty | AllowPower | Lock


@dataclass(frozen=True)
class SessionEvent:
    """A session fact for the durable stream; `name` is a kind declared in contract.SessionEntry."""

    name: str
    evse_id: int
    session_id: str | None
    at: str  # UTC ISO 8601 wall-clock time
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body = {"name": str(self.name), "evse_id": self.evse_id, "session_id": self.session_id, "at": self.at}
        return {**body, **self.data}


@dataclass
class Outputs:
    """What one call produced: actions for the MCU, in order, and session events, in order."""

    actions: list[Action] = field(default_factory=list)
    events: list[SessionEvent] = field(default_factory=list)


class CommandRejected(Exception):
    """A command that cannot be carried out now (nothing was changed); the message says why."""


@dataclass(frozen=True)
class ChargingConfig:
    """Per-EVSE choices from the station config (the timing rules of IEC 61851-1 are constants)."""

    evse_max_current_a: float = 32.0
    phases: int = 3  # selects 63 A (3-ph) or 70 A (1-ph) for a 100 ohm PP coding
    has_socket: bool = True  # Type 2 socket: PP gives the cable ampacity, no cable = no current
    has_lock: bool = True
    lock_on_plug_in: bool = True  # else lock at authorization
    welded_detect_s: float = 1.0  # relays still reported closed this long after power-off = welded


@dataclass(frozen=True)
class ErrorFlags:
    """The MCU's ErrorFlags message (docs/hardware.md §1), field names as on the wire."""

    diode_fault: bool = False
    rcd_selftest_failed: bool = False
    rcd_triggered: bool = False
    ventilation_not_available: bool = False
    connector_lock_failed: bool = False
    cp_signal_fault: bool = False
    over_current: bool = False

    @classmethod
    def from_mapping(cls, flags: Mapping[str, Any]) -> ErrorFlags:
        """Build from a dict of wire names; unknown names are ignored, missing ones are False."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: bool(v) for k, v in flags.items() if k in names})


class Fault:
    """Names of the faults in ``snapshot()["faults"]``; any one makes the connector Faulted."""

    DIODE = "diode_fault"
    RCD_TRIGGERED = "rcd_triggered"  # latched until reset_rcd()
    RCD_SELFTEST = "rcd_selftest_failed"  # latched until reset_rcd()
    CP_SIGNAL = "cp_signal_fault"  # MCU flag, or CP reads E/F
    OVER_CURRENT = "over_current"
    LOCK_FAILED = "lock_failed"
    VENTILATION = "ventilation_needed"  # state D while ventilation is not available
    WELDED = "welded_contactor"
    LINK_LOST = "mcu_link_lost"


# MCU error flag -> fault; the RCD ones latch until reset_rcd()
RCD_FAULT_FLAGS = {"rcd_triggered": Fault.RCD_TRIGGERED, "rcd_selftest_failed": Fault.RCD_SELFTEST}
PLAIN_FAULT_FLAGS = {
    "diode_fault": Fault.DIODE,
    "cp_signal_fault": Fault.CP_SIGNAL,
    "over_current": Fault.OVER_CURRENT,
    "connector_lock_failed": Fault.LOCK_FAILED,
}
