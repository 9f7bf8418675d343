"""The station's programs under supervisord: which module runs each, in which order."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from station.config import StationConfig


@dataclass(frozen=True)
class Program:
    name: str          # supervisord program name = bus service name
    module: str        # run as `python -m module`
    priority: int      # lower starts first
    sim_only: bool = False
    on_bus: bool = True  # beats a heartbeat on the bus (the development CSMS does not)


PROGRAMS = (
    Program("bus", "bus.broker", 10),
    Program("sim", "sim.main", 20, sim_only=True),
    Program("csms", "sim.csms", 20, sim_only=True, on_bus=False),
    Program("evse_io", "services.evse_io.service", 100),
    Program("meter", "services.meter.service", 100),
    Program("modem", "services.modem.service", 100),
    Program("ocpp", "services.ocpp_client.service", 110),
    Program("firmware", "services.firmware.service", 110),
)


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def configured_programs(config: StationConfig) -> list[Program]:
    """The programs this station runs: those installed, simulators only in sim mode."""
    return [p for p in PROGRAMS if installed(p.module) and (config.sim.enabled or not p.sim_only)]
