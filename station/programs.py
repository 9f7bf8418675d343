"""The station's programs under supervisord: which module runs each, in which order."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from station.config import StationConfig
from station.scheduling import BACKGROUND, NORMAL, SAFETY, Scheduling


@dataclass(frozen=True)
class Program:
    name: str          # supervisord program name = bus service name
    module: str        # run as `python -m module`
    priority: int      # lower starts first
    sim_only: bool = False
    on_bus: bool = True  # beats a heartbeat on the bus (the development CSMS does not)
    config_check: str | None = None  # "module:function(config)" raising ConfigError, run by `reonctl up`
    # (the sim's also makes the simulated manufacturer's root, so every service finds it at start)
    asyncio_tls: bool = True  # False: its event loop never speaks TLS, so asyncio is imported without ssl
    scheduling: Scheduling = NORMAL  # applied by the program itself at start (station/scheduling.py)


PROGRAMS = (
    Program("bus", "bus.broker", 10),
    Program("sim", "sim.main", 20, sim_only=True, config_check="sim.firmware_images:prepare"),
    Program("csms", "sim.csms", 20, sim_only=True, on_bus=False),  # not niced: listening before reon-ocpp dials
    Program("evse_io", "services.evse_io.service", 100, asyncio_tls=False, scheduling=SAFETY),
    Program("meter", "services.meter.service", 100),  # pymodbus imports ssl itself: nothing to save
    Program("modem", "services.modem.service", 100, asyncio_tls=False),
    Program("ocpp", "services.ocpp_client.service", 110, scheduling=BACKGROUND,
            config_check="services.ocpp_client.provisioning.station_file:check"),
    Program("firmware", "services.firmware.service", 110, asyncio_tls=False,  # TLS only in its download thread
            scheduling=BACKGROUND),
    Program("metrics", "services.metrics.service", 120, scheduling=BACKGROUND),  # only with [metrics] enabled
)


def environment(program: Program) -> dict[str, str]:
    """What a program's environment adds to REON_CONFIG (see station/asyncio_tls.py)."""
    return {} if program.asyncio_tls else {"REON_ASYNCIO_TLS": "0"}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def configured_programs(config: StationConfig) -> list[Program]:
    """The programs this station runs: those installed, simulators only in sim mode."""
    return [p for p in PROGRAMS if installed(p.module) and (config.sim.enabled or not p.sim_only)
            and (p.name != "metrics" or config.metrics.enabled)]


def check_config(config: StationConfig) -> None:
    """Run each configured program's own check of the station file (ConfigError on the first problem), so a
    bad value stops `reonctl up` before anything starts instead of a service restarting in a loop."""
    for program in configured_programs(config):
        if program.config_check is None or not installed(program.module):
            continue
        module_name, function = program.config_check.split(":")
        getattr(importlib.import_module(module_name), function)(config)


def declared_scheduling(name: str) -> Scheduling:
    """How the program `name` declares it is scheduled (NORMAL for a name not in the table)."""
    return next((p.scheduling for p in PROGRAMS if p.name == name), NORMAL)


def scheduling_of(name: str, config: StationConfig) -> Scheduling:
    """How the program `name` is scheduled on this station (NORMAL when `[station] priorities = false`)."""
    return declared_scheduling(name) if config.station.priorities else NORMAL
