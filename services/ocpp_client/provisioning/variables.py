"""Device-model requests of the CSMS (B05–B08) on the link: reports.py does the work, this module answers and
sends the NotifyReport pages after the response (also while Pending: the CSMS asked for them, B02).

A BasicAuthPassword accepted by SetVariables takes effect after the SetVariablesResponse is on the wire
(link/csms_link.py reconnects with it, A01).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from services.ocpp_client.device_model import reports
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.link.gate import CallGate
from services.ocpp_client.link.rpc import Reply

log = logging.getLogger("reon.ocpp.provisioning")


class Provisioning:
    """GetVariables, SetVariables, GetBaseReport, GetReport."""

    def __init__(self, dm: DeviceModel, gate: CallGate, apply_pending_password: Callable[[], Awaitable[None]]) -> None:
        """`apply_pending_password`: after a SetVariables response is sent, reconnect with a new
        BasicAuthPassword (link/csms_link.py)."""
        self.dm = dm
        self.gate = gate
        self._apply_pending_password = apply_pending_password
        gate.register("GetVariables", self.get_variables)
        gate.register("SetVariables", self.set_variables)
        gate.register("GetBaseReport", self.get_base_report)
        gate.register("GetReport", self.get_report)

    async def get_variables(self, request: dict[str, Any]) -> dict[str, Any]:
        return reports.get_variables(self.dm, request)

    async def set_variables(self, request: dict[str, Any]) -> Reply:
        response = reports.set_variables(self.dm, request)
        return Reply(response, after_sent=self._apply_pending_password)

    async def get_base_report(self, request: dict[str, Any]) -> Reply:
        return self._report_reply(reports.get_base_report(self.dm, request))

    async def get_report(self, request: dict[str, Any]) -> Reply:
        return self._report_reply(reports.get_report(self.dm, request))

    def _report_reply(self, reply: reports.ReportReply) -> Reply:
        pages = reply.notify_reports
        if not pages:
            return Reply(reply.response)

        async def send_pages() -> None:
            for page in pages:
                if await self.gate.send("NotifyReport", page, in_pending=True) is None:
                    log.warning("NotifyReport %d: page %d of %d not delivered; the rest is not sent",
                                page["requestId"], page["seqNo"] + 1, len(pages))
                    return

        return Reply(reply.response, after_sent=send_pages)
