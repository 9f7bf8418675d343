"""IEC 61851-1 control pilot and proximity facts: CP/PP/lock states and the duty ↔ current formulas.

Duties are in 0.01 % units, as the pilot MCU takes them (docs/hardware.md §1-2): 1000 = 10 %,
``DUTY_NO_PWM`` (10000) = steady +12 V (X1, no current offered), ``DUTY_STATE_F`` (0) = -12 V (state F).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import TypeVar

DUTY_STATE_F = 0
DUTY_NO_PWM = 10000
MIN_CURRENT_A = 6.0
MAX_CURRENT_A = 80.0
_LOW_RANGE_MAX_A = 51.0  # 85 % x 0.6
_HIGH_RANGE_MIN_A = 52.5  # (85 % - 64) x 2.5
_S = TypeVar("_S", bound=StrEnum)


class CpState(StrEnum):
    """Control pilot state as the MCU measures it (wire enum CpState, STATE_A = 0 … STATE_F = 5)."""

    A = "A"  # +12 V: no EV
    B = "B"  # +9 V: EV connected, not requesting energy
    C = "C"  # +6 V: EV requests energy
    D = "D"  # +3 V: EV requests energy and needs ventilation
    E = "E"  # 0 V: EVSE without power or CP shorted
    F = "F"  # -12 V: EVSE not available

    @classmethod
    def from_wire(cls, value: int) -> CpState:
        """Map the MCU's protobuf enum number to a state; ValueError when out of range."""
        return _from_wire(_CP_BY_WIRE, value, cls.__name__)


_CP_BY_WIRE = dict(enumerate(CpState))

EV_PLUGGED_STATES = frozenset({CpState.B, CpState.C, CpState.D})
EV_REQUESTING_STATES = frozenset({CpState.C, CpState.D})


class PpState(StrEnum):
    """Proximity pilot (cable coding resistor) as the MCU reports it (wire enum PpState, 0 … 5)."""

    NC = "NC"  # > 2200 Ω: no cable
    A13 = "13A"  # 1.5 kΩ
    A20 = "20A"  # 680 Ω
    A32 = "32A"  # 220 Ω
    A70 = "70A"  # 100 Ω: 70 A single-phase, 63 A three-phase
    FAULT = "FAULT"  # < 75 Ω

    @classmethod
    def from_wire(cls, value: int) -> PpState:
        """Map the MCU's protobuf enum number to a state; ValueError when out of range."""
        return _from_wire(_PP_BY_WIRE, value, cls.__name__)


_PP_BY_WIRE = dict(enumerate(PpState))


class LockState(StrEnum):
    """Connector lock feedback (wire enum LockState: UNDEFINED = 0, UNLOCKED = 1, LOCKED = 2)."""

    UNDEFINED = "undefined"
    UNLOCKED = "unlocked"
    LOCKED = "locked"

    @classmethod
    def from_wire(cls, value: int) -> LockState:
        """Map the MCU's protobuf enum number to a state; ValueError when out of range."""
        return _from_wire(_LOCK_BY_WIRE, value, cls.__name__)


_LOCK_BY_WIRE = dict(enumerate(LockState))


def _from_wire(table: dict[int, _S], value: int, kind: str) -> _S:
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ValueError(f"{kind}: unknown wire value {value!r}") from None


def current_to_duty(current_a: float | None) -> int:
    """Duty (0.01 %) that offers at most ``current_a``; ``DUTY_NO_PWM`` outside 6-80 A.

    6 A → 1000; up to 51 A: D = I / 0.6; 52.5-80 A: D = I / 2.5 + 64. The duty is rounded down, and the
    51-52.5 A gap maps to 85 % (51 A), so the EV is never offered more than asked.
    """
    if current_a is None or math.isnan(current_a):
        return DUTY_NO_PWM
    if current_a < MIN_CURRENT_A or current_a > MAX_CURRENT_A:
        return DUTY_NO_PWM
    if current_a <= _LOW_RANGE_MAX_A:
        duty_pct = current_a / 0.6
    elif current_a < _HIGH_RANGE_MIN_A:
        duty_pct = 85.0
    else:
        duty_pct = current_a / 2.5 + 64
    return math.floor(duty_pct * 100 + 1e-6)


def duty_to_current(duty: int) -> float:
    """Maximum current (A) a basic-charging EV may draw at ``duty`` (0.01 %); 0.0 when none is offered.

    < 8 % (including the 3-7 % digital-communication band) and > 97 % (including no PWM) offer nothing.
    """
    duty_pct = duty / 100
    if duty_pct < 8 or duty_pct > 97:
        return 0.0
    if duty_pct < 10:
        return MIN_CURRENT_A
    if duty_pct <= 85:
        return duty_pct * 0.6
    if duty_pct <= 96:
        return (duty_pct - 64) * 2.5
    return MAX_CURRENT_A


def pwm_on(duty: int) -> bool:
    """True when ``duty`` is a PWM that offers current (8-97 %)."""
    return duty_to_current(duty) > 0


def pp_ampacity_a(pp: PpState, phases: int = 3) -> float | None:
    """Cable ampacity from the PP coding; None when there is no cable or the coding is faulty."""
    if pp is PpState.A70:
        return 70.0 if phases == 1 else 63.0
    return _PP_AMPACITY_A.get(pp)


_PP_AMPACITY_A = {PpState.A13: 13.0, PpState.A20: 20.0, PpState.A32: 32.0}
