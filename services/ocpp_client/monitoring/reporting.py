"""GetMonitoringReport (N02) → the response and the NotifyMonitoringReport pages to send after it.

Filters: monitoringCriteria (ThresholdMonitoring → Upper/LowerThreshold, DeltaMonitoring → Delta,
PeriodicMonitoring → Periodic/PeriodicClockAligned; absent: all) AND componentVariable (a component with
its instance/EVSE/connector as far as given, the variable when given; absent: all) (N02.FR.03-11). Only
active monitors are reported. One MonitoringDataType per component/variable with its monitors. Nothing
matches → EmptyResultSet NotFound (N02.FR.08/10); otherwise Accepted and pages with seqNo from 0, tbc on
all but the last, within ItemsPerMessage/BytesPerMessage (`split_pages` below).

Report entries → pages whose CALL frames respect ItemsPerMessage and BytesPerMessage exactly.

A page's size is measured on the OCPP-J CALL frame as REON sends it (`[2,"<uuid4>","Action",{payload}]`,
compact JSON, UTF-8), with the page's real seqNo and tbc counted as `false` (its longer spelling), so every
frame is at most `max_bytes` and a page is closed only when the next entry would not fit (at most one byte
early on a page with tbc true). An entry that cannot fit even alone is left out and
counted in `Pages.left_out` (the caller logs it); nothing else is dropped. Used for NotifyReport (B07/B08)
and NotifyMonitoringReport (N02).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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


MESSAGE_ID_CHARS = 36  # uuid4 text, as rpc.py numbers CALLs
Payload = dict[str, Any]
MakePayload = Callable[[int, bool, list[Payload]], Payload]  # (seqNo, tbc, entries) → payload


@dataclass(frozen=True)
class Pages:
    payloads: list[Payload]
    left_out: int = 0


def frame_bytes(action: str, payload: Payload) -> int:
    """Bytes of the CALL frame carrying `payload`."""
    frame = [2, "x" * MESSAGE_ID_CHARS, action, payload]
    return len(json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode())


def _entry_bytes(entry: Payload) -> int:
    return len(json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode())


def split_pages(action: str, entries: Sequence[Payload], make_payload: MakePayload, *, max_items: int,
                max_bytes: int) -> Pages:
    """Pages in order, seqNo from 0, tbc true on all but the last (none at all when there are no entries)."""
    max_items = max(1, max_items)
    pages: list[list[Payload]] = []
    page: list[Payload] = []
    page_bytes = 0
    left_out = 0
    for entry in entries:
        size = _entry_bytes(entry)
        empty_bytes = frame_bytes(action, make_payload(len(pages), False, []))
        if empty_bytes + size > max_bytes:
            left_out += 1
            continue
        if page and (len(page) >= max_items or empty_bytes + page_bytes + 1 + size > max_bytes):
            pages.append(page)
            page, page_bytes = [], 0
            empty_bytes = frame_bytes(action, make_payload(len(pages), False, []))
        page_bytes += size + (1 if page else 0)
        page.append(entry)
    if page:
        pages.append(page)
    last = len(pages) - 1
    payloads = [make_payload(seq_no, seq_no < last, items) for seq_no, items in enumerate(pages)]
    return Pages(payloads, left_out)


def notify_report_pages(request_id: int, generated_at: str, report_data: Sequence[Payload], *, max_items: int,
                        max_bytes: int) -> Pages:
    """NotifyReportRequest payloads (B07/B08) for these reportData entries, exact to the limits."""
    def payload(seq_no: int, tbc: bool, items: list[Payload]) -> Payload:
        return {"requestId": request_id, "generatedAt": generated_at, "seqNo": seq_no, "tbc": tbc,
                "reportData": items}

    return split_pages("NotifyReport", report_data, payload, max_items=max_items, max_bytes=max_bytes)
