"""reon-sim on the bus, in-process: commands drive the world, its state is published, real drivers see it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bus.rpc import RpcError
from services.evse_io.mcu_link import McuLink
from services.evse_io.rfid import RfidReader
from services.meter.modbus_meter import MeterBus, MeterError, SerialSettings
from tests.sim.sim_station import sim_station

DUTY_16A = 2667


async def test_world_state_lists_every_device_link_at_start(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station:
        _, env = await station.probe.wait_for("sim.state.world")
        assert env.body["evses"] == [1, 2] and env.body["sim_dir"] == str(station.sim_dir)
        assert env.body["devices"]["meter"] == str(station.sim_dir / "meter")
        assert set(env.body["devices"]) == {"mcu1", "mcu2", "rfid1", "rfid2", "meter", "modem"}
        world = await station.world_of(2)
        assert world["cp_state"] == "A" and world["meter_unit_id"] == 2 and world["meter_online"] is True
        _, modem = await station.probe.wait_for("sim.state.modem")
        assert modem.body["profile"] == "quectel" and modem.body["registration"] == 1


async def test_plug_pause_resume_unplug_change_the_published_state(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station:
        reply = await station.call("plug", evse=1, cable_a=20)
        assert reply["ev_plugged"] and reply["cp_state"] == "B" and reply["pp_state"] == "20A"
        await station.world_of(1, lambda w: w["ev_plugged"] and w["cable_a"] == 20)
        assert (await station.call("ev_pause", evse=1))["ev_paused"]
        await station.world_of(1, lambda w: w["ev_paused"])
        assert not (await station.call("ev_resume", evse=1))["ev_paused"]
        await station.world_of(1, lambda w: w["ev_plugged"] and not w["ev_paused"])
        assert (await station.call("unplug", evse=1))["cp_state"] == "A"
        await station.world_of(1, lambda w: not w["ev_plugged"] and w["pp_state"] == "NC")


async def test_the_station_charges_the_ev_through_the_real_mcu_protocol(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station:
        await station.call("plug", evse=2)
        link_up = asyncio.Event()
        link = McuLink(2, str(station.sim_dir / "mcu2"), on_link=lambda up: link_up.set() if up else None)
        await link.start()
        try:
            await asyncio.wait_for(link_up.wait(), 2)
            assert link.mcu_keepalive is not None  # the board's keep-alive came back
            await station.world_of(2, lambda w: w["host_seen"])
            assert link.allow_power_on(True) and link.set_pwm_duty(DUTY_16A)
            world = await station.world_of(2, lambda w: w["relays_closed"])
            assert world["cp_state"] == "C" and world["current_a"] == pytest.approx(16, abs=0.01)
            assert world["offered_current_a"] == pytest.approx(16, abs=0.01) and world["phases"] == 3
            async with MeterBus(SerialSettings(str(station.sim_dir / "meter"), timeout_s=0.3)) as bus:
                first = await bus.read(2, "sdm630")
                assert first.current_a_per_phase == pytest.approx((16, 16, 16), abs=0.01)
                # the sim re-publishes a charging EVSE's energy each second
                later = await station.world_of(2, lambda w: w["energy_wh"] > (first.energy_import_wh or 0))
                assert (await bus.read(2, "sdm630")).energy_import_wh >= later["energy_wh"] - 0.01
                assert (await bus.read(1, "sdm630")).energy_import_wh == 0
        finally:
            await link.stop()


async def test_a_swipe_reaches_the_rfid_driver_and_is_announced(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station:
        swiped = station.probe.subscribe("sim.evt.swiped")
        tokens: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        reader = RfidReader(str(station.sim_dir / "rfid1"), tokens.put_nowait)
        await reader.start()
        try:
            await reader.wait_connected(2)
            assert await station.call("swipe", evse=1, token="04A1B2C3") == {
                "evse": 1, "token": "04A1B2C3", "delivered": True}
            assert await asyncio.wait_for(tokens.get(), 2) == {"idToken": "04A1B2C3", "type": "ISO14443"}
        finally:
            await reader.stop()
        _, env = await swiped.get(timeout=2)
        assert env.body == {"evse": 1, "token": "04A1B2C3", "delivered": True}


async def test_meter_offline_silences_the_meter_on_the_bus(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station, MeterBus(SerialSettings(
            str(station.sim_dir / "meter"), timeout_s=0.2)) as bus:
        assert (await station.call("meter_offline", evse=1))["meter_online"] is False
        with pytest.raises(MeterError):
            await bus.read(1, "sdm630")
        await station.world_of(1, lambda w: w["meter_online"] is False)
        await station.call("meter_online", evse=1)
        assert (await bus.read(1, "sdm630")).unit_id == 1


async def test_faults_show_in_the_state_and_clear(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station:
        assert (await station.call("fault", evse=1, kind="rcd"))["faults"] == ["rcd"]
        await station.call("fault", evse=1, kind="welded")
        await station.world_of(1, lambda w: w["faults"] == ["rcd", "welded"])
        assert (await station.call("clear_fault", evse=1, kind="rcd"))["faults"] == ["welded"]
        assert (await station.call("clear_fault", evse=1))["faults"] == []
        assert (await station.call("set_ev_max_current", evse=1, amps=10))["ev_max_current_a"] == 10


async def test_refusals_name_what_is_wrong(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station:
        for command, args, code in (
            ("plug", {"evse": 9}, "unknown_evse"),
            ("ev_pause", {"evse": 1}, "not_plugged"),
            ("fault", {"evse": 1, "kind": "gremlins"}, "bad_args"),
            ("plug", {"evse": 1, "cable_a": 25}, "bad_args"),
            ("set_ev_max_current", {"evse": 1, "amps": -1}, "bad_args"),
            ("modem", {"action": "signal"}, "bad_args"),
        ):
            with pytest.raises(RpcError) as refusal:
                await station.call(command, **args)
            assert refusal.value.code == code, (command, refusal.value)


async def test_an_evse_without_meter_refuses_meter_commands(tmp_path: Path) -> None:
    async with sim_station(tmp_path, edit=('meter = { model = "SDM630", unit_id = 2 }', "")) as station:
        with pytest.raises(RpcError) as refusal:
            await station.call("meter_offline", evse=2)
        assert refusal.value.code == "no_meter"
        world = await station.world_of(2)
        assert world["meter_unit_id"] is None and world["meter_online"] is None
        _, env = await station.probe.wait_for("sim.state.world")
        assert "meter" in env.body["devices"]  # EVSE 1's meter is still on the line


async def test_modem_actions_change_the_modem_state(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station:
        assert (await station.call("modem", action="no_sim"))["sim_present"] is False
        assert (await station.call("modem", action="signal", rssi=5))["rssi"] == 5
        assert (await station.call("modem", action="roaming"))["registration"] == 5
        assert (await station.call("modem", action="vanish"))["present"] is False
        assert not (station.sim_dir / "modem").exists()
        assert (await station.call("modem", action="reappear"))["present"] is True
        _, env = await station.probe.wait_for("sim.state.modem", lambda e: e.body["rssi"] == 5)
        assert env.body["sim_present"] is False


async def test_state_answers_with_the_whole_world(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station:
        await station.call("plug", evse=2)
        world = await station.call("state")
        assert [w["ev_plugged"] for w in world["evses"]] == [False, True]
        assert world["modem"]["present"] is True
