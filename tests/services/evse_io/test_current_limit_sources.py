"""Current limits from several sources (the transaction block's suspension, smart charging): the lowest
applies, removing one leaves the others, and the state says which source (and profile) limits."""

from __future__ import annotations

from services.evse_io.charging import SetDuty
from services.evse_io.pilot import DUTY_NO_PWM, current_to_duty
from tests.services.evse_io.test_service import charge


def test_the_lowest_source_applies_and_removing_one_keeps_the_other(ready, charging) -> None:
    control = charging(ready())  # charging at 32 A since t=10
    assert control.set_current_limit(16.0, 11.0, "smart_charging").actions == [SetDuty(current_to_duty(16))]
    assert control.set_current_limit(0.0, 12.0).actions[0] == SetDuty(DUTY_NO_PWM)  # suspension: paused
    control.set_current_limit(None, 20.0)  # suspension lifted: smart charging's 16 A again, not 32 A
    assert control.snapshot()["offered_current_a"] == 16.0
    assert control.set_current_limit(None, 30.0, "smart_charging").actions == [SetDuty(current_to_duty(32))]


async def test_smart_charging_limit_reaches_the_pwm_duty_and_names_its_origin(
        evse_io, boards, probe, evse_state) -> None:
    await charge(boards[1], probe, evse_state)
    origin = {"purpose": "TxProfile", "profile_id": 7}
    reply = await probe.call("evse_io", "set_current_limit",
                             {"evse": 1, "amps": 10, "source": "smart_charging", "origin": origin})
    assert reply["current_limit_a"] == 10.0
    assert reply["current_limit_source"] == {"source": "smart_charging", **origin}
    await boards[1].wait_for(lambda s: s.pwm_duty_0_01pct == current_to_duty(10.0))
    reply = await probe.call("evse_io", "set_current_limit", {"evse": 1, "amps": 0})  # the tx block suspends
    assert reply["current_limit_source"] == {"source": "default"}
    await boards[1].wait_for(lambda s: s.pwm_duty_0_01pct == DUTY_NO_PWM)
    reply = await probe.call("evse_io", "set_current_limit", {"evse": 1, "amps": None})
    assert reply["current_limit_a"] == 10.0 and reply["current_limits"] == {
        "smart_charging": {"amps": 10.0, "origin": origin}}
