"""reon-modem in-process on the bus, against the simulated modem on a pseudo-terminal."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bus.harness import Probe
from bus.runtime import running
from services.modem.service import ModemService
from sim.modem_sim import QUECTEL_EC25, ModemSim
from station.config import StationConfig, load_config
from tests.rigs import station_bus
from tests.stations import write_station

OTHER_SIM_ICCID = "8949022100099999999F"


@dataclasses.dataclass
class Rig:
    config: StationConfig
    probe: Probe
    sim: ModemSim

    async def state(self, predicate: Callable[[dict], bool], timeout: float = 3.0) -> dict:
        _, env = await self.probe.wait_for("modem.state.modem", lambda e: predicate(e.body), timeout)
        return env.body


OpenRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
def open_rig(tmp_path: Path, rig_stack: AsyncExitStack) -> OpenRig:
    """A station file (modem enabled unless told), its broker, a probe and the simulated modem, started."""

    async def factory(*, enabled: bool = True) -> Rig:
        path = write_station(tmp_path, sim=True, evses=1)
        if not enabled:
            path.write_text(path.read_text().replace("[modem]\nenabled = true", "[modem]\nenabled = false"))
        config = load_config(path)
        assert config.modem.enabled is enabled
        probe = await rig_stack.enter_async_context(station_bus(config))
        sim = ModemSim(config.sim_dir, QUECTEL_EC25)
        sim.start()
        rig_stack.callback(sim.close)
        return Rig(config, probe, sim)

    return factory


async def test_state_is_filled_from_the_modem_at_start(open_rig: OpenRig) -> None:
    rig = await open_rig()
    async with running(ModemService, rig.config):
        state = await rig.state(lambda b: True)
    assert state["link"] == "ok"
    assert (state["manufacturer"], state["model"], state["revision"]) == ("Quectel", "EC25", "EC25EFAR06A06M4G")
    assert state["imei"] == "866758040123456"
    assert (state["iccid"], state["imsi"]) == (QUECTEL_EC25.iccid, QUECTEL_EC25.imsi)
    assert (state["sim_status"], state["registration"]) == ("ready", "home")
    assert (state["operator"], state["access_technology"]) == ("REWATT Mobile", "LTE")
    assert state["signal_dbm"] == -113 + 2 * 20
    assert state["read_at"] is not None and state["counters"]["timeouts"] == 0


async def test_registration_urc_updates_the_state_at_once(open_rig: OpenRig) -> None:
    rig = await open_rig()
    async with running(ModemService, rig.config):
        await rig.state(lambda b: b["registration"] == "home")
        rig.sim.set_registration(5)  # roaming, told by +CEREG/+CREG URCs
        roaming = await rig.state(lambda b: b["registration"] == "roaming", timeout=1.0)
        rig.sim.set_registration(3)
        denied = await rig.state(lambda b: b["registration"] == "denied", timeout=1.0)
    assert roaming["link"] == "ok"
    assert (denied["link"], denied["operator"]) == ("offline", None)


async def test_refresh_reads_the_modem_now(open_rig: OpenRig) -> None:
    rig = await open_rig()
    async with running(ModemService, rig.config):
        await rig.state(lambda b: b["link"] == "ok")
        rig.sim.set_signal(31)  # no URC for the signal: only a read sees it
        state = await rig.probe.call("modem", "refresh", {})
        cached = await rig.state(lambda b: b["signal_dbm"] == -51, timeout=1.0)
    assert state["signal_dbm"] == -51 and cached["read_at"] == state["read_at"]


async def test_sim_swap_is_reported_while_running_and_across_a_restart(open_rig: OpenRig) -> None:
    rig = await open_rig()
    changes = rig.probe.subscribe("modem.evt.sim_changed")
    async with running(ModemService, rig.config):
        await rig.state(lambda b: b["iccid"] == QUECTEL_EC25.iccid)
        rig.sim.profile = dataclasses.replace(QUECTEL_EC25, iccid=OTHER_SIM_ICCID)
        rig.sim.reset()  # the modem reboots with the new SIM: RDY, +CPIN: READY
        _, swapped = await changes.get(timeout=3.0)
        await rig.state(lambda b: b["iccid"] == OTHER_SIM_ICCID)

    rig.sim.profile = QUECTEL_EC25  # the old SIM goes back in while the station is off
    async with running(ModemService, rig.config):
        _, restarted = await changes.get(timeout=3.0)
    async with running(ModemService, rig.config):  # same SIM as before this start: no event
        await rig.state(lambda b: b["iccid"] == QUECTEL_EC25.iccid and b["read_at"] is not None)
        refreshed = await rig.probe.call("modem", "refresh", {})
    changes.close()
    assert swapped.body == {"old_iccid": QUECTEL_EC25.iccid, "new_iccid": OTHER_SIM_ICCID}
    assert restarted.body == {"old_iccid": OTHER_SIM_ICCID, "new_iccid": QUECTEL_EC25.iccid}
    assert refreshed["iccid"] == QUECTEL_EC25.iccid and changes.queue.empty()


async def test_disabled_modem_is_absent_and_its_port_never_opened(open_rig: OpenRig) -> None:
    rig = await open_rig(enabled=False)
    async with running(ModemService, rig.config):
        state = await rig.state(lambda b: True)
        refreshed = await rig.probe.call("modem", "refresh", {})
    assert state["link"] == refreshed["link"] == "absent"
    assert state["iccid"] is None and state["read_at"] is None
    assert rig.sim.commands == []


async def test_vanishing_port_shows_absent_and_the_modem_is_back_when_it_returns(open_rig: OpenRig) -> None:
    rig = await open_rig()
    async with running(ModemService, rig.config) as service:
        await rig.state(lambda b: b["link"] == "ok")
        rig.sim.vanish()  # USB re-enumeration
        gone = await rig.state(lambda b: b["link"] == "absent", timeout=1.0)
        rig.sim.reappear()
        back = await rig.state(lambda b: b["link"] == "ok", timeout=5.0)
        refreshed = await rig.probe.call("modem", "refresh", {})
        assert not service.failed.is_set()
    assert gone["iccid"] is None and gone["read_at"] is None
    assert back["iccid"] == QUECTEL_EC25.iccid and back["counters"]["reopens"] >= 1
    assert refreshed["link"] == "ok"
