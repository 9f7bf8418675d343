"""ChargingControl: faults and their clearing, the lock rules, availability, reservation, bad input."""

from __future__ import annotations

import pytest

from services.evse_io.charging import (
    AllowPower,
    ChargingConfig,
    ChargingControl,
    CommandRejected,
    ErrorFlags,
    Fault,
    Lock,
    Outputs,
    SetDuty,
)
from services.evse_io.pilot import DUTY_NO_PWM, CpState, current_to_duty

DUTY_32A = current_to_duty(32)


def names(outputs: Outputs) -> list[str]:
    return [event.name for event in outputs.events]


# ---- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "fault"),
    [("diode_fault", Fault.DIODE), ("cp_signal_fault", Fault.CP_SIGNAL), ("over_current", Fault.OVER_CURRENT),
     ("connector_lock_failed", Fault.LOCK_FAILED)],
)
def test_mcu_fault_flag_powers_off_at_once_and_clears_with_the_flag(
    flag: str, fault: str, ready, charging
) -> None:
    control = charging(ready())
    out = control.on_error_flags({flag: True}, 20.0)
    assert out.actions == [AllowPower(False), SetDuty(DUTY_NO_PWM)]
    assert control.connector_status == "Faulted"
    assert control.snapshot()["faults"] == [fault]
    with pytest.raises(CommandRejected):
        control.unlock(20.0)  # relays still closed
    control.on_relays(False, 20.05)
    assert control.charging_state == "SuspendedEVSE"
    out = control.on_error_flags(ErrorFlags(), 30.0)
    assert control.connector_status == "Occupied"
    assert out.actions == [SetDuty(DUTY_32A), AllowPower(True)]


@pytest.mark.parametrize("flag", ["rcd_triggered", "rcd_selftest_failed"])
def test_rcd_fault_stays_until_an_explicit_reset(flag: str, ready, charging) -> None:
    control = charging(ready())
    assert control.on_error_flags({flag: True}, 20.0).actions[0] == AllowPower(False)
    control.on_relays(False, 20.05)
    with pytest.raises(CommandRejected):
        control.reset_rcd(21.0)  # the MCU still reports it
    control.on_error_flags({}, 22.0)
    assert control.connector_status == "Faulted"
    assert control.tick(60.0).actions == []
    out = control.reset_rcd(61.0)
    assert control.connector_status == "Occupied"
    assert out.actions == [SetDuty(DUTY_32A), AllowPower(True)]


def test_state_d_without_ventilation_is_a_fault_and_with_ventilation_charges(ready) -> None:
    control = ready()
    control.on_cp_state(CpState.B, 1.0)
    control.authorize(True, 2.0)
    assert control.on_cp_state(CpState.D, 3.0).actions == [AllowPower(True)]
    out = control.on_error_flags({"ventilation_not_available": True}, 4.0)
    assert out.actions == [AllowPower(False), SetDuty(DUTY_NO_PWM)]
    assert control.snapshot()["faults"] == [Fault.VENTILATION]
    assert control.on_cp_state(CpState.B, 5.0).actions == [SetDuty(DUTY_32A)]  # EV gives up on D
    assert control.snapshot()["faults"] == []
    assert control.on_cp_state(CpState.C, 10.0).actions == [AllowPower(True)]


@pytest.mark.parametrize("state", [CpState.E, CpState.F])
def test_cp_reading_e_or_f_is_a_cp_signal_fault_that_keeps_the_plug_known(
    state: CpState, ready, charging
) -> None:
    control = charging(ready())
    assert control.on_cp_state(state, 20.0).actions[0] == AllowPower(False)
    assert control.snapshot()["faults"] == [Fault.CP_SIGNAL]
    assert control.snapshot()["session"] is not None
    control.on_relays(False, 20.05)
    out = control.on_cp_state(CpState.A, 21.0)
    assert names(out) == ["unplugged", "session_ended"]
    assert control.connector_status == "Available"


def test_relays_still_closed_after_power_off_are_a_welded_contactor(ready, charging) -> None:
    control = charging(ready())
    control.on_cp_state(CpState.B, 20.0)
    assert control.next_deadline() == 21.0
    assert control.tick(20.9).actions == []
    control.tick(21.0)
    assert control.snapshot()["faults"] == [Fault.WELDED]
    assert control.on_cp_state(CpState.C, 22.0).actions == []  # never power while welded
    control.on_relays(False, 23.0)
    assert control.snapshot()["faults"] == []


def test_relays_closing_without_being_allowed_are_a_welded_contactor(ready) -> None:
    control = ready()
    control.on_relays(True, 5.0)
    assert control.snapshot()["faults"] == [Fault.WELDED]


def test_mcu_link_loss_faults_and_powers_off_and_link_return_resends_everything(ready, charging) -> None:
    control = charging(ready())
    out = control.on_link(False, 20.0)
    assert out.actions == [AllowPower(False), SetDuty(DUTY_NO_PWM)]
    assert control.snapshot()["faults"] == [Fault.LINK_LOST]
    assert control.snapshot()["relays_closed"] is None  # unknown until reported again
    out = control.on_link(True, 30.0)
    assert out.actions == [AllowPower(False), SetDuty(DUTY_NO_PWM), Lock(True)]
    assert control.connector_status == "Occupied"
    # power_off was recorded when the link was lost (issue 11.7), so the open relays add no second one
    assert names(control.on_relays(False, 30.1)) == []
    assert control.on_cp_state(CpState.C, 30.1).actions == [SetDuty(DUTY_32A), AllowPower(True)]


def test_resync_sends_current_outputs_again(ready) -> None:
    control = ready()
    control.on_cp_state(CpState.B, 1.0)
    assert control.resync(2.0).actions == [AllowPower(False), SetDuty(DUTY_NO_PWM), Lock(True)]


# ---- lock ----------------------------------------------------------------------------------------


def test_plug_in_on_a_faulted_or_inoperative_evse_does_not_lock(ready) -> None:
    control = ready()
    control.on_error_flags({"over_current": True}, 1.0)
    assert control.on_cp_state(CpState.B, 2.0).actions == []
    control.on_cp_state(CpState.A, 3.0)
    control.on_error_flags({}, 4.0)
    control.set_availability(False, 5.0)
    assert control.on_cp_state(CpState.B, 6.0).actions == []
    assert control.set_availability(True, 7.0).actions == [Lock(True)]


def test_lock_is_held_through_a_fault_during_an_authorized_session(ready, charging) -> None:
    control = charging(ready())
    control.on_error_flags({"over_current": True}, 20.0)
    assert control.on_relays(False, 20.05).actions == []
    assert control.snapshot()["lock_commanded"] is True


def test_station_without_lock_never_sends_lock(ready, charging) -> None:
    control = charging(ready(ChargingConfig(has_lock=False)))
    control.stop("Local", 20.0)
    control.on_relays(False, 20.1)
    assert control.unlock(21.0).actions == []


def test_unlock_is_rejected_while_relays_are_closed(ready, charging) -> None:
    control = charging(ready())
    with pytest.raises(CommandRejected):
        control.unlock(20.0)


def test_unlock_is_rejected_while_the_relay_state_is_unknown() -> None:
    control = ChargingControl()
    control.on_link(True, 0.0)
    with pytest.raises(CommandRejected):
        control.unlock(1.0)


def test_unlock_with_relays_open_unlocks_and_holds_power_until_reauthorized(ready) -> None:
    control = ready()
    control.on_cp_state(CpState.B, 1.0)
    control.authorize(True, 2.0)
    out = control.unlock(3.0)
    assert out.actions == [SetDuty(DUTY_NO_PWM), Lock(False)]
    assert control.on_cp_state(CpState.C, 4.0).actions == []
    assert control.authorize(True, 10.0).actions == [SetDuty(DUTY_32A), Lock(True), AllowPower(True)]


def test_unlock_on_idle_connector_sends_unlock(ready) -> None:
    assert ready().unlock(1.0).actions == [Lock(False)]


# ---- availability and reservation ----------------------------------------------------------------


def test_inoperative_when_idle_is_immediate_and_refuses_authorization(ready) -> None:
    control = ready()
    control.set_availability(False, 1.0)
    assert control.connector_status == "Unavailable"
    with pytest.raises(CommandRejected):
        control.authorize(True, 2.0)
    control.set_availability(True, 3.0)
    assert control.connector_status == "Available"


def test_inoperative_while_charging_takes_effect_when_the_session_ends(ready, charging) -> None:
    control = charging(ready())
    assert control.set_availability(False, 20.0).actions == []
    snap = control.snapshot()
    assert (snap["availability"], snap["availability_requested"]) == ("Operative", "Inoperative")
    assert control.connector_status == "Occupied"
    control.stop("Local", 30.0)
    assert control.connector_status == "Occupied"  # relays not yet open
    control.on_relays(False, 30.05)
    assert control.connector_status == "Unavailable"
    assert control.snapshot()["availability"] == "Inoperative"


def test_reserved_shows_until_an_ev_plugs_in(ready) -> None:
    control = ready()
    control.reserve(True, 1.0)
    assert control.connector_status == "Reserved"
    control.on_cp_state(CpState.B, 2.0)
    assert control.connector_status == "Occupied"
    control.reserve(False, 3.0)
    control.on_cp_state(CpState.A, 4.0)
    assert control.connector_status == "Available"


# ---- hostile input and bad commands ----------------------------------------------------------------


@pytest.mark.parametrize("amps", [-1, float("nan"), float("inf"), "16", True])
def test_nonsense_current_limit_is_rejected_without_change(amps: object, ready) -> None:
    control = ready()
    with pytest.raises(CommandRejected):
        control.set_current_limit(amps, 1.0)  # type: ignore[arg-type]
    with pytest.raises(CommandRejected):
        control.authorize(True, 1.0, max_current_a=amps)  # type: ignore[arg-type]
    assert control.snapshot()["session"] is None


def test_nonsense_hardware_caps_are_ignored(ready) -> None:
    control = ready()
    control.on_hw_caps(float("nan"), -3.0, 0.0)
    control.on_cp_state(CpState.B, 1.0)
    assert control.authorize(True, 2.0).actions[0] == SetDuty(DUTY_32A)


def test_unknown_error_flag_names_are_ignored(ready) -> None:
    control = ready()
    control.on_error_flags({"future_flag": True}, 1.0)
    assert control.connector_status == "Available"


def test_unknown_cp_state_raises_value_error(ready) -> None:
    with pytest.raises(ValueError):
        ready().on_cp_state("G", 1.0)


def test_link_lost_while_charging_records_power_off_and_power_on_when_it_returns(ready, charging) -> None:
    """Issue 11.7: the session stream (what the OCPP service reads) must not go on saying the relays are closed."""
    control = charging(ready())
    assert names(control.on_link(False, 20.0)) == ["power_off"]
    assert control.snapshot()["session"]["power_off_at"] is not None
    assert control.charging_state != "Charging"
    control.on_link(True, 21.0)
    assert names(control.on_relays(True, 21.1)) == ["power_on"]
