"""A simulated station for tests: its config, the real broker in a thread, a probe, and reon-sim in-process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bus.harness import Probe
from bus.runtime import running
from sim.main import SimService
from station.config import StationConfig, load_config
from tests.rigs import station_bus
from tests.stations import write_station


@dataclass
class SimStation:
    config: StationConfig
    probe: Probe
    service: SimService

    @property
    def sim_dir(self) -> Path:
        return self.config.sim_dir

    async def call(self, command: str, **args: Any) -> Any:
        return await self.probe.call("sim", command, args)

    async def world_of(self, evse: int, predicate: Any = lambda body: True, timeout: float = 3.0) -> dict[str, Any]:
        """The first published world of this EVSE (cached one included) for which predicate holds."""
        _, env = await self.probe.wait_for(f"sim.state.evse.{evse}", lambda e: predicate(e.body), timeout)
        return env.body


@contextlib.asynccontextmanager
async def sim_station(directory: Path, *, evses: int = 2,
                      edit: tuple[str, str] | None = None) -> AsyncIterator[SimStation]:
    """reon-sim running for a station from tests/stations.py (its file text changed by `edit`, if given)."""
    path = write_station(directory, sim=True, evses=evses)
    if edit:
        path.write_text(path.read_text().replace(*edit))
    config = load_config(path)
    async with station_bus(config) as probe, running(SimService, config) as service:
        assert isinstance(service, SimService)
        yield SimStation(config, probe, service)
