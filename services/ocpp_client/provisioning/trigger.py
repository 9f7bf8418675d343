"""TriggerMessage (F06): answer first, then send the requested message (rpc.Reply after_sent).

- BootNotification: Rejected once Accepted (F06.FR.17); else one is sent now, reason Triggered.
- Heartbeat; StatusNotification for one connector, the connectors of one EVSE, or all (evse omitted).
- MeterValues / TransactionEvent: through the transaction module's hooks (NotImplemented while it is absent).
- FirmwareStatusNotification / LogStatusNotification: the firmware service's `status` command
  ({"firmware": {"status", "request_id"?}, "log": {"status", "request_id"?}}); no firmware service → Idle.
- Anything else: NotImplemented (F06.FR.08). An unknown EVSE/connector: Rejected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bus.rpc import RpcError
from services.ocpp_client.availability.status import Availability
from services.ocpp_client.link.gate import CallGate
from services.ocpp_client.link.rpc import Reply
from services.ocpp_client.peers import Connectors, Peers
from services.ocpp_client.provisioning.boot import Boot
from services.ocpp_client.transactions.activity import MeterTrigger, TransactionActivity, TriggerWork

log = logging.getLogger("reon.ocpp.trigger")

FIRMWARE_DEADLINE_S = 3.0


class Trigger:
    def __init__(self, gate: CallGate, connectors: Connectors, peers: Peers, boot: Boot, availability: Availability,
                 transactions: TransactionActivity, meter_values: MeterTrigger) -> None:
        self.gate = gate
        self.connectors = connectors
        self.peers = peers
        self.transactions = transactions
        self.meter_values = meter_values
        self.boot = boot
        self.availability = availability
        gate.register("TriggerMessage", self.trigger_message)

    async def trigger_message(self, request: dict[str, Any]) -> Reply:
        requested = request["requestedMessage"]
        evse = request.get("evse") or {}
        evse_id, connector_id = evse.get("id"), evse.get("connectorId")
        needs_evse = requested in ("StatusNotification", "MeterValues", "TransactionEvent")
        if needs_evse and evse_id is not None and not self.connectors.has(evse_id, connector_id):
            return _answer("Rejected", "UnknownEvse")
        work = self._work(requested, evse_id, connector_id)
        if isinstance(work, str):
            return _answer(work)
        log.info("TriggerMessage %s accepted", requested)
        return Reply({"status": "Accepted"}, after_sent=work)

    def _work(self, requested: str, evse_id: int | None, connector_id: int | None) -> TriggerWork | str:
        """The work to run after the response, or the status to answer instead."""
        if requested == "BootNotification":
            if self.gate.accepted:
                return "Rejected"
            return self._boot
        if requested == "Heartbeat":
            return self._heartbeat
        if requested == "StatusNotification":
            return self._status_work(evse_id, connector_id)
        if requested in ("FirmwareStatusNotification", "LogStatusNotification"):
            return lambda: self._firmware_status(requested)
        hook: Callable[[int | None], TriggerWork | None] | None = {
            "MeterValues": self.meter_values.trigger_meter_values,
            "TransactionEvent": self.transactions.trigger_transaction_event,
        }.get(requested)
        if hook is None:
            return "NotImplemented"
        work = hook(evse_id)
        return work if work is not None else "Rejected"

    async def _boot(self) -> None:
        self.boot.trigger()

    async def _heartbeat(self) -> None:
        await self.boot.heartbeat()

    def _status_work(self, evse_id: int | None, connector_id: int | None) -> TriggerWork:
        targets = [(e, c) for e, c in self.connectors
                   if (evse_id is None or e == evse_id) and (connector_id is None or c == connector_id)]

        async def send() -> None:
            for e, c in targets:
                await self.availability.send_status(e, c, in_pending=True)

        return send

    async def _firmware_status(self, requested: str) -> None:
        part = "firmware" if requested == "FirmwareStatusNotification" else "log"
        status = await self._firmware_service_status()
        entry = status.get(part) if isinstance(status.get(part), dict) else {}
        payload: dict[str, Any] = {"status": entry.get("status") or "Idle"}
        if isinstance(entry.get("request_id"), int):
            payload["requestId"] = entry["request_id"]
        await self.gate.send(requested, payload, in_pending=True)

    async def _firmware_service_status(self) -> dict[str, Any]:
        if not self.peers.running("firmware"):
            return {}
        try:
            reply = await self.peers.call("firmware", "status", {}, deadline_s=FIRMWARE_DEADLINE_S)
        except RpcError as exc:
            log.warning("firmware status not available (%s): reporting Idle", exc)
            return {}
        return reply if isinstance(reply, dict) else {}


def _answer(status: str, reason_code: str | None = None) -> Reply:
    payload: dict[str, Any] = {"status": status}
    if reason_code:
        payload["statusInfo"] = {"reasonCode": reason_code}
    return Reply(payload)

