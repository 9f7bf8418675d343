"""reon-meter in-process on the bus, against simulated meters sharing one RS-485 line (a pseudo-terminal)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from bus.client import Subscription
from bus.envelope import Envelope
from bus.harness import Probe
from bus.rpc import RpcError
from bus.runtime import running
from services.meter.link_health import CLEAN_READS_FOR_OK
from services.meter.service import MeterService
from sim.meter_sim import MeterSim
from station.config import StationConfig, load_config
from tests.rigs import station_bus
from tests.stations import write_station

POLL_S = 0.1
OFFLINE_AFTER_S = 0.6
# EVSE 1 and 2 metered on the shared line, EVSE 3 without a meter
STATION_METERS = {1: 'model = "SDM630", unit_id = 1', 2: 'model = "EM340", unit_id = 2', 3: None}
SIM_METERS = {1: "sdm630", 2: "em340"}


@dataclass
class Rig:
    config: StationConfig
    probe: Probe
    sim: MeterSim

    async def state(self, evse: int, predicate: Callable[[dict], bool], timeout: float = 3.0) -> dict:
        _, env = await self.probe.wait_for(f"meter.state.meter.{evse}", lambda e: predicate(e.body), timeout)
        return env.body

    async def event(self, name: str, predicate: Callable[[dict], bool] = lambda b: True,
                    timeout: float = 3.0) -> dict:
        _, env = await self.probe.wait_for(f"meter.evt.{name}", lambda e: predicate(e.body), timeout)
        return env.body


def received(sub: Subscription) -> list[Envelope]:
    out = []
    while not sub.queue.empty():
        out.append(sub.queue.get_nowait()[1])
    return out


OpenRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
def open_rig(tmp_path: Path, rig_stack: AsyncExitStack) -> OpenRig:
    """A station file with fast poll/offline values, its broker, a probe and the meter simulator."""

    async def factory(station_meters: dict[int, str | None] = STATION_METERS,
                      sim_meters: dict[int, str] = SIM_METERS, offline_after_s: float = OFFLINE_AFTER_S) -> Rig:
        path = write_station(tmp_path, sim=True, evses=len(station_meters))
        text = path.read_text()
        for evse_id, meter in station_meters.items():
            fast = f"meter = {{ {meter}, poll_s = {POLL_S}, offline_after_s = {offline_after_s} }}\n"
            text = text.replace(f'meter = {{ model = "SDM630", unit_id = {evse_id} }}\n', fast if meter else "")
        path.write_text(text)
        config = load_config(path)
        probe = await rig_stack.enter_async_context(station_bus(config))
        config.sim_dir.mkdir(parents=True, exist_ok=True)
        sim = MeterSim(config.sim_dir / "meter", sim_meters)
        await sim.start()
        rig_stack.push_async_callback(sim.stop)
        return Rig(config, probe, sim)

    return factory


async def test_each_evse_gets_samples_of_its_own_meter_on_the_shared_bus(open_rig: OpenRig) -> None:
    rig = await open_rig()
    rig.sim.meter(1).set_load([16.0, 16.0, 16.0])
    rig.sim.meter(1).set_energy_wh(10_000)
    rig.sim.meter(2).set_load([6.0], phases=1)
    rig.sim.meter(2).set_energy_wh(50_000)
    started = time.time()
    async with running(MeterService, rig.config):
        first = await rig.event("sample.1")
        second = await rig.event("sample.2")
        state = await rig.state(1, lambda b: b["sample"] is not None)
    assert first["evse"] == 1 and second["evse"] == 2
    assert first["current_a_per_phase"] == pytest.approx([16.0, 16.0, 16.0], abs=0.01)
    assert second["current_a_per_phase"] == pytest.approx([6.0, 0.0, 0.0], abs=0.01)
    assert all(229 <= v <= 231 for v in first["voltage_v_per_phase"] + second["voltage_v_per_phase"])
    assert first["power_w"] == pytest.approx(sum(first["power_w_per_phase"]), rel=1e-3)
    assert first["power_w"] == pytest.approx(16.0 * sum(first["voltage_v_per_phase"]), rel=1e-3)
    assert second["power_w"] == pytest.approx(6.0 * second["voltage_v_per_phase"][0], rel=1e-2)  # 0.1 W steps
    assert first["frequency_hz"] == pytest.approx(50.0, abs=0.05)
    assert first["energy_import_wh"] == pytest.approx(10_000, abs=20)
    assert sum(first["energy_import_wh_per_phase"]) == pytest.approx(first["energy_import_wh"], abs=1)
    assert second["energy_import_wh"] == pytest.approx(50_000, abs=100)  # EM340 counts 0.1 kWh
    assert started <= first["read_at"] <= time.time()
    assert state["model"] == "SDM630" and state["unit_id"] == 1 and state["link"] == "ok"
    assert state["port"] == str(rig.config.sim_dir / "meter")
    assert state["counters"]["reads_ok"] >= 1 and state["counters"]["timeouts"] == 0


async def test_silent_meter_goes_offline_in_time_without_fresh_timestamps_and_recovers(open_rig: OpenRig) -> None:
    rig = await open_rig()
    async with running(MeterService, rig.config):
        await rig.state(1, lambda b: b["link"] == "ok")
        samples = rig.probe.subscribe("meter.evt.sample.1")
        silenced_at, silenced_mono = time.time(), time.monotonic()
        rig.sim.meter(1).go_offline()
        offline = await rig.state(1, lambda b: b["link"] == "offline", timeout=OFFLINE_AFTER_S + 1)
        assert time.monotonic() - silenced_mono <= OFFLINE_AFTER_S + 0.3
        # two more failed polls: still offline, still the old sample, and no sample event for it
        timeouts = offline["counters"]["timeouts"]
        later = await rig.state(1, lambda b: b["counters"]["timeouts"] >= timeouts + 2)
        assert later["link"] == "offline"
        assert later["sample"]["read_at"] == offline["sample"]["read_at"] <= silenced_at + 0.05
        stale = [e.body for e in received(samples) if e.body["read_at"] > silenced_at + 0.05]
        assert stale == []
        assert (await rig.state(2, lambda b: True))["link"] != "offline"  # its neighbour on the line is fine

        back_at = time.time()
        rig.sim.meter(1).come_back()
        fresh = await rig.event("sample.1", lambda b: b["read_at"] > back_at)
        recovered = await rig.state(1, lambda b: b["link"] == "ok", timeout=CLEAN_READS_FOR_OK * POLL_S + 2)
        samples.close()
    assert recovered["sample"]["read_at"] >= fresh["read_at"]


async def test_energy_going_backwards_is_a_fault_event_not_a_sample(open_rig: OpenRig) -> None:
    rig = await open_rig()
    rig.sim.meter(1).set_energy_wh(20_000)
    async with running(MeterService, rig.config):
        before = await rig.event("sample.1")
        faults = rig.probe.subscribe("meter.evt.fault.1")
        samples = rig.probe.subscribe("meter.evt.sample.1")
        rig.sim.meter(1).set_energy_wh(5_000)  # meter replaced or reset
        fault = await rig.event("fault.1")
        state = await rig.state(1, lambda b: b["counters"]["energy_went_backwards"] >= 3)
        with pytest.raises(RpcError) as refused:
            await rig.probe.call("meter", "read_now", {"evse": 1})

        assert fault["kind"] == "energy_went_backwards"
        assert fault["previous_wh"] >= before["energy_import_wh"]
        assert fault["reading_wh"] == pytest.approx(5_000, abs=5)
        assert all(e.body["energy_import_wh"] >= before["energy_import_wh"] for e in received(samples))
        assert len(received(faults)) == 1  # once per episode, not once per poll
        assert (state["link"], state["fault"]) == ("degraded", "energy_went_backwards")
        assert state["sample"]["energy_import_wh"] >= before["energy_import_wh"]
        assert refused.value.code == "energy_went_backwards"

        rig.sim.meter(1).set_energy_wh(fault["previous_wh"] + 1_000)  # climbs past the last value again
        resumed = await rig.event("sample.1", lambda b: b["energy_import_wh"] > fault["previous_wh"])
        cleared = await rig.state(1, lambda b: b["fault"] is None)
        faults.close()
        samples.close()
    assert resumed["energy_import_wh"] == pytest.approx(fault["previous_wh"] + 1_000, abs=5)
    assert cleared["link"] in ("degraded", "ok")


async def test_read_now_returns_a_fresh_reading_and_names_what_is_wrong(open_rig: OpenRig) -> None:
    rig = await open_rig()
    rig.sim.meter(2).set_load([10.0], phases=3)
    rig.sim.meter(2).set_energy_wh(7_000)
    async with running(MeterService, rig.config):
        asked_at = time.time()
        result = await rig.probe.call("meter", "read_now", {"evse": 2})
        assert result["evse"] == 2 and result["read_at"] >= asked_at
        assert result["energy_import_wh"] == pytest.approx(7_000, abs=100)
        assert result["current_a_per_phase"] == pytest.approx([10.0] * 3, abs=0.01)

        errors = {}
        for evse in (9, 3):
            with pytest.raises(RpcError) as failure:
                await rig.probe.call("meter", "read_now", {"evse": evse})
            errors[evse] = failure.value.code
        rig.sim.meter(1).go_offline()
        with pytest.raises(RpcError) as offline:
            await rig.probe.call("meter", "read_now", {"evse": 1})
    assert errors == {9: "unknown_evse", 3: "no_meter"}
    assert offline.value.code == "meter_offline"


async def test_crc_errors_and_exception_responses_are_counted_in_the_state(open_rig: OpenRig) -> None:
    # EVSE 2 is configured as an ABB B23, but unit 2 is an SDM630: its registers do not exist there.
    # A bad CRC costs a reply timeout (the reply is waited for until then): room for two before offline.
    rig = await open_rig({1: 'model = "SDM630", unit_id = 1', 2: 'model = "ABB_B23", unit_id = 2'},
                         {1: "sdm630", 2: "sdm630"}, offline_after_s=1.5)
    async with running(MeterService, rig.config):
        await rig.state(1, lambda b: b["link"] == "ok")
        rig.sim.meter(1).reply_with_bad_crc(2)
        crc = await rig.state(1, lambda b: b["counters"]["crc_errors"] == 2)
        assert crc["link"] == "degraded"
        await rig.state(1, lambda b: b["link"] == "ok", timeout=CLEAN_READS_FOR_OK * POLL_S + 2)
        wrong_model = await rig.state(2, lambda b: b["counters"]["exception_responses"] >= 2)
    assert wrong_model["link"] == "offline" and wrong_model["sample"] is None
    assert wrong_model["model"] == "ABB_B23"


async def test_vanished_port_shows_both_meters_offline_and_they_recover_when_it_returns(open_rig: OpenRig) -> None:
    rig = await open_rig()
    async with running(MeterService, rig.config) as service:
        await rig.state(2, lambda b: b["link"] == "ok")
        unplugged_at = time.time()
        rig.sim.unplug_port()  # the USB RS-485 adapter is pulled
        for evse in (1, 2):
            gone = await rig.state(evse, lambda b: b["link"] == "offline", timeout=OFFLINE_AFTER_S + 1)
        await rig.state(2, lambda b: b["counters"]["port_errors"] >= 1)
        rig.sim.plug_port()
        for evse in (1, 2):
            await rig.state(evse, lambda b: b["link"] == "ok", timeout=CLEAN_READS_FOR_OK * POLL_S + 3)
        assert not service.failed.is_set()
    assert gone["sample"]["read_at"] <= unplugged_at + 0.05  # the old sample keeps its own read time


async def test_samples_go_out_every_poll_the_unchanged_state_only_every_few_seconds(open_rig: OpenRig) -> None:
    """Idle cost: each poll is a `sample` event; `meter.state` goes out on a change of link, fault or error
    counters, and otherwise at most every STATE_REFRESH_S (it went out after every poll)."""
    rig = await open_rig(station_meters={1: STATION_METERS[1]}, sim_meters={1: "sdm630"})
    async with running(MeterService, rig.config):
        await rig.state(1, lambda b: b["link"] == "ok")
        states, samples = rig.probe.subscribe("meter.state.meter.1"), rig.probe.subscribe("meter.evt.sample.1")
        received(states)
        for _ in range(12):  # 12 polls, 1.2 s: well inside STATE_REFRESH_S
            await samples.get(timeout=3)
        assert len(received(states)) <= 1
