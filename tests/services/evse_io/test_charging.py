"""ChargingControl: plug-in, authorization, charging, stop, session facts, current limit and pilot timing."""

from __future__ import annotations

import pytest

from services.evse_io.charging import (
    FORCED_OPEN_AFTER_S,
    AllowPower,
    ChargingConfig,
    ChargingControl,
    Lock,
    Outputs,
    SetDuty,
)
from services.evse_io.pilot import DUTY_NO_PWM, CpState, PpState, current_to_duty

TOKEN = {"idToken": "04A1B2C3", "type": "ISO14443"}
DUTY_32A = current_to_duty(32)


def names(outputs: Outputs) -> list[str]:
    return [event.name for event in outputs.events]


# ---- plug, authorize, charge, stop -------------------------------------------------------------------


def test_connector_is_unavailable_until_the_mcu_link_is_first_up() -> None:
    control = ChargingControl()
    assert control.connector_status == "Unavailable"
    out = control.on_link(True, 0.0)
    assert control.connector_status == "Available"
    assert out.actions == [AllowPower(False), SetDuty(DUTY_NO_PWM)]


def test_plug_in_makes_the_connector_occupied_and_locks_it(ready) -> None:
    control = ready()
    out = control.on_cp_state(CpState.B, 1.0)
    assert out.actions == [Lock(True)]
    assert names(out) == ["plugged_in"]
    assert (control.connector_status, control.charging_state) == ("Occupied", "EVConnected")


def test_without_lock_on_plug_in_the_lock_closes_at_authorization(ready) -> None:
    control = ready(ChargingConfig(lock_on_plug_in=False))
    assert control.on_cp_state(CpState.B, 1.0).actions == []
    assert control.authorize(True, 2.0).actions == [SetDuty(DUTY_32A), Lock(True)]


def test_authorization_switches_pwm_on_at_the_current_limit(ready) -> None:
    control = ready()
    control.on_cp_state(CpState.B, 1.0)
    out = control.authorize(True, 2.0, id_token=TOKEN)
    assert out.actions == [SetDuty(DUTY_32A)]
    assert names(out) == ["authorized"]
    assert control.charging_state == "SuspendedEV"
    assert control.snapshot()["offered_current_a"] == 32.0


def test_ev_requesting_power_while_authorized_closes_the_relays(ready) -> None:
    control = ready()
    control.on_cp_state(CpState.B, 1.0)
    control.authorize(True, 2.0)
    assert control.on_cp_state(CpState.C, 3.0).actions == [AllowPower(True)]
    out = control.on_relays(True, 3.05)
    assert names(out) == ["power_on"]
    assert control.charging_state == "Charging"


def test_ev_in_c_without_authorization_gets_no_power_and_no_pwm(ready) -> None:
    control = ready()
    control.on_cp_state(CpState.B, 1.0)
    assert control.on_cp_state(CpState.C, 2.0).actions == []
    assert control.snapshot()["duty"] == DUTY_NO_PWM


def test_relays_open_in_the_same_call_as_c_to_b(ready, charging) -> None:
    control = charging(ready())
    out = control.on_cp_state(CpState.B, 30.0)
    assert out.actions == [AllowPower(False)]
    assert names(control.on_relays(False, 30.05)) == ["power_off"]
    assert control.charging_state == "SuspendedEV"
    assert control.on_cp_state(CpState.C, 40.0).actions == [AllowPower(True)]


@pytest.mark.parametrize("how", ["deauthorize", "stop"])
def test_relays_open_in_the_same_call_as_de_authorization(how: str, ready, charging) -> None:
    control = charging(ready())
    out = control.authorize(False, 30.0) if how == "deauthorize" else control.stop("Remote", 30.0)
    assert out.actions[0] == AllowPower(False)
    assert SetDuty(DUTY_NO_PWM) in out.actions
    assert Lock(False) not in out.actions  # relays still reported closed
    out = control.on_relays(False, 30.05)
    assert out.actions == [Lock(False)]
    assert names(out) == ["power_off", "session_ended"]
    assert out.events[-1].data["reason"] == ("DeAuthorized" if how == "deauthorize" else "Remote")
    assert control.snapshot()["session"] is None


def test_unplug_while_charging_powers_off_and_ends_the_session(ready, charging) -> None:
    control = charging(ready())
    out = control.on_cp_state(CpState.A, 30.0)
    assert out.actions == [AllowPower(False), SetDuty(DUTY_NO_PWM)]
    assert names(out) == ["unplugged"]
    out = control.on_relays(False, 30.05)
    assert names(out) == ["power_off", "session_ended"]
    assert out.events[-1].data["reason"] == "EVDisconnected"
    assert out.actions == [Lock(False)]
    assert (control.connector_status, control.charging_state) == ("Available", "Idle")


def test_session_records_its_facts_and_events_in_order(ready, wall_clock) -> None:
    control = ready()
    events = []
    for step in (
        lambda: control.on_cp_state(CpState.B, 1.0),
        lambda: control.authorize(True, 2.0, id_token=TOKEN),
        lambda: control.on_cp_state(CpState.C, 3.0),
        lambda: control.on_relays(True, 3.05),
        lambda: control.on_cp_state(CpState.B, 4.0),
        lambda: control.on_relays(False, 4.05),
        lambda: control.on_cp_state(CpState.A, 5.0),
    ):
        wall_clock.advance(1)
        events += step().events
    assert [e.name for e in events] == [
        "plugged_in", "authorized", "power_on", "power_off", "unplugged", "session_ended"
    ]
    assert len({e.session_id for e in events}) == 1
    record = events[-1].data["session"]
    assert len(record["session_id"]) == 32 and int(record["session_id"], 16) >= 0
    assert record["plugged_at"] == "2024-05-01T12:00:01.000Z"
    assert record["authorized_by"] == TOKEN
    assert record["power_on_at"] == "2024-05-01T12:00:04.000Z"
    assert record["power_off_at"] == "2024-05-01T12:00:06.000Z"
    assert (record["ended_at"], record["end_reason"]) == ("2024-05-01T12:00:07.000Z", "EVDisconnected")
    assert events[0].as_dict() == {
        "name": "plugged_in", "evse_id": 1, "session_id": record["session_id"],
        "at": "2024-05-01T12:00:01.000Z",
    }


def test_authorization_before_plug_in_is_the_same_session(ready) -> None:
    control = ready()
    out = control.authorize(True, 1.0, id_token=TOKEN)
    assert out.actions == []  # no PWM without an EV
    assert control.connector_status == "Available"
    out2 = control.on_cp_state(CpState.B, 2.0)
    assert out2.events[0].session_id == out.events[0].session_id
    assert out2.actions == [SetDuty(DUTY_32A), Lock(True)]


def test_stop_with_ev_still_plugged_unlocks_and_next_authorization_is_a_new_session(ready) -> None:
    control = ready()
    control.on_cp_state(CpState.B, 1.0)
    first = control.authorize(True, 2.0).events[0].session_id
    out = control.stop("EVConnectionTimeout", 3.0)
    assert out.actions == [SetDuty(DUTY_NO_PWM), Lock(False)]
    assert names(out) == ["session_ended"]
    assert (control.connector_status, control.charging_state) == ("Occupied", "EVConnected")
    out = control.authorize(True, 10.0)
    assert out.events[0].session_id != first
    assert out.actions == [SetDuty(DUTY_32A), Lock(True)]


def test_stop_without_session_does_nothing(ready) -> None:
    control = ready()
    out = control.stop("Remote", 1.0)
    assert out.actions == [] and out.events == []


# ---- current limit and the pilot timing rules ------------------------------------------------------


@pytest.mark.parametrize(
    ("hw_a", "pp", "evse_a", "external_a", "session_a", "offered_a"),
    [
        (32, PpState.A32, 32, None, None, 32),
        (16, PpState.A32, 32, None, None, 16),
        (32, PpState.A20, 32, None, None, 20),
        (32, PpState.A32, 25, None, None, 25),
        (32, PpState.A32, 32, 10, None, 10),
        (32, PpState.A32, 32, None, 13, 13),
        (80, PpState.A70, 80, None, None, 63),
    ],
)
def test_offered_current_is_the_minimum_of_all_limits(
    hw_a: float, pp: PpState, evse_a: float, external_a: float | None, session_a: float | None,
    offered_a: float, ready,
) -> None:
    control = ready(ChargingConfig(evse_max_current_a=evse_a))
    control.on_hw_caps(hw_a, 6.0, 0.0)
    control.on_pp_state(pp, 0.0)
    control.set_current_limit(external_a, 0.0)
    control.on_cp_state(CpState.B, 1.0)
    out = control.authorize(True, 2.0, max_current_a=session_a)
    assert out.actions[0] == SetDuty(current_to_duty(offered_a))
    assert control.snapshot()["offered_current_a"] == offered_a


@pytest.mark.parametrize("pp", [PpState.NC, PpState.FAULT])
def test_no_usable_cable_coding_means_no_pwm(pp: PpState, ready) -> None:
    control = ready()
    control.on_pp_state(pp, 0.0)
    control.on_cp_state(CpState.B, 1.0)
    assert SetDuty(DUTY_32A) not in control.authorize(True, 2.0).actions
    assert control.charging_state == "SuspendedEVSE"


def test_tethered_cable_station_ignores_pp() -> None:
    control = ChargingControl(config=ChargingConfig(has_socket=False, has_lock=False))
    control.on_link(True, 0.0)
    control.on_cp_state(CpState.B, 1.0)
    assert control.authorize(True, 2.0).actions == [SetDuty(DUTY_32A)]


def test_limit_below_the_hardware_minimum_switches_pwm_off(ready) -> None:
    control = ready()
    control.on_hw_caps(32.0, 10.0, 0.0)
    control.on_cp_state(CpState.B, 1.0)
    control.set_current_limit(8.0, 1.0)
    assert control.authorize(True, 2.0).actions == []
    assert control.charging_state == "SuspendedEVSE"


def test_duty_reduction_is_immediate_and_a_raise_waits_5s_after_last_change(ready, charging) -> None:
    control = charging(ready())  # duty set at t=10
    assert control.set_current_limit(10.0, 11.5).actions == [SetDuty(current_to_duty(10))]
    assert control.set_current_limit(6.0, 12.0).actions == [SetDuty(1000)]  # down again: at once
    assert control.set_current_limit(20.0, 13.0).actions == []  # up: deferred
    assert control.snapshot()["offered_current_a"] == 6.0
    assert control.next_deadline() == 17.0
    assert control.tick(16.9).actions == []
    assert control.tick(17.0).actions == [SetDuty(current_to_duty(20))]
    assert control.next_deadline() is None


def test_starting_pwm_is_not_held_back_by_the_5s_rule(ready, charging) -> None:
    control = charging(ready())
    control.set_current_limit(0.0, 20.0)
    assert control.set_current_limit(16.0, 21.0).actions == [SetDuty(current_to_duty(16))]
    assert control.set_current_limit(32.0, 22.0).actions == []  # a running PWM: raise waits
    assert control.tick(26.0).actions == [SetDuty(DUTY_32A)]


def test_contactor_is_forced_open_6s_after_pwm_off_if_the_ev_stays_in_c(ready, charging) -> None:
    control = charging(ready())
    out = control.set_current_limit(0.0, 20.0)
    assert out.actions == [SetDuty(DUTY_NO_PWM)]  # PWM off, relays stay for the EV to stop
    assert control.charging_state == "Charging"
    assert control.next_deadline() == 20.0 + FORCED_OPEN_AFTER_S
    assert control.tick(25.9).actions == []
    assert control.tick(26.0).actions == [AllowPower(False)]
    control.on_relays(False, 26.05)
    assert control.charging_state == "SuspendedEVSE"


def test_ev_stopping_after_pwm_off_opens_the_relays_at_once(ready, charging) -> None:
    control = charging(ready())
    control.set_current_limit(0.0, 20.0)
    assert control.on_cp_state(CpState.B, 21.0).actions == [AllowPower(False)]


def test_pwm_back_on_within_6s_keeps_the_relays_closed(ready, charging) -> None:
    control = charging(ready())
    control.set_current_limit(0.0, 20.0)
    assert control.set_current_limit(None, 25.0).actions == [SetDuty(DUTY_32A)]
    assert control.tick(40.0).actions == []
    assert control.snapshot()["power_allowed"] is True


