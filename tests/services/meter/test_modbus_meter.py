"""The Modbus RTU driver against the simulated meters on a pseudo-terminal (real wire protocol, no mocks)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.meter.modbus_maps import MAPS, Quantity
from services.meter.modbus_meter import (
    EnergyWentBackwards,
    MeterBus,
    MeterConfig,
    MeterError,
    MeterFault,
    SerialSettings,
)
from sim.meter_sim import MeterSim

TIMEOUT_S = 0.3


class FakeClock:
    """Monotonic time the test moves by hand, so energy integrates without sleeping."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@contextlib.asynccontextmanager
async def meter_line(tmp_path: Path, meters: Mapping[int, str],
                     clock: Callable[[], float] = time.monotonic) -> AsyncIterator[tuple[MeterSim, MeterBus]]:
    sim = MeterSim(tmp_path / "meter", meters, clock=clock)
    await sim.start()
    bus = MeterBus(SerialSettings(port=str(sim.path), baudrate=9600, timeout_s=TIMEOUT_S))
    try:
        yield sim, bus
    finally:
        bus.close()
        await sim.stop()


@pytest.mark.parametrize("model", sorted(MAPS))
async def test_each_model_is_read_through_the_simulator(tmp_path: Path, model: str) -> None:
    async with meter_line(tmp_path, {1: model}) as (sim, bus):
        meter = sim.meter(1)
        meter.set_load([16.0], phases=3)
        meter.set_energy_wh(1_234_500)
        before = datetime.now(UTC)
        reading = await bus.read(1, model)

    phases = MAPS[model].phases
    assert reading.unit_id == 1 and reading.model == model
    assert before <= reading.read_at <= datetime.now(UTC)
    assert len(reading.voltage_v_per_phase) == phases
    assert all(228.9 <= v <= 231.1 for v in reading.voltage_v_per_phase)
    assert reading.current_a_per_phase == pytest.approx([16.0] * phases, abs=0.01)
    assert reading.power_w == pytest.approx(16.0 * sum(reading.voltage_v_per_phase), rel=1e-3)
    assert reading.frequency_hz == pytest.approx(50.0, abs=0.1)
    assert reading.energy_import_wh == pytest.approx(1_234_500, abs=100)  # EM340 counts 0.1 kWh
    if reading.energy_import_wh_per_phase:
        assert sum(reading.energy_import_wh_per_phase) == pytest.approx(1_234_500, abs=300)


async def test_two_meters_on_one_bus_are_told_apart_by_unit_id(tmp_path: Path) -> None:
    async with meter_line(tmp_path, {1: "sdm630", 2: "em340"}) as (sim, bus):
        sim.meter(1).set_load([16.0, 16.0, 16.0])
        sim.meter(2).set_load([6.0], phases=1)
        first, second = await bus.read(1, "sdm630"), await bus.read(2, "em340")

    assert first.current_a_per_phase == pytest.approx([16.0, 16.0, 16.0])
    assert second.current_a_per_phase == pytest.approx([6.0, 0.0, 0.0])
    assert (first.model, second.model) == ("sdm630", "em340")


async def test_concurrent_reads_share_the_bus_one_request_at_a_time(tmp_path: Path) -> None:
    async with meter_line(tmp_path, {1: "sdm630", 2: "abb_b23"}) as (sim, bus):
        sim.meter(2).set_load([10.0], phases=1)
        readings = await asyncio.gather(bus.read(1, "sdm630"), bus.read(2, "abb_b23"), bus.read(1, "sdm630"))
        assert [r.unit_id for r in readings] == [1, 2, 1]
        assert readings[1].current_a_per_phase == (10.0, 0.0, 0.0)
        assert bus.counters(1).reads_ok == 2 and bus.counters(2).reads_ok == 1


async def test_energy_integrates_power_while_loaded(tmp_path: Path) -> None:
    clock = FakeClock()
    async with meter_line(tmp_path, {1: "abb_b23"}, clock) as (sim, bus):
        sim.meter(1).set_load([10.0], phases=1)
        start = await bus.read(1, "abb_b23")
        clock.advance(3600)
        end = await bus.read(1, "abb_b23")

    assert start.energy_import_wh is not None and end.energy_import_wh is not None
    assert end.energy_import_wh - start.energy_import_wh == pytest.approx(10 * 230 * 1.0, abs=20)
    assert end.energy_import_wh_per_phase[1:] == (0.0, 0.0)


async def test_offline_meter_times_out_within_the_configured_timeout(tmp_path: Path) -> None:
    async with meter_line(tmp_path, {1: "sdm630"}) as (sim, bus):
        await bus.read(1, "sdm630")
        sim.meter(1).go_offline()
        started = time.monotonic()
        with pytest.raises(MeterError) as failure:
            await bus.read(1, "sdm630")
        elapsed_s = time.monotonic() - started

        assert failure.value.reason is MeterFault.TIMEOUT and failure.value.unit_id == 1
        assert TIMEOUT_S <= elapsed_s < TIMEOUT_S + 0.25
        assert bus.counters(1).timeouts == 1 and bus.counters(1).reads_ok == 1


async def test_meter_coming_back_is_read_again_with_a_fresh_read_time(tmp_path: Path) -> None:
    async with meter_line(tmp_path, {1: "sdm630"}) as (sim, bus):
        first = await bus.read(1, "sdm630")
        sim.meter(1).go_offline()
        with pytest.raises(MeterError):
            await bus.read(1, "sdm630")
        sim.meter(1).come_back()
        again = await bus.read(1, "sdm630")

    assert again.read_at - first.read_at >= timedelta(seconds=TIMEOUT_S)


async def test_unknown_unit_id_times_out(tmp_path: Path) -> None:
    async with meter_line(tmp_path, {1: "sdm630"}) as (_sim, bus):
        with pytest.raises(MeterError) as failure:
            await bus.read(9, "sdm630")
        assert failure.value.reason is MeterFault.TIMEOUT and failure.value.unit_id == 9
        assert (await bus.read(1, "sdm630")).unit_id == 1


async def test_exception_response_for_unknown_registers_is_counted_and_raised(tmp_path: Path) -> None:
    async with meter_line(tmp_path, {1: "sdm630"}) as (_sim, bus):
        with pytest.raises(MeterError) as failure:
            await bus.read(1, "abb_b23")  # wrong model configured: registers 0x5000.. do not exist
        assert failure.value.reason is MeterFault.EXCEPTION_RESPONSE
        assert failure.value.exception_code == 2  # illegal data address
        assert bus.counters(1).exception_responses == 1
        assert (await bus.read(1, "sdm630")).model == "sdm630"


async def test_bad_crc_reply_is_counted_and_skipped(tmp_path: Path) -> None:
    async with meter_line(tmp_path, {1: "sdm630"}) as (sim, bus):
        sim.meter(1).reply_with_bad_crc()
        with pytest.raises(MeterError) as failure:
            await bus.read(1, "sdm630")
        assert failure.value.reason is MeterFault.CRC
        assert bus.counters(1).crc_errors == 1
        assert (await bus.read(1, "sdm630")).unit_id == 1


async def test_garbage_before_a_reply_is_skipped_and_counted(tmp_path: Path) -> None:
    async with meter_line(tmp_path, {1: "sdm630"}) as (sim, bus):
        sim.meter(1).set_load([8.0], phases=1)
        sim.garble_next_reply(b"\x00\x01\x04\xff\x55")  # even a fake "unit 1, FC4" header
        reading = await bus.read(1, "sdm630")
        assert reading.current_a_per_phase[0] == pytest.approx(8.0)
        assert bus.counters(1).garbage_bytes == 5


async def test_a_whole_frame_with_a_bad_crc_before_the_reply_is_skipped(tmp_path: Path) -> None:
    async with meter_line(tmp_path, {1: "sdm630"}) as (sim, bus):
        fake = b"\x01\x84\x02\xde\xad"  # an exception reply from unit 1 with a bad CRC
        sim.garble_next_reply(fake)
        assert (await bus.read(1, "sdm630")).unit_id == 1
        assert bus.counters(1).garbage_bytes == len(fake)


async def test_noise_on_the_idle_line_does_not_spoil_the_next_read(tmp_path: Path) -> None:
    async with meter_line(tmp_path, {1: "sdm630"}) as (sim, bus):
        await bus.read(1, "sdm630")
        sim.inject_garbage(b"\x01\x04\x94\xde\xad\xbe\xef")
        assert (await bus.read(1, "sdm630")).unit_id == 1


async def test_energy_going_backwards_is_detected_until_the_new_baseline_is_accepted(tmp_path: Path) -> None:
    async with meter_line(tmp_path, {1: "sdm630"}) as (sim, bus):
        sim.meter(1).set_energy_wh(5000)
        await bus.read(1, "sdm630")
        sim.meter(1).set_energy_wh(1000)
        for _ in range(2):
            with pytest.raises(EnergyWentBackwards) as failure:
                await bus.read(1, "sdm630")
            assert failure.value.reason is MeterFault.ENERGY_WENT_BACKWARDS
            assert failure.value.previous_wh == pytest.approx(5000)
            assert failure.value.reading.energy_import_wh == pytest.approx(1000)
        assert bus.counters(1).energy_went_backwards == 2
        bus.accept_energy_baseline(1)
        assert (await bus.read(1, "sdm630")).energy_import_wh == pytest.approx(1000)


async def test_bus_reconnects_after_the_port_vanishes(tmp_path: Path) -> None:
    async with meter_line(tmp_path, {1: "sdm630"}) as (sim, bus):
        await bus.read(1, "sdm630")
        sim.unplug_port()
        with pytest.raises(MeterError) as failure:
            await bus.read(1, "sdm630")
        assert failure.value.reason in (MeterFault.PORT, MeterFault.TIMEOUT)
        with pytest.raises(MeterError) as failure:
            await bus.read(1, "sdm630")
        assert failure.value.reason is MeterFault.PORT
        sim.plug_port()
        assert (await bus.read(1, "sdm630")).unit_id == 1
        assert bus.connected


async def test_missing_port_is_a_port_fault(tmp_path: Path) -> None:
    async with MeterBus(SerialSettings(port=str(tmp_path / "nothing"), timeout_s=TIMEOUT_S)) as bus:
        with pytest.raises(MeterError) as failure:
            await bus.read(1, "sdm630")
    assert failure.value.reason is MeterFault.PORT
    assert bus.counters(1).port_errors == 1


async def test_abb_not_available_values_arrive_as_none(tmp_path: Path) -> None:
    async with meter_line(tmp_path, {1: "abb_b23"}) as (sim, bus):
        sim.meter(1).mark_missing(Quantity.FREQUENCY_HZ)
        sim.meter(1).mark_missing(Quantity.VOLTAGE_V, phase=2)
        reading = await bus.read(1, "abb_b23")
    assert reading.frequency_hz is None
    assert reading.voltage_v_per_phase[1] is None
    assert reading.voltage_v_per_phase[0] is not None and reading.energy_import_wh is not None


def test_meter_config_rejects_bad_values() -> None:
    assert MeterConfig(unit_id=2, model="em340", poll_interval_s=0.5).register_map.model == "em340"
    for bad in ({"unit_id": 0, "model": "sdm630"}, {"unit_id": 248, "model": "sdm630"},
                {"unit_id": 1, "model": "sdm999"}, {"unit_id": 1, "model": "sdm630", "poll_interval_s": 0}):
        with pytest.raises(ValueError):
            MeterConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SerialSettings(port="/dev/ttyS1", parity="X")
