"""The evse_io service in-process on the real bus against simulated MCU boards: a charge and every command."""

from __future__ import annotations

import pytest

from bus.rpc import RpcError
from services.evse_io.pilot import current_to_duty

TOKEN = {"idToken": "04A1B2C3", "type": "ISO14443"}
DUTY_32_A = current_to_duty(32.0)


async def charge(board, probe, evse_state, evse_id: int = 1) -> dict:
    """Plug, authorize, wait until the relays are closed and the bus says Charging."""
    board.plug()
    await evse_state(evse_id, lambda s: s["charging_state"] == "EVConnected")
    await probe.call("evse_io", "authorize", {"evse": evse_id, "allowed": True, "id_token": TOKEN})
    await board.wait_for(lambda s: s.relays_closed)
    return await evse_state(evse_id, lambda s: s["charging_state"] == "Charging")


async def test_every_evse_is_published_at_start_with_its_link_up(evse_io, probe, evse_state) -> None:
    for evse_id in (1, 2):
        state = await evse_state(evse_id, lambda s: s["link_up"])
        assert state["connector_status"] == "Available" and state["charging_state"] == "Idle"
        assert state["faults"] == [] and state["session"] is None and state["evse_id"] == evse_id


async def test_plug_in_shows_occupied_and_ev_connected(evse_io, boards, evse_state) -> None:
    boards[1].plug()
    state = await evse_state(1, lambda s: s["connector_status"] == "Occupied")
    assert state["charging_state"] == "EVConnected" and state["cp_state"] == "B"
    assert state["pp_ampacity_a"] == 32.0 and state["session"]["plugged_at"]
    await boards[1].wait_for(lambda s: s.lock_commanded is True)  # locked on plug-in (station default)
    assert (await evse_state(2, lambda s: True))["connector_status"] == "Available"


async def test_authorized_ev_charges_and_power_goes_off_within_100ms_of_c_to_b(
        evse_io, boards, probe, evse_state) -> None:
    board = boards[1]
    board.plug()
    await evse_state(1, lambda s: s["charging_state"] == "EVConnected")
    reply = await probe.call("evse_io", "authorize", {"evse": 1, "allowed": True, "id_token": TOKEN})
    assert reply["session"]["authorized_by"] == TOKEN and reply["session"]["authorized"]
    await board.wait_for(lambda s: s.pwm_duty_0_01pct == DUTY_32_A and s.relays_closed)
    state = await evse_state(1, lambda s: s["charging_state"] == "Charging")
    assert state["relays_closed"] and state["cp_state"] == "C" and state["offered_current_a"] == 32.0
    assert state["session"]["power_on_at"]

    board.ev_pause()
    await board.wait_for(lambda s: not s.allow_power_on and not s.relays_closed)
    latency_s = board.state.changed_at["allow_power_on"] - board.state.reported_at["cp_state"]
    assert 0 <= latency_s < 0.1
    state = await evse_state(1, lambda s: s["relays_closed"] is False)
    assert state["charging_state"] == "SuspendedEV" and state["session"]["power_off_at"]

    board.unplug()
    state = await evse_state(1, lambda s: s["connector_status"] == "Available")
    assert state["session"] is None and state["charging_state"] == "Idle"
    await board.wait_for(lambda s: s.lock_commanded is False)


async def test_stop_powers_off_ends_the_session_and_unlocks(evse_io, boards, probe, evse_state) -> None:
    await charge(boards[1], probe, evse_state)
    await probe.call("evse_io", "stop", {"evse": 1, "reason": "Remote"})
    await boards[1].wait_for(lambda s: not s.allow_power_on and s.pwm_duty_0_01pct == 10000
                             and s.lock_commanded is False)
    state = await evse_state(1, lambda s: s["session"] is None)
    assert state["connector_status"] == "Occupied" and state["charging_state"] == "EVConnected"


async def test_authorize_not_allowed_deauthorizes(evse_io, boards, probe, evse_state) -> None:
    await charge(boards[1], probe, evse_state)
    await probe.call("evse_io", "authorize", {"evse": 1, "allowed": False})
    await boards[1].wait_for(lambda s: not s.relays_closed)
    await evse_state(1, lambda s: s["session"] is None and s["charging_state"] == "EVConnected")


async def test_current_limit_lowers_the_pwm_at_once_and_is_shown(evse_io, boards, probe, evse_state) -> None:
    await charge(boards[1], probe, evse_state)
    reply = await probe.call("evse_io", "set_current_limit", {"evse": 1, "amps": 10})
    assert reply["current_limit_a"] == 10.0 and reply["offered_current_a"] == 10.0
    await boards[1].wait_for(lambda s: s.pwm_duty_0_01pct == current_to_duty(10.0))
    reply = await probe.call("evse_io", "set_current_limit", {"evse": 1, "amps": None})
    assert reply["current_limit_a"] is None  # the raise back to 32 A waits for the 5 s rule


async def test_authorize_caps_the_offered_current(evse_io, boards, probe, evse_state) -> None:
    boards[1].plug()
    await evse_state(1, lambda s: s["charging_state"] == "EVConnected")
    await probe.call("evse_io", "authorize", {"evse": 1, "allowed": True, "max_current_a": 16})
    await boards[1].wait_for(lambda s: s.pwm_duty_0_01pct == current_to_duty(16.0) and s.relays_closed)


async def test_unlock_after_plug_in_unlocks_the_connector(evse_io, boards, probe, evse_state) -> None:
    boards[1].plug()
    await boards[1].wait_for(lambda s: s.lock_commanded is True)
    await evse_state(1, lambda s: s["relays_closed"] is False and s["charging_state"] == "EVConnected")
    await probe.call("evse_io", "unlock", {"evse": 1})
    await boards[1].wait_for(lambda s: s.lock_commanded is False)


async def test_reserve_shows_reserved_while_available(evse_io, probe, evse_state) -> None:
    reply = await probe.call("evse_io", "reserve", {"evse": 2, "reserved": True})
    assert reply["connector_status"] == "Reserved"
    await evse_state(2, lambda s: s["connector_status"] == "Reserved" and s["reserved"])
    await probe.call("evse_io", "reserve", {"evse": 2, "reserved": False})
    await evse_state(2, lambda s: s["connector_status"] == "Available")


async def test_inoperative_while_charging_takes_effect_when_the_session_ends(
        evse_io, boards, probe, evse_state) -> None:
    await charge(boards[1], probe, evse_state)
    reply = await probe.call("evse_io", "set_availability", {"evse": 1, "availability": "Inoperative"})
    assert reply["availability"] == "Operative" and reply["availability_requested"] == "Inoperative"
    assert reply["charging_state"] == "Charging" and boards[1].state.relays_closed
    boards[1].unplug()
    state = await evse_state(1, lambda s: s["availability"] == "Inoperative")
    assert state["connector_status"] == "Unavailable"
    with pytest.raises(RpcError) as refused:
        await probe.call("evse_io", "authorize", {"evse": 1, "allowed": True})
    assert refused.value.code == "rejected" and "Inoperative" in refused.value.message
    await probe.call("evse_io", "set_availability", {"evse": 1, "availability": "Operative"})
    await evse_state(1, lambda s: s["connector_status"] == "Available")


@pytest.mark.parametrize(("command", "args"), [
    ("authorize", {"allowed": True}), ("stop", {"reason": "Remote"}), ("set_current_limit", {"amps": 6}),
    ("set_availability", {"availability": "Inoperative"}), ("unlock", {}), ("reset_rcd", {}),
    ("reserve", {"reserved": True}),
])
async def test_every_command_refuses_an_unknown_evse(evse_io, probe, command, args) -> None:
    with pytest.raises(RpcError) as refused:
        await probe.call("evse_io", command, {"evse": 7, **args})
    assert refused.value.code == "unknown_evse" and "7" in refused.value.message


async def test_command_the_charging_control_refuses_is_rejected_with_its_reason(
        evse_io, boards, probe, evse_state) -> None:
    await charge(boards[1], probe, evse_state)
    with pytest.raises(RpcError) as refused:
        await probe.call("evse_io", "unlock", {"evse": 1})
    assert refused.value.code == "rejected" and "relays" in refused.value.message
    with pytest.raises(RpcError) as refused:
        await probe.call("evse_io", "set_current_limit", {"evse": 1, "amps": -3})
    assert refused.value.code == "rejected"
    assert boards[1].state.relays_closed  # nothing changed


@pytest.mark.parametrize("args", [
    {"evse": 1, "allowed": True, "id_token": {"idToken": "04A1B2C3"}},
    {"evse": 1, "allowed": True, "id_token": {"idToken": 42, "type": "ISO14443"}},
    {"evse": "1", "allowed": True},
    {"evse": 1},
])
async def test_malformed_authorize_is_refused_as_bad_args(evse_io, probe, args) -> None:
    with pytest.raises(RpcError) as refused:
        await probe.call("evse_io", "authorize", args)
    assert refused.value.code == "bad_args"


async def test_a_token_that_is_not_a_card_is_published_like_a_card(evse_io, probe) -> None:
    """Issue 11.14: a keypad code (or any non-card token) enters REON where cards do, as the `token` event."""
    token_event = probe.subscribe("evse_io.evt.token")
    keycode = {"idToken": "RFID_VALID1", "type": "KeyCode"}
    assert await probe.call("evse_io", "present_token", {"evse": 2, "id_token": keycode}) == {
        "evse": 2, "id_token": keycode}
    _, envelope = await token_event.get(timeout=3)
    assert envelope.body == {"evse": 2, "id_token": keycode}


@pytest.mark.parametrize("id_token", [{"idToken": "X", "type": "Magic"}, {"idToken": "", "type": "KeyCode"},
                                      {"idToken": "Y" * 37, "type": "Central"}, {"idToken": "Z"}])
async def test_present_token_refuses_what_ocpp_could_not_carry(evse_io, probe, id_token) -> None:
    with pytest.raises(RpcError) as refused:
        await probe.call("evse_io", "present_token", {"evse": 1, "id_token": id_token})
    assert refused.value.code == "bad_args"
