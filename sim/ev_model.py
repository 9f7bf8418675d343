"""A simulated electric vehicle as the pilot MCU sees it: pure logic, no I/O, no clock.

The EV reads the PWM duty the EVSE offers (IEC 61851-1, docs/hardware.md §2), answers with a CP state
(A, B, C or D) and draws current while the relays are closed.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.evse_io.mcu_pb2 import (
    STATE_13A,
    STATE_20A,
    STATE_32A,
    STATE_70A,
    STATE_A,
    STATE_B,
    STATE_C,
    STATE_D,
    STATE_NC,
)

PWM_MIN_0_01PCT = 800  # 8 %: lowest duty that offers current to a basic-charging EV
PWM_MAX_0_01PCT = 9700  # 97 %: above this a duty is not allowed

CABLE_PP_STATES = {13: STATE_13A, 20: STATE_20A, 32: STATE_32A, 70: STATE_70A}


def offered_current_a(duty_0_01pct: int) -> float:
    """Maximum current an EV may draw at this duty (IEC 61851-1 Table A.8); 0 when none is offered."""
    duty_pct = duty_0_01pct / 100
    if duty_pct < 8 or duty_pct > 97:
        return 0.0  # <3 % none, 3-7 % digital communication only, >97 % not allowed (100 % = no PWM)
    if duty_pct < 10:
        return 6.0
    if duty_pct <= 85:
        return duty_pct * 0.6
    if duty_pct <= 96:
        return (duty_pct - 64) * 2.5
    return 80.0


def pwm_offered(duty_0_01pct: int) -> bool:
    """True when the duty lets a basic-charging EV request power."""
    return PWM_MIN_0_01PCT <= duty_0_01pct <= PWM_MAX_0_01PCT


@dataclass
class EvModel:
    """The EV's side of the pilot.

    ``wants_power`` is the driver's/battery's wish (pause clears it); the EV requests power (C, or D when it
    needs ventilation) only while plugged, wanting power and offered PWM. A ``stays_in_c_without_pwm`` EV
    misbehaves: once requesting it keeps requesting after the PWM is switched off (to test the 6 s rule).
    """

    plugged: bool = False
    wants_power: bool = True
    ev_max_current_a: float = 32.0
    cable_rating_a: int = 32
    needs_ventilation: bool = False
    stays_in_c_without_pwm: bool = False
    requesting: bool = False

    def __post_init__(self) -> None:
        self._check_cable(self.cable_rating_a)

    def plug(self, cable_rating_a: int | None = None) -> None:
        """Connect the EV (A → B); optionally with a cable of another rating."""
        if cable_rating_a is not None:
            self._check_cable(cable_rating_a)
            self.cable_rating_a = cable_rating_a
        self.plugged = True
        self.requesting = False

    def unplug(self) -> None:
        """Disconnect (→ A)."""
        self.plugged = False
        self.requesting = False

    def pause(self) -> None:
        """The EV stops requesting power (C → B)."""
        self.wants_power = False
        self.requesting = False

    def resume(self) -> None:
        """The EV wants power again (B → C once PWM is offered)."""
        self.wants_power = True

    def observe_pwm(self, duty_0_01pct: int) -> int:
        """Let the EV react to the duty the EVSE offers now; return its CP state."""
        if not (self.plugged and self.wants_power):
            self.requesting = False
        elif pwm_offered(duty_0_01pct):
            self.requesting = True
        elif not self.stays_in_c_without_pwm:
            self.requesting = False
        return self.cp_state()

    def cp_state(self) -> int:
        """The CP state (mcu_pb2.CpState) this EV presents."""
        if not self.plugged:
            return STATE_A
        if not self.requesting:
            return STATE_B
        return STATE_D if self.needs_ventilation else STATE_C

    def pp_state(self) -> int:
        """The PP state (mcu_pb2.PpState) of the plugged cable, NC when unplugged."""
        return CABLE_PP_STATES[self.cable_rating_a] if self.plugged else STATE_NC

    def current_a(self, duty_0_01pct: int, relays_closed: bool) -> float:
        """Current drawn per phase: min(offered by the duty, EV maximum, cable rating) while charging."""
        if not (relays_closed and self.requesting and self.plugged):
            return 0.0
        limit_a = min(self.ev_max_current_a, float(self.cable_rating_a))
        if pwm_offered(duty_0_01pct):
            return min(offered_current_a(duty_0_01pct), limit_a)
        return limit_a if self.stays_in_c_without_pwm else 0.0

    @staticmethod
    def _check_cable(cable_rating_a: int) -> None:
        if cable_rating_a not in CABLE_PP_STATES:
            raise ValueError(f"cable rating must be one of {sorted(CABLE_PP_STATES)} A, not {cable_rating_a}")
