"""The hardware and link problems REON knows, as one table: where each shows in the device model (G05, N07).

Sources (their contracts): evse_io `evse.<n>.faults` (services/evse_io/charging_types.py Fault), the meter's
`meter.<n>` link and fault, the modem's `modem` link. Each problem names the component and variable of part 2
appendix 3 it is reported on, its scope (one per connector of the EVSE, per EVSE, or the station), a severity
(0 Danger … 9 Debug, as SetMonitoringLevel counts) and its techCode. Problems reported on a variable with a
hard-wired monitor go out as HardWiredMonitor events of that monitor; the link problems are
HardWiredNotification. An evse_io fault not in the table is reported on EVSE.Problem under its own name.

The monitors the station brings (N03): hard-wired ones and the preconfigured (FactoryDefault) ones.

- Hard-wired: one Delta monitor (value 1) per problem variable of problems.py that has HardWiredMonitor rows,
  per EVSE / connector, with the most severe severity of those rows. They cannot be cleared or changed
  (N06.FR.03) and stay under every monitoring base.
- Preconfigured: Delta on AvailabilityState of the ChargingStation, each EVSE and each connector, severity 9
  (Debug: reported only when the level is raised to 9). A CSMS may overrule them by id (N04.FR.15), clear
  them, and get them back with SetMonitoringBase FactoryDefault; HardWiredOnly switches them off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.ocpp_client.monitoring.store import HARD_WIRED, PRECONFIGURED, FactoryMonitor, Settings, Target

HARD_WIRED_MONITOR, HARD_WIRED_NOTIFICATION = "HardWiredMonitor", "HardWiredNotification"


@dataclass(frozen=True)
class Problem:
    source: str  # evse_io | meter | modem
    code: str  # as the source names it
    component: str
    variable: str
    scope: str  # connector | evse | station
    severity: int
    tech_code: str
    notification: str = HARD_WIRED_MONITOR


PROBLEMS: tuple[Problem, ...] = (
    Problem("evse_io", "lock_failed", "ConnectorPlugRetentionLock", "Problem", "connector", 1, "LockFailed"),
    Problem("evse_io", "rcd_triggered", "RCD", "Tripped", "evse", 0, "RcdTripped"),
    Problem("evse_io", "rcd_selftest_failed", "RCD", "Problem", "evse", 1, "RcdSelftestFailed"),
    Problem("evse_io", "welded_contactor", "PowerContactor", "Problem", "evse", 0, "WeldedContactor"),
    Problem("evse_io", "over_current", "OverCurrentProtection", "Active", "evse", 1, "OverCurrent"),
    Problem("evse_io", "diode_fault", "CPPWMController", "Problem", "evse", 4, "DiodeFault"),
    Problem("evse_io", "cp_signal_fault", "CPPWMController", "Problem", "evse", 4, "CpSignalFault"),
    Problem("evse_io", "ventilation_needed", "EVSE", "Problem", "evse", 5, "VentilationNeeded"),
    Problem("evse_io", "mcu_link_lost", "Controller", "Problem", "evse", 2, "McuLinkLost",
            HARD_WIRED_NOTIFICATION),
    Problem("meter", "meter_offline", "ControlMetering", "Problem", "evse", 2, "MeterOffline",
            HARD_WIRED_NOTIFICATION),
    Problem("meter", "energy_went_backwards", "ControlMetering", "Problem", "evse", 3, "EnergyWentBackwards"),
    Problem("modem", "no_sim", "DataLink", "Problem", "station", 4, "NoSim", HARD_WIRED_NOTIFICATION),
    Problem("modem", "offline", "DataLink", "Problem", "station", 4, "NotRegistered", HARD_WIRED_NOTIFICATION),
    Problem("modem", "absent", "DataLink", "Problem", "station", 4, "ModemAbsent", HARD_WIRED_NOTIFICATION),
)
BY_CODE: dict[tuple[str, str], Problem] = {(p.source, p.code): p for p in PROBLEMS}
UNKNOWN_EVSE_FAULT_SEVERITY = 4
MAX_FAULTS = 32


def problem(source: str, code: str) -> Problem:
    """The table row; an evse_io fault the table does not know goes on EVSE.Problem."""
    known = BY_CODE.get((source, code))
    if known is not None:
        return known
    return Problem(source, code, "EVSE", "Problem", "evse", UNKNOWN_EVSE_FAULT_SEVERITY, code[:50])


def evse_io_codes(state: Mapping[str, Any]) -> frozenset[str]:
    """Active problems of one `evse_io.evse.<n>` state (its faults; a lost MCU link is one of them)."""
    faults = state.get("faults")
    names = [f[:50] for f in faults if isinstance(f, str)] if isinstance(faults, list) else []
    codes = set(sorted(set(names))[:MAX_FAULTS])  # a flood of made-up names stays small
    if state.get("link_up") is False:
        codes.add("mcu_link_lost")
    return frozenset(codes)


def meter_codes(state: Mapping[str, Any]) -> frozenset[str]:
    """Active problems of one `meter.<n>` state: offline (no complete reading), energy going backwards."""
    codes = set()
    if state.get("link") == "offline":
        codes.add("meter_offline")
    if state.get("fault") == "energy_went_backwards":
        codes.add("energy_went_backwards")
    return frozenset(codes)


def modem_codes(state: Mapping[str, Any]) -> frozenset[str]:
    """The modem's link when it is not ok (no_sim | offline | absent); a station without a modem must not
    feed this (absent would then be a permanent problem)."""
    link = state.get("link")
    return frozenset({link}) if link in ("no_sim", "offline", "absent") else frozenset()


def sources_of(component: str, variable: str) -> tuple[Problem, ...]:
    """Every row reported on that component/variable."""
    return tuple(p for p in PROBLEMS if (p.component, p.variable) == (component, variable))


PRECONFIGURED_SEVERITY = 9
Topology = Mapping[int, Sequence[int]]  # evse id → connector ids


def problem_targets(component: str, variable: str, scope: str, topology: Topology) -> list[Target]:
    if scope == "station":
        return [Target(component, variable)]
    if scope == "evse":
        return [Target(component, variable, evse_id=n) for n in sorted(topology)]
    return [Target(component, variable, evse_id=n, connector_id=m) for n in sorted(topology) for m in topology[n]]


def hard_wired_monitors(topology: Topology) -> list[FactoryMonitor]:
    severities: dict[tuple[str, str, str], int] = {}
    for p in PROBLEMS:
        if p.notification == HARD_WIRED_MONITOR:
            key = (p.component, p.variable, p.scope)
            severities[key] = min(severities.get(key, 9), p.severity)
    out = []
    for (component, variable, scope), severity in severities.items():
        for target in problem_targets(component, variable, scope, topology):
            out.append(FactoryMonitor(_key(HARD_WIRED, target), HARD_WIRED, target, Settings("Delta", 1.0, severity)))
    return out


def preconfigured_monitors(topology: Topology) -> list[FactoryMonitor]:
    targets = [Target("ChargingStation", "AvailabilityState")]
    targets += [Target("EVSE", "AvailabilityState", evse_id=n) for n in sorted(topology)]
    targets += [Target("Connector", "AvailabilityState", evse_id=n, connector_id=m)
                for n in sorted(topology) for m in topology[n]]
    settings = Settings("Delta", 1.0, PRECONFIGURED_SEVERITY)
    return [FactoryMonitor(_key(PRECONFIGURED, t), PRECONFIGURED, t, settings) for t in targets]


def factory_monitors(topology: Topology) -> list[FactoryMonitor]:
    return [*hard_wired_monitors(topology), *preconfigured_monitors(topology)]


def _key(kind: str, target: Target) -> str:
    return f"{kind}:{target.to_text()}"
