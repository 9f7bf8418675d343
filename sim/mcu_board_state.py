"""What a simulated MCU board reports and what the host commanded it, with monotonic timestamps."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from services.evse_io.mcu_pb2 import STATE_A, STATE_NC, UNLOCKED, ErrorFlags

# fault kind -> the ErrorFlags field it raises (None: it shows some other way)
FAULT_FLAGS: dict[str, str | None] = {
    "diode": "diode_fault",
    "rcd": "rcd_triggered",
    "rcd_selftest": "rcd_selftest_failed",
    "cp_signal": "cp_signal_fault",
    "over_current": "over_current",
    "ventilation": "ventilation_not_available",  # and the EV needs ventilation (state D)
    "lock_failure": None,  # lock commands fail -> connector_lock_failed
    "welded": None,  # relays stay reported closed after power off
    "silence": None,  # the board stops sending anything
}
# faults on which the MCU itself keeps the relays open
BLOCKING_FAULTS = frozenset({"diode", "rcd", "rcd_selftest", "cp_signal", "over_current"})
LOG_LENGTH = 1000


@dataclass
class BoardState:
    """A live object owned by the board: read it (e.g. in ``wait_for`` predicates), don't write it."""

    # what the board reports (mcu_pb2 enum numbers)
    cp_state: int = STATE_A
    pp_state: int = STATE_NC
    relays_closed: bool = False
    lock_state: int = UNLOCKED
    lock_failed: bool = False
    faults: set[str] = field(default_factory=set)
    current_a: float = 0.0  # per phase, drawn by the EV
    energy_wh: float = 0.0
    # the last values the host commanded
    pwm_duty_0_01pct: int = 10000
    allow_power_on: bool = False
    lock_commanded: bool | None = None
    three_phase: bool = True
    host_keepalive_at: float | None = None
    resets: int = 0
    bootloader_invoked: bool = False
    # time.monotonic() of the last change of a commanded field (pwm_duty_0_01pct, allow_power_on,
    # lock_commanded, three_phase), and of the moment the current value of each McuToEverest field
    # (cp_state, relais_state, ...) first went on the wire
    changed_at: dict[str, float] = field(default_factory=dict)
    reported_at: dict[str, float] = field(default_factory=dict)
    # (time, field, value) of every host command but keep-alives, and of every new value sent on the wire
    # (periodic repeats, keep-alives and power meter readings left out)
    host_log: deque[tuple[float, str, object]] = field(default_factory=lambda: deque(maxlen=LOG_LENGTH))
    sent_log: deque[tuple[float, str, object]] = field(default_factory=lambda: deque(maxlen=LOG_LENGTH))

    def error_flags(self) -> ErrorFlags:
        """The flags the board reports now."""
        flags = ErrorFlags(connector_lock_failed=self.lock_failed)
        for kind in self.faults:
            name = FAULT_FLAGS[kind]
            if name is not None:
                setattr(flags, name, True)
        return flags
