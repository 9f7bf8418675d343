"""The simulated EV: CP states from the offered PWM, current under the duty/EV/cable limits, PP coding."""

from __future__ import annotations

import pytest

from services.evse_io import mcu_pb2 as pb
from sim.ev_model import EvModel, offered_current_a

NO_PWM = 10000


@pytest.mark.parametrize(
    ("duty_0_01pct", "current_a"),
    [
        (0, 0.0),
        (500, 0.0),  # 5 %: digital communication only
        (790, 0.0),
        (800, 6.0),
        (1000, 6.0),
        (1600, 9.6),
        (5000, 30.0),
        (8500, 51.0),
        (9000, 65.0),
        (9600, 80.0),
        (9700, 80.0),
        (9800, 0.0),  # > 97 % not allowed
        (NO_PWM, 0.0),
    ],
)
def test_offered_current_follows_the_duty_formulas(duty_0_01pct: int, current_a: float) -> None:
    assert offered_current_a(duty_0_01pct) == pytest.approx(current_a)


def test_ev_goes_a_b_c_b_c_a_through_plug_pwm_pause_resume_unplug() -> None:
    ev = EvModel()
    assert ev.observe_pwm(NO_PWM) == pb.STATE_A
    ev.plug()
    assert ev.observe_pwm(NO_PWM) == pb.STATE_B
    assert ev.observe_pwm(500) == pb.STATE_B  # 5 %: no basic charging
    assert ev.observe_pwm(1000) == pb.STATE_C
    ev.pause()
    assert ev.observe_pwm(1000) == pb.STATE_B
    ev.resume()
    assert ev.observe_pwm(1000) == pb.STATE_C
    ev.unplug()
    assert ev.observe_pwm(1000) == pb.STATE_A


def test_ev_stops_requesting_when_the_pwm_goes_away() -> None:
    ev = EvModel()
    ev.plug()
    ev.observe_pwm(1000)
    assert ev.observe_pwm(NO_PWM) == pb.STATE_B


def test_stubborn_ev_stays_in_c_and_draws_without_pwm() -> None:
    ev = EvModel(stays_in_c_without_pwm=True, ev_max_current_a=16)
    ev.plug()
    ev.observe_pwm(1000)
    assert ev.observe_pwm(NO_PWM) == pb.STATE_C
    assert ev.current_a(NO_PWM, relays_closed=True) == 16


def test_ev_draws_the_least_of_offer_ev_maximum_and_cable() -> None:
    ev = EvModel(ev_max_current_a=16, cable_rating_a=20)
    ev.plug()
    ev.observe_pwm(1000)
    assert ev.current_a(1000, relays_closed=False) == 0.0
    assert ev.current_a(1000, relays_closed=True) == pytest.approx(6.0)
    ev.observe_pwm(5000)
    assert ev.current_a(5000, relays_closed=True) == 16
    ev.ev_max_current_a = 32
    assert ev.current_a(5000, relays_closed=True) == 20


def test_ev_needing_ventilation_requests_with_state_d() -> None:
    ev = EvModel(needs_ventilation=True)
    ev.plug()
    assert ev.observe_pwm(1000) == pb.STATE_D


@pytest.mark.parametrize(
    ("cable_a", "pp_state"),
    [(13, pb.STATE_13A), (20, pb.STATE_20A), (32, pb.STATE_32A), (70, pb.STATE_70A)],
)
def test_pp_state_follows_the_cable_rating(cable_a: int, pp_state: int) -> None:
    ev = EvModel()
    assert ev.pp_state() == pb.STATE_NC
    ev.plug(cable_rating_a=cable_a)
    assert ev.pp_state() == pp_state


def test_unknown_cable_rating_is_refused() -> None:
    with pytest.raises(ValueError):
        EvModel(cable_rating_a=25)
