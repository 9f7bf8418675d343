"""The simulated world without the bus: the real drivers (McuLink, MeterBus, a raw pty) against its devices."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bus.harness import remove_run_dir
from services.evse_io.mcu_link import McuLink
from services.evse_io.mcu_pb2 import STATE_B, McuToEverest
from services.meter.modbus_meter import MeterBus, MeterError, MeterFault, SerialSettings
from sim.world import World, WorldError
from station.config import StationConfig, load_config
from tests.stations import write_station

DUTY_16A = 2667  # 26.67 % PWM offers 16 A (IEC 61851-1 Table A.8)


def station(tmp_path: Path, edit: tuple[str, str] | None = None, evses: int = 2) -> StationConfig:
    path = write_station(tmp_path, sim=True, evses=evses)
    if edit:
        path.write_text(path.read_text().replace(*edit))
    return load_config(path)


@contextlib.asynccontextmanager
async def world_of(config: StationConfig) -> AsyncIterator[World]:
    world = World(config)
    await world.start()
    try:
        yield world
    finally:
        await world.stop()
        remove_run_dir(config.paths.run_dir)


class Host:
    """The station's side of EVSE n's MCU: the real McuLink, every message it receives in a queue."""

    def __init__(self, world: World, evse: int) -> None:
        self.messages: asyncio.Queue[McuToEverest] = asyncio.Queue()
        self.up = asyncio.Event()
        self.link = McuLink(evse, str(world.sim_dir / f"mcu{evse}"), on_message=self.messages.put_nowait,
                            on_link=lambda up: self.up.set() if up else self.up.clear())

    async def __aenter__(self) -> Host:
        await self.link.start()
        await asyncio.wait_for(self.up.wait(), 2)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.link.stop()

    def charge_at(self, duty_0_01pct: int) -> None:
        assert self.link.allow_power_on(True) and self.link.set_pwm_duty(duty_0_01pct)


async def energy_rises_above(bus: MeterBus, unit_id: int, energy_wh: float, timeout: float = 2.0) -> float:
    """Read the meter as the meter service polls it until its energy register passes `energy_wh`."""
    async with asyncio.timeout(timeout):
        while (reading := await bus.read(unit_id, "sdm630")).energy_import_wh <= energy_wh:
            await asyncio.sleep(0.05)  # the poll interval: energy accrues with time
    assert reading.energy_import_wh is not None
    return reading.energy_import_wh


async def test_every_configured_device_has_its_link_under_sim_dir(tmp_path: Path) -> None:
    config = station(tmp_path)
    world = World(config)
    await world.start()
    names = {"mcu1", "mcu2", "rfid1", "rfid2", "meter", "modem"}
    assert set(world.devices()) == names
    assert all((config.sim_dir / name).resolve().parent == Path("/dev/pts") for name in names)
    await world.stop()
    assert not any((config.sim_dir / name).exists() for name in names)
    remove_run_dir(config.paths.run_dir)


async def test_the_real_mcu_link_charges_the_ev_and_the_meter_counts_its_energy(tmp_path: Path) -> None:
    config = station(tmp_path)
    async with world_of(config) as world, Host(world, 1) as host:
        assert host.link.mcu_keepalive is not None and host.link.mcu_keepalive.hwcap_max_current == 32
        evse = world.evse(1)
        evse.plug()
        await evse.board.wait_for(lambda s: s.host_keepalive_at is not None and s.cp_state == STATE_B)
        host.charge_at(DUTY_16A)
        await evse.board.wait_for(lambda s: s.relays_closed and s.current_a == pytest.approx(16, abs=0.01))
        assert evse.snapshot()["cp_state"] == "C" and evse.snapshot()["power_w"] == pytest.approx(11040, abs=5)
        async with MeterBus(SerialSettings(port=str(world.sim_dir / "meter"), timeout_s=0.3)) as bus:
            first = await bus.read(1, "sdm630")
            assert first.current_a_per_phase == pytest.approx((16, 16, 16), abs=0.01)
            assert all(225 < v < 235 for v in first.voltage_v_per_phase)  # type: ignore[operator]
            await energy_rises_above(bus, 1, first.energy_import_wh or 0.0)
            idle = await bus.read(2, "sdm630")
            assert idle.energy_import_wh == 0 and idle.current_a_per_phase == (0, 0, 0)


async def test_the_ev_pauses_resumes_and_unplugs_through_b_and_a(tmp_path: Path) -> None:
    async with world_of(station(tmp_path)) as world, Host(world, 1) as host:
        evse = world.evse(1)
        evse.plug()
        host.charge_at(DUTY_16A)
        await evse.board.wait_for(lambda s: s.relays_closed)
        evse.ev_pause()
        assert evse.snapshot()["cp_state"] == "B" and evse.snapshot()["current_a"] == 0
        assert evse.meter is not None and evse.meter.current_a_per_phase == (0, 0, 0)
        evse.ev_resume()
        assert evse.snapshot()["cp_state"] == "C"
        assert evse.meter.current_a_per_phase == pytest.approx((16, 16, 16), abs=0.01)
        evse.unplug()
        assert evse.snapshot()["cp_state"] == "A" and evse.snapshot()["pp_state"] == "NC"
        assert evse.meter.current_a_per_phase == (0, 0, 0)


async def test_the_meter_follows_host_commands_without_a_world_control(tmp_path: Path) -> None:
    async with world_of(station(tmp_path)) as world, Host(world, 1) as host:
        evse = world.evse(1)
        evse.plug()
        host.charge_at(DUTY_16A)
        await evse.board.wait_for(lambda s: s.relays_closed)
        assert host.link.allow_power_on(False)
        await evse.board.wait_for(lambda s: not s.relays_closed)
        async with asyncio.timeout(1):
            while evse.meter is not None and evse.meter.current_a_per_phase != (0, 0, 0):
                await asyncio.sleep(0)  # the world's observer task runs on the next turns of the loop


async def test_current_is_the_least_of_pwm_offer_ev_maximum_and_cable(tmp_path: Path) -> None:
    async with world_of(station(tmp_path)) as world, Host(world, 1) as host:
        evse = world.evse(1)
        evse.plug(cable_a=20)
        assert evse.snapshot()["pp_state"] == "20A"
        host.charge_at(5000)  # 30 A offered
        await evse.board.wait_for(lambda s: s.current_a == 20)
        evse.set_ev_max_current(10)
        assert evse.snapshot()["current_a"] == 10
        with pytest.raises(WorldError, match="bad_args"):
            evse.set_ev_max_current(81)
        with pytest.raises(WorldError, match="bad_args"):
            world.evse(2).plug(cable_a=25)


async def test_a_blocking_fault_opens_the_relays_until_cleared(tmp_path: Path) -> None:
    async with world_of(station(tmp_path)) as world, Host(world, 1) as host:
        evse = world.evse(1)
        evse.plug()
        host.charge_at(DUTY_16A)
        await evse.board.wait_for(lambda s: s.relays_closed)
        evse.fault("rcd")
        assert not evse.snapshot()["relays_closed"] and evse.snapshot()["faults"] == ["rcd"]
        flags = await _next(host, "error_flags", lambda m: m.error_flags.rcd_triggered)
        assert flags.error_flags.rcd_triggered
        evse.clear_fault()
        assert evse.snapshot()["relays_closed"] and evse.snapshot()["faults"] == []
        with pytest.raises(WorldError, match="bad_args"):
            evse.fault("gremlins")


async def _next(host: Host, kind: str, where: object) -> McuToEverest:
    async with asyncio.timeout(2):
        while True:
            message = await host.messages.get()
            if message.WhichOneof("payload") == kind and where(message):  # type: ignore[operator]
                return message


async def test_an_offline_meter_stops_answering_and_comes_back(tmp_path: Path) -> None:
    config = station(tmp_path)
    async with world_of(config) as world, MeterBus(SerialSettings(str(config.sim_dir / "meter"), timeout_s=0.2)) as bus:
        world.evse(2).meter_offline()
        with pytest.raises(MeterError) as failure:
            await bus.read(2, "sdm630")
        assert failure.value.reason == MeterFault.TIMEOUT
        assert (await bus.read(1, "sdm630")).energy_import_wh == 0  # the other meter still answers
        world.evse(2).meter_online()
        assert (await bus.read(2, "sdm630")).unit_id == 2


async def test_config_meter_names_map_to_the_simulated_models(tmp_path: Path) -> None:
    config = station(tmp_path, ('{ model = "SDM630", unit_id = 2 }', '{ model = "EM340", unit_id = 7 }'))
    async with world_of(config) as world:
        assert world.evse(2).snapshot()["meter_model"] == "EM340"
        async with MeterBus(SerialSettings(port=str(world.sim_dir / "meter"), timeout_s=0.3)) as bus:
            assert (await bus.read(7, "em340")).frequency_hz == pytest.approx(50, abs=0.1)


def test_two_meters_at_one_unit_id_cannot_share_the_simulated_bus(tmp_path: Path) -> None:
    config = station(tmp_path, ('unit_id = 2', 'unit_id = 1'))
    with pytest.raises(WorldError, match="unit_id 1 is taken"):
        World(config)
    remove_run_dir(config.paths.run_dir)


async def test_a_swipe_is_one_line_on_the_rfid_pty(tmp_path: Path) -> None:
    async with world_of(station(tmp_path)) as world:
        fd = os.open(world.sim_dir / "rfid2", os.O_RDWR | os.O_NOCTTY)
        try:
            tty.setraw(fd)
            assert world.evse(2).swipe("04A1B2C3")
            assert await asyncio.to_thread(os.read, fd, 64) == b"04A1B2C3\r\n"
        finally:
            os.close(fd)
        with pytest.raises(WorldError, match="bad_args"):
            world.evse(2).swipe("04\r\nA1")


async def test_the_modem_without_sim_answers_sim_not_inserted(tmp_path: Path) -> None:
    async with world_of(station(tmp_path)) as world:
        world.modem_action("no_sim")
        fd = os.open(world.sim_dir / "modem", os.O_RDWR | os.O_NOCTTY)
        try:
            tty.setraw(fd)
            os.write(fd, b"ATE0\rAT+CMEE=1\rAT+CPIN?\r")
            reply = b""
            async with asyncio.timeout(2):
                while b"+CME ERROR: 10" not in reply:
                    reply += await asyncio.to_thread(os.read, fd, 256)
        finally:
            os.close(fd)
        world.modem_action("signal", rssi=7)
        assert world.modem_snapshot() == {"profile": "quectel", "present": True, "sim_present": False,
                                          "registration": 1, "rssi": 7, "silent": False}
        with pytest.raises(WorldError, match="bad_args"):
            world.modem_action("signal", rssi=40)
