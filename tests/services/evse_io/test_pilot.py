"""Duty <-> current formulas and PP/CP/lock state facts (docs/hardware.md section 2)."""

from __future__ import annotations

import pytest

from services.evse_io.pilot import (
    DUTY_NO_PWM,
    CpState,
    LockState,
    PpState,
    current_to_duty,
    duty_to_current,
    pp_ampacity_a,
    pwm_on,
)


@pytest.mark.parametrize(
    ("current_a", "duty"),
    [(6, 1000), (10, 1666), (16, 2666), (32, 5333), (51, 8500), (52, 8500), (52.5, 8500), (63, 8920),
     (70, 9200), (80, 9600)],
)
def test_current_to_duty_follows_the_iec_61851_formulas(current_a: float, duty: int) -> None:
    assert current_to_duty(current_a) == duty


@pytest.mark.parametrize("current_a", [None, 0, 5.9, 80.1, 100, float("nan")])
def test_current_outside_6_to_80_a_is_no_pwm(current_a: float | None) -> None:
    assert current_to_duty(current_a) == DUTY_NO_PWM


def test_offered_duty_never_lets_the_ev_draw_more_than_the_limit() -> None:
    for tenths in range(60, 801):
        current_a = tenths / 10
        offered_a = duty_to_current(current_to_duty(current_a))
        assert current_a - 1.6 < offered_a <= current_a + 1e-9


@pytest.mark.parametrize(
    ("duty", "current_a"),
    [(0, 0.0), (500, 0.0), (799, 0.0), (800, 6.0), (1000, 6.0), (5000, 30.0), (9000, 65.0), (9650, 80.0),
     (9800, 0.0), (DUTY_NO_PWM, 0.0)],
)
def test_duty_to_current_reads_as_an_ev_does(duty: int, current_a: float) -> None:
    assert duty_to_current(duty) == pytest.approx(current_a)
    assert pwm_on(duty) is (current_a > 0)


@pytest.mark.parametrize(
    ("pp", "phases", "ampacity_a"),
    [(PpState.A13, 3, 13.0), (PpState.A20, 3, 20.0), (PpState.A32, 1, 32.0), (PpState.A70, 3, 63.0),
     (PpState.A70, 1, 70.0), (PpState.NC, 3, None), (PpState.FAULT, 3, None)],
)
def test_pp_coding_gives_cable_ampacity(pp: PpState, phases: int, ampacity_a: float | None) -> None:
    assert pp_ampacity_a(pp, phases) == ampacity_a


def test_wire_enum_numbers_map_to_states() -> None:
    assert [CpState.from_wire(n) for n in range(6)] == list(CpState)
    assert PpState.from_wire(3) is PpState.A32
    assert LockState.from_wire(2) is LockState.LOCKED
    with pytest.raises(ValueError):
        CpState.from_wire(6)
    with pytest.raises(ValueError):
        PpState.from_wire(-1)
