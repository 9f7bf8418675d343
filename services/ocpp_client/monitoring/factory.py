"""The monitors the station brings (N03): hard-wired ones and the preconfigured (FactoryDefault) ones.

- Hard-wired: one Delta monitor (value 1) per problem variable of problems.py that has HardWiredMonitor rows,
  per EVSE / connector, with the most severe severity of those rows. They cannot be cleared or changed
  (N06.FR.03) and stay under every monitoring base.
- Preconfigured: Delta on AvailabilityState of the ChargingStation, each EVSE and each connector, severity 9
  (Debug: reported only when the level is raised to 9). A CSMS may overrule them by id (N04.FR.15), clear
  them, and get them back with SetMonitoringBase FactoryDefault; HardWiredOnly switches them off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.ocpp_client.monitoring.problems import HARD_WIRED_MONITOR, PROBLEMS
from services.ocpp_client.monitoring.store import HARD_WIRED, PRECONFIGURED, FactoryMonitor, Settings, Target

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
