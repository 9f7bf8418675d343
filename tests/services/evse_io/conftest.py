"""Shared set-ups: for ChargingControl a fake wall clock, an idle EVSE, an EVSE charging; for the service a
simulated station, its MCU boards and the service running in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bus.harness import Probe, remove_run_dir
from bus.runtime import running
from services.evse_io.charging import ChargingConfig, ChargingControl
from services.evse_io.pilot import CpState, PpState
from services.evse_io.service import EvseIoService
from sim.mcu_board import McuBoard
from station.config import StationConfig, load_config
from tests.stations import write_station

TOKEN = {"idToken": "04A1B2C3", "type": "ISO14443"}


class FakeWallClock:
    """Wall-clock time that moves only when told."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def wall_clock() -> FakeWallClock:
    return FakeWallClock()


@pytest.fixture
def ready(wall_clock: FakeWallClock) -> Callable[..., ChargingControl]:
    """Factory of an idle EVSE: link up, relays reported open, a 32 A cable coding, 32 A hardware."""

    def make(config: ChargingConfig | None = None) -> ChargingControl:
        control = ChargingControl(1, config or ChargingConfig(), wall_clock)
        control.on_link(True, 0.0)
        control.on_relays(False, 0.0)
        control.on_pp_state(PpState.A32, 0.0)
        control.on_hw_caps(32.0, 6.0, 0.0)
        return control

    return make


@pytest.fixture
def charging() -> Callable[..., ChargingControl]:
    """Takes an idle EVSE to Charging: plug at ``now``, authorize, C, relays closed at now + 1.05."""

    def drive(control: ChargingControl, now: float = 10.0) -> ChargingControl:
        control.on_cp_state(CpState.B, now)
        control.authorize(True, now, id_token=TOKEN)
        control.on_cp_state(CpState.C, now + 1)
        control.on_relays(True, now + 1.05)
        assert control.charging_state == "Charging"
        return control

    return drive


# ---- the service in-process against simulated boards (test_service*.py) ----------------------------------


class FastEvseIo(EvseIoService):
    """The service with a short MCU keep-alive, so link loss shows within a test's time."""

    keepalive_interval_s = 0.1
    keepalive_timeout_s = 0.5
    reopen_max_s = 0.4


@pytest.fixture
def station(tmp_path: Path) -> Iterator[StationConfig]:
    """A simulated two-EVSE station in tmp_path (its run dir is a short path of its own)."""
    config = load_config(write_station(tmp_path, sim=True, evses=2))
    yield config
    remove_run_dir(config.paths.run_dir)


@pytest.fixture
def run_dir(station: StationConfig) -> Path:
    """The station's run dir, so the shared broker and probe fixtures serve this station."""
    return station.paths.run_dir


@pytest.fixture
async def boards(station: StationConfig) -> AsyncIterator[dict[int, McuBoard]]:
    """One simulated MCU board per EVSE at <sim_dir>/mcu<n>, keep-alive every 0.1 s."""
    made = {evse.id: McuBoard(evse.id, station.sim_dir, keepalive_interval_s=0.1) for evse in station.evses}
    for board in made.values():
        await board.start()
    yield made
    for board in made.values():
        await board.stop()


@pytest.fixture
def run_evse_io(station: StationConfig, probe: Probe) -> Callable[[], AbstractAsyncContextManager[EvseIoService]]:
    """`async with run_evse_io() as service:` runs the service in this event loop; again for a restart."""
    return lambda: running(FastEvseIo, station)  # type: ignore[return-value]


@pytest.fixture
async def evse_io(station: StationConfig, boards: dict[int, McuBoard], probe: Probe) -> AsyncIterator[EvseIoService]:
    """The service running in this event loop; both MCU links up."""
    async with running(FastEvseIo, station) as service:
        for evse in station.evses:
            await probe.wait_for(f"evse_io.state.evse.{evse.id}",
                                 lambda e: e.body["link_up"] and e.body["cp_state"] == "A")
        yield service


StateWaiter = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def evse_state(probe: Probe) -> StateWaiter:
    """`await evse_state(n, predicate)`: the first `evse_io.state.evse.<n>` body (cached one included) it holds for."""

    async def wait(evse_id: int, predicate: Callable[[dict[str, Any]], bool], timeout: float = 3.0) -> dict[str, Any]:
        _, env = await probe.wait_for(f"evse_io.state.evse.{evse_id}", lambda e: predicate(e.body), timeout)
        return env.body

    return wait
