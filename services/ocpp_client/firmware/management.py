"""Firmware management (L01/L02) and log upload (N01) on the OCPP side; the work is reon-firmware's.

- UpdateFirmware / GetLog are passed to the firmware service's `update_firmware` / `get_log`; its answer is
  the response (no firmware service: Rejected). UpdateFirmware carries the ManufacturerRootCertificates the
  CSMS installed (InstallCertificate, PEM): the firmware service trusts them as well as its configured root.
- The firmware service's durable stream `status` is consumed (cursor in ocpp.db), one handler per kind its
  contract declares (entries checked against the declaration before they are handled): each becomes a
  FirmwareStatusNotification, LogStatusNotification or SecurityEventNotification in the durable outbound
  queue, in the same SQLite transaction that moves the cursor, so none is lost or doubled by a restart.
- `ocpp.state.transactions {active}` tells the firmware service when an install may start (it waits for 0).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from bus.client import BusClient
from bus.durable import DurableConsumer, declared_stream
from bus.rpc import RpcError
from services.ocpp_client.link.gate import CallGate
from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.peers import Peers
from services.ocpp_client.security.events import SecurityEvents

log = logging.getLogger("reon.ocpp.firmware")

PRODUCER = "firmware"
STREAM = "status"
CONSUMER = "ocpp"
QUEUE_KIND = "firmware"
DEADLINE_S = 5.0

# The kinds of entry of the firmware service's `status` stream, as its contract declares them (no import).
StatusKind = declared_stream(PRODUCER, STREAM).enum()
NOTIFICATIONS = {StatusKind.FIRMWARE_STATUS: "FirmwareStatusNotification",
                 StatusKind.LOG_STATUS: "LogStatusNotification"}


class FirmwareManagement:
    def __init__(self, bus: BusClient, db: sqlite3.Connection, gate: CallGate, queue: OutboundQueue,
                 security: SecurityEvents, peers: Peers,
                 manufacturer_roots: Callable[[], list[str]] = list) -> None:
        """`bus` and `db`: the durable consumer of the firmware service's status stream (cursor in `db`);
        `manufacturer_roots`: the installed ManufacturerRootCertificates, PEM, read at each UpdateFirmware."""
        self.queue = queue
        self.manufacturer_roots = manufacturer_roots
        self.security = security
        self.peers = peers
        # one handler per declared kind: DurableConsumer refuses a map that differs from the declaration
        self.consumer = DurableConsumer(bus, db, PRODUCER, STREAM, CONSUMER, {
            StatusKind.FIRMWARE_STATUS: self._on_status, StatusKind.LOG_STATUS: self._on_status,
            StatusKind.SECURITY_EVENT: self._on_security_event})
        queue.register_kind(QUEUE_KIND)
        gate.register("UpdateFirmware", self.update_firmware)
        gate.register("GetLog", self.get_log)

    def start(self) -> None:
        self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def update_firmware(self, request: dict[str, Any]) -> dict[str, Any]:
        reply = await self._call("update_firmware", request, manufacturer_roots=self.manufacturer_roots())
        return _response(reply, reply.get("status", "Rejected"))

    async def get_log(self, request: dict[str, Any]) -> dict[str, Any]:
        reply = await self._call("get_log", request)
        response = _response(reply, reply.get("status", "Rejected"))
        if reply.get("filename"):
            response["filename"] = str(reply["filename"])[:255]
        return response

    async def _call(self, command: str, request: dict[str, Any], **extra: Any) -> dict[str, Any]:
        if not self.peers.running(PRODUCER):
            return {"status": "Rejected", "reason": "the firmware service is not running"}
        try:
            reply = await self.peers.call(PRODUCER, command, {"request": request, **extra}, deadline_s=DEADLINE_S)
        except RpcError as exc:
            log.warning("firmware %s failed: %s", command, exc)
            return {"status": "Rejected", "reason": f"firmware service: {exc.code}"}
        return reply if isinstance(reply, dict) else {}

    async def _on_status(self, entry: dict[str, Any], conn: sqlite3.Connection) -> None:
        """firmware_status / log_status → a status notification queued with the consumer's cursor (one SQLite
        transaction). Never suspends: the consumer's transaction on the shared connection is open meanwhile.
        The entry was checked against the firmware contract before it got here."""
        data = entry["data"]
        payload: dict[str, Any] = {"status": data["status"]}
        if isinstance(data.get("request_id"), int):
            payload["requestId"] = data["request_id"]
        self.queue.put_nowait(NOTIFICATIONS[entry["name"]], payload, kind=QUEUE_KIND, conn=conn)

    async def _on_security_event(self, entry: dict[str, Any], conn: sqlite3.Connection) -> None:
        """security_event → a SecurityEventNotification, committed with the consumer's cursor."""
        data = entry["data"]
        await self.security.report(str(data["type"]), data.get("tech_info"), conn=conn)


def _response(reply: dict[str, Any], status: str) -> dict[str, Any]:
    response: dict[str, Any] = {"status": status}
    if reply.get("reason"):
        response["statusInfo"] = {"reasonCode": "Unspecified", "additionalInfo": str(reply["reason"])[:512]}
    return response
