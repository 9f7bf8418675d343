"""The evse_io service against hostile or failing hardware: MCU faults, silence, bad input; and the RFID reader."""

from __future__ import annotations

import pytest

from bus.rpc import RpcError
from services.evse_io import mcu_pb2 as pb
from sim.rfid_reader import RfidReaderSim

TOKEN = {"idToken": "04A1B2C3", "type": "ISO14443"}


async def charge(board, probe, evse_state, evse_id: int = 1) -> dict:
    board.plug()
    await evse_state(evse_id, lambda s: s["charging_state"] == "EVConnected")
    await probe.call("evse_io", "authorize", {"evse": evse_id, "allowed": True, "id_token": TOKEN})
    await board.wait_for(lambda s: s.relays_closed)
    return await evse_state(evse_id, lambda s: s["charging_state"] == "Charging")


async def test_rcd_trip_faults_the_evse_until_cleared_and_reset(evse_io, boards, probe, evse_state) -> None:
    board = boards[1]
    await charge(board, probe, evse_state)
    board.fault("rcd")
    state = await evse_state(1, lambda s: s["connector_status"] == "Faulted")
    assert "rcd_triggered" in state["faults"]
    await board.wait_for(lambda s: not s.allow_power_on and not s.relays_closed)
    with pytest.raises(RpcError) as refused:
        await probe.call("evse_io", "reset_rcd", {"evse": 1})
    assert refused.value.code == "rejected" and "rcd_triggered" in refused.value.message
    board.clear_fault("rcd")
    board.send_frame(pb.McuToEverest(cp_state=9))  # a marker behind the cleared flags on the same wire
    state = await evse_state(1, lambda s: s["bad_input"]["unknown_enum"] == 1)
    assert state["faults"] == ["rcd_triggered"]  # latched
    reply = await probe.call("evse_io", "reset_rcd", {"evse": 1})
    assert reply["faults"] == [] and reply["connector_status"] == "Occupied"


async def test_mcu_silence_faults_the_evse_and_powers_off_then_it_recovers(
        evse_io, boards, probe, evse_state) -> None:
    board = boards[1]
    await charge(board, probe, evse_state)
    board.go_silent()
    state = await evse_state(1, lambda s: s["connector_status"] == "Faulted")
    assert state["faults"] == ["mcu_link_lost"] and not state["link_up"] and state["cp_state"] is None
    await board.wait_for(lambda s: not s.allow_power_on)  # the silent board still hears the host
    board.resume_talking()
    state = await evse_state(1, lambda s: s["link_up"] and s["faults"] == [])
    assert state["connector_status"] == "Occupied"
    await board.wait_for(lambda s: s.relays_closed)  # the session was held: power again
    await evse_state(1, lambda s: s["charging_state"] == "Charging")


async def test_welded_contactor_is_found_at_the_tick_deadline(evse_io, boards, probe, evse_state) -> None:
    board = boards[1]
    await charge(board, probe, evse_state)
    board.fault("welded")
    board.ev_pause()  # power off is commanded, the relays stay closed
    await board.wait_for(lambda s: not s.allow_power_on and s.relays_closed)
    state = await evse_state(1, lambda s: "welded_contactor" in s["faults"], timeout=3.0)
    assert state["connector_status"] == "Faulted"


async def test_unknown_enum_value_is_counted_and_skipped(evse_io, boards, evse_state) -> None:
    boards[1].send_frame(pb.McuToEverest(cp_state=9))
    boards[1].send_frame(pb.McuToEverest(pp_state=77))
    state = await evse_state(1, lambda s: s["bad_input"]["unknown_enum"] == 2)
    assert state["cp_state"] == "A" and state["connector_status"] == "Available"
    boards[1].plug()
    await evse_state(1, lambda s: s["connector_status"] == "Occupied")  # still working


async def test_bad_frames_are_counted_and_skipped(evse_io, boards, evse_state) -> None:
    boards[1].send_garbage(b"\x01\x02\x03\x00")
    boards[1].send_corrupt_crc_frame()
    state = await evse_state(1, lambda s: s["bad_input"]["frames_bad"] == 2)
    assert state["link_up"] and state["faults"] == []


async def test_mcu_reset_report_makes_the_service_send_its_outputs_again(
        evse_io, boards, probe, evse_state) -> None:
    board = boards[1]
    await charge(board, probe, evse_state)
    sent_before = len(board.state.host_log)
    board.send_frame(pb.McuToEverest(reset=pb.WATCHDOG))
    await board.wait_for(lambda s: any(kind == "pwm_duty_cycle" for _, kind, _ in list(s.host_log)[sent_before:]))
    assert board.state.relays_closed


async def test_rfid_swipe_is_published_as_a_token_event(evse_io, station, probe) -> None:
    reader = RfidReaderSim(station.sim_dir / "rfid2")
    reader.appear()
    try:
        await evse_io.rfid_readers[2].wait_connected(timeout=3.0)
        tokens = probe.subscribe("evse_io.evt.token")
        reader.swipe("04a1b2c3")
        _, env = await tokens.get(timeout=2.0)
        assert env.body == {"evse": 2, "id_token": TOKEN}
    finally:
        reader.vanish()


async def test_mcu_silence_during_charging_leaves_no_state_saying_charging(
        evse_io, boards, probe, evse_state) -> None:
    """Issue 11.7: once the link is lost, every field a person or the CSMS reads agrees the EVSE is not charging."""
    board = boards[1]
    await charge(board, probe, evse_state)
    board.go_silent()
    state = await evse_state(1, lambda s: s["connector_status"] == "Faulted")
    assert state["charging_state"] != "Charging"
    assert state["relays_closed"] is not True and state["power_allowed"] is False
    assert state["offered_current_a"] == 0
