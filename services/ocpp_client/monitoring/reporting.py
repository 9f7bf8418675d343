"""GetMonitoringReport (N02) → the response and the NotifyMonitoringReport pages to send after it.

Filters: monitoringCriteria (ThresholdMonitoring → Upper/LowerThreshold, DeltaMonitoring → Delta,
PeriodicMonitoring → Periodic/PeriodicClockAligned; absent: all) AND componentVariable (a component with
its instance/EVSE/connector as far as given, the variable when given; absent: all) (N02.FR.03-11). Only
active monitors are reported. One MonitoringDataType per component/variable with its monitors. Nothing
matches → EmptyResultSet NotFound (N02.FR.08/10); otherwise Accepted and pages with seqNo from 0, tbc on
all but the last, within ItemsPerMessage/BytesPerMessage (`split_pages` below).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.ocpp_client.device_model.paging import split_pages
from services.ocpp_client.monitoring.store import Monitor, MonitoringStore, Target

log = logging.getLogger("reon.ocpp.monitoring")

CRITERIA_TYPES = {
    "ThresholdMonitoring": ("UpperThreshold", "LowerThreshold"),
    "DeltaMonitoring": ("Delta",),
    "PeriodicMonitoring": ("Periodic", "PeriodicClockAligned"),
}
Payload = dict[str, Any]


@dataclass(frozen=True)
class MonitoringReport:
    response: Payload
    pages: list[Payload] = field(default_factory=list)


def monitoring_report(store: MonitoringStore, request: Payload, *, max_items: int, max_bytes: int,
                      generated_at: datetime, format_time: Callable[[datetime], str]) -> MonitoringReport:
    criteria = request.get("monitoringCriteria") or list(CRITERIA_TYPES)
    unknown = [c for c in criteria if c not in CRITERIA_TYPES]
    if unknown:
        return MonitoringReport({"status": "NotSupported", "statusInfo": {"reasonCode": "UnsupportedParam"}})
    types = {t for c in criteria for t in CRITERIA_TYPES[c]}
    selectors = request.get("componentVariable") or []
    grouped: dict[tuple[Any, ...], list[Monitor]] = {}
    for monitor in store.monitors():
        if monitor.settings.type in types and (not selectors or any(_selects(s, monitor.target) for s in selectors)):
            grouped.setdefault(monitor.target.key, []).append(monitor)
    if not grouped:
        return MonitoringReport({"status": "EmptyResultSet", "statusInfo": {"reasonCode": "NotFound"}})
    entries = [_monitoring_data(monitors) for monitors in grouped.values()]
    request_id = request["requestId"]
    stamp = format_time(generated_at)

    def payload(seq_no: int, tbc: bool, items: list[Payload]) -> Payload:
        return {"requestId": request_id, "generatedAt": stamp, "seqNo": seq_no, "tbc": tbc, "monitor": items}

    pages = split_pages("NotifyMonitoringReport", entries, payload, max_items=max_items, max_bytes=max_bytes)
    if pages.left_out:
        log.warning("monitoring report %s: %d entries too large for BytesPerMessage %d left out", request_id,
                    pages.left_out, max_bytes)
    return MonitoringReport({"status": "Accepted"}, pages.payloads)


def _monitoring_data(monitors: list[Monitor]) -> Payload:
    target = monitors[0].target
    return {"component": target.component_json(), "variable": target.variable_json(),
            "variableMonitoring": [m.to_ocpp() for m in monitors]}


def _selects(selector: Payload, target: Target) -> bool:
    component = selector["component"]
    if component["name"].casefold() != target.component.casefold():
        return False
    if "instance" in component and not _same(component["instance"], target.component_instance):
        return False
    evse = component.get("evse")
    if evse is not None:
        if evse["id"] != target.evse_id:
            return False
        if "connectorId" in evse and evse["connectorId"] != target.connector_id:
            return False
    variable = selector.get("variable")
    if variable is None:
        return True
    if variable["name"].casefold() != target.variable.casefold():
        return False
    return "instance" not in variable or _same(variable["instance"], target.variable_instance)


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").casefold() == (b or "").casefold()
