"""The CSMS CALLs of this block: SetMonitoringBase (N03), SetMonitoringLevel (N05), SetVariableMonitoring (N04),
ClearVariableMonitoring (N06), GetMonitoringReport (N02), and DataTransfer for vendorId REWATT (P01).

`handlers()` maps each action to `async (request) -> response`; GetMonitoringReport returns a `Reply` whose
after-sent work sends the NotifyMonitoringReport pages through `send` (a page not delivered stops the rest).
SetMonitoringLevel outside 0-9 → Rejected ValueOutOfRange (N05.FR.02); any base of the schema is Accepted.

DataTransfer REWATT (register `rewatt_data_transfer` with the DataTransfer dispatcher for vendorId REWATT, or
answer DataTransfer with `data_transfer`, which says UnknownVendorId to any other vendor, P01.FR.04):
- messageId `Health`: the station's health summary (the document `reonctl status --json` prints) in `data`;
- messageId `Problems`: the hardware problems reported now, by variable, and the events dropped offline;
- any other or no messageId → UnknownMessageId (P01.FR.05). A failing health source → Rejected.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from services.ocpp_client.link.rpc import Reply
from services.ocpp_client.monitoring.reporting import monitoring_report
from services.ocpp_client.monitoring.setting import MonitorSetter
from services.ocpp_client.monitoring.store import MonitoringStore
from services.ocpp_client.monitoring.variables import SEVERITY_MAX, SEVERITY_MIN

log = logging.getLogger("reon.ocpp.monitoring")

VENDOR_ID = "REWATT"
Payload = dict[str, Any]
Send = Callable[[str, Payload], Awaitable[Payload | None]]
Health = Callable[[], Payload | Awaitable[Payload]]


class MonitoringHandlers:
    def __init__(self, store: MonitoringStore, setter: MonitorSetter, *, send: Send,
                 report_limits: Callable[[], tuple[int, int]], now: Callable[[], datetime],
                 format_time: Callable[[datetime], str], health: Health) -> None:
        self._store = store
        self._setter = setter
        self._send = send
        self._report_limits = report_limits
        self._now = now
        self._format_time = format_time
        self._health = health

    def handlers(self) -> dict[str, Callable[[Payload], Awaitable[Payload | Reply]]]:
        return {
            "SetMonitoringBase": self.set_monitoring_base,
            "SetMonitoringLevel": self.set_monitoring_level,
            "SetVariableMonitoring": self.set_variable_monitoring,
            "ClearVariableMonitoring": self.clear_variable_monitoring,
            "GetMonitoringReport": self.get_monitoring_report,
        }

    async def set_monitoring_base(self, request: Payload) -> Payload:
        base = request["monitoringBase"]
        if base not in ("All", "FactoryDefault", "HardWiredOnly"):
            return {"status": "NotSupported", "statusInfo": {"reasonCode": "UnsupportedParam"}}
        self._store.set_base(base)
        log.info("monitoring base %s", base)
        return {"status": "Accepted"}

    async def set_monitoring_level(self, request: Payload) -> Payload:
        severity = request["severity"]
        if not SEVERITY_MIN <= severity <= SEVERITY_MAX:
            log.info("SetMonitoringLevel %d refused: outside %d-%d", severity, SEVERITY_MIN, SEVERITY_MAX)
            return {"status": "Rejected", "statusInfo": {"reasonCode": "ValueOutOfRange"}}
        self._store.set_level(severity)
        log.info("monitoring level %d", severity)
        return {"status": "Accepted"}

    async def set_variable_monitoring(self, request: Payload) -> Payload:
        return self._setter.set_variable_monitoring(request)

    async def clear_variable_monitoring(self, request: Payload) -> Payload:
        return self._setter.clear_variable_monitoring(request)

    async def get_monitoring_report(self, request: Payload) -> Payload | Reply:
        max_items, max_bytes = self._report_limits()
        report = monitoring_report(self._store, request, max_items=max_items, max_bytes=max_bytes,
                                   generated_at=self._now(), format_time=self._format_time)
        pages = report.pages
        if not pages:
            return report.response

        async def send_pages() -> None:
            for page in pages:
                if await self._send("NotifyMonitoringReport", page) is None:
                    log.warning("NotifyMonitoringReport %d: page %d of %d not delivered; the rest is not sent",
                                page["requestId"], page["seqNo"] + 1, len(pages))
                    return

        return Reply(report.response, after_sent=send_pages)

    # ----- DataTransfer -----------------------------------------------------------------------------

    async def data_transfer(self, request: Payload) -> Payload:
        if request["vendorId"] != VENDOR_ID:
            return {"status": "UnknownVendorId"}
        return await self.rewatt_data_transfer(request)

    async def rewatt_data_transfer(self, request: Payload) -> Payload:
        message_id = request.get("messageId")
        if message_id == "Health":
            try:
                health = self._health()
                if inspect.isawaitable(health):
                    health = await health
            except Exception as exc:  # the health source is another part of the station: answer, never crash
                log.warning("REWATT Health: the health summary failed: %s", exc)
                return {"status": "Rejected", "statusInfo": {"reasonCode": "InternalError",
                                                             "additionalInfo": str(exc)[:512]}}
            return {"status": "Accepted", "data": health}
        if message_id == "Problems":
            return {"status": "Accepted", "data": {"problems": self._store.all_problems(),
                                                   "events_dropped_offline": self._store.dropped_offline()}}
        return {"status": "UnknownMessageId"}
