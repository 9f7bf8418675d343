"""Reset (B11/B12), performed through supervisord.

Station reset: ResetOrReboot is queued (durable), the next boot reason persisted (RemoteReset, or
ScheduledReset when it waited for transactions), the outbound queue given MessageTimeout to drain, then
supervisord restarts itself and every program (`supervisor.restart`), so the station boots as after power-up.
EVSE reset (decided): evse_io drives every EVSE's MCU, so resetting one EVSE restarts the evse_io program;
that would cut power on the other EVSEs, so an EVSE reset is Rejected while another EVSE has a transaction.
Restarting evse_io ends its sessions; the status and transaction modules hear it on the bus.
OnIdle with a transaction on the scope → Scheduled, persisted (`scheduled_reset`), performed once
transactions.active_transactions says 0 (also after a restart of this service). Immediate with a transaction →
Accepted, transactions.end_transactions(scope, "ImmediateReset") first (TransactionEvent Ended queued), then the reset.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any, Protocol

from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.link.gate import CallGate
from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.link.rpc import Reply
from services.ocpp_client.peers import Connectors
from services.ocpp_client.provisioning.boot import persist_next_reason
from services.ocpp_client.security.events import SecurityEvents
from services.ocpp_client.store import kv_get, kv_set
from services.ocpp_client.transactions.activity import TransactionActivity
from station.config import StationConfig

log = logging.getLogger("reon.ocpp.reset")

SCHEDULED_KEY = "scheduled_reset"
EVSE_PROGRAM = "evse_io"


class RestartFailed(Exception):
    """supervisord did not do the restart."""


class Restarter(Protocol):
    async def restart_station(self) -> None: ...

    async def restart_program(self, name: str) -> None: ...


class SupervisorRestarter:
    """Restarts through supervisord's XML-RPC socket in the run directory (station/supervisor.py)."""

    def __init__(self, config: StationConfig) -> None:
        self.config = config

    async def restart_station(self) -> None:
        await asyncio.to_thread(self._xmlrpc, lambda proxy: proxy.supervisor.restart())

    async def restart_program(self, name: str) -> None:
        def restart(proxy: Any) -> None:
            proxy.supervisor.stopProcess(name, True)
            proxy.supervisor.startProcess(name, False)

        await asyncio.to_thread(self._xmlrpc, restart)

    def _xmlrpc(self, action: Any) -> None:
        import xmlrpc.client

        from station.supervisor import proxy

        try:
            action(proxy(self.config))
        except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError) as exc:
            raise RestartFailed(f"supervisord: {exc}") from None


class Reset:
    """The Reset handler and the scheduled reset."""

    def __init__(self, db: sqlite3.Connection, dm: DeviceModel, gate: CallGate, queue: OutboundQueue,
                 security: SecurityEvents, connectors: Connectors, transactions: TransactionActivity,
                 restarter: Restarter) -> None:
        """`transactions`: ongoing ones (OnIdle waits for them, Immediate ends them, B11/B12)."""
        self.db = db
        self.dm = dm
        self.gate = gate
        self.queue = queue
        self.security = security
        self.connectors = connectors
        self.transactions = transactions
        self.restarter = restarter
        self._scheduled: asyncio.Task[None] | None = None
        gate.register("Reset", self.reset)

    def resume(self) -> None:
        """At start: a reset scheduled before the restart of this service is still waiting."""
        scheduled = kv_get(self.db, SCHEDULED_KEY)
        if scheduled is not None:
            log.info("a scheduled reset is pending (%s)", _scope(scheduled.get("evse_id")))
            self._schedule(scheduled.get("evse_id"))

    async def stop(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()

    async def reset(self, request: dict[str, Any]) -> Reply:
        evse_id = request.get("evseId") or None
        transactions = self.transactions
        if evse_id is not None:
            if not self.connectors.has(evse_id):
                return Reply({"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}})
            if transactions.active_transactions(None) > transactions.active_transactions(evse_id):
                info = "resetting an EVSE restarts evse_io: not while another EVSE has a transaction"
                return Reply({"status": "Rejected", "statusInfo": {"reasonCode": "TxInProgress",
                                                                   "additionalInfo": info}})
        busy = transactions.active_transactions(evse_id) > 0
        if busy and request["type"] == "OnIdle":
            kv_set(self.db, SCHEDULED_KEY, {"evse_id": evse_id})
            log.info("reset of %s scheduled: waiting for the transactions to end", _scope(evse_id))
            self._schedule(evse_id)
            return Reply({"status": "Scheduled"})
        kv_set(self.db, SCHEDULED_KEY, None)
        if self._scheduled is not None:
            self._scheduled.cancel()

        async def perform() -> None:
            if busy:
                await transactions.end_transactions(evse_id, "ImmediateReset")
            await self.perform(evse_id, "RemoteReset")

        return Reply({"status": "Accepted"}, after_sent=perform)

    def _schedule(self, evse_id: int | None) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
        self._scheduled = asyncio.create_task(self._when_idle(evse_id), name="ocpp-scheduled-reset")

    async def _when_idle(self, evse_id: int | None) -> None:
        await self.transactions.wait_until_idle(evse_id)
        kv_set(self.db, SCHEDULED_KEY, None)
        await self.perform(evse_id, "ScheduledReset")

    async def perform(self, evse_id: int | None, reason: str) -> None:
        """Restart the station (persisting `reason` for its BootNotification) or the EVSEs' program."""
        if evse_id is not None:
            log.info("resetting EVSE %d: restarting %s", evse_id, EVSE_PROGRAM)
            try:
                await self.restarter.restart_program(EVSE_PROGRAM)
            except RestartFailed as exc:
                log.error("EVSE reset failed: %s", exc)
            return
        persist_next_reason(self.db, reason)
        await self.security.report("ResetOrReboot", f"{reason} requested by the CSMS")
        if self.gate.connected and self.gate.accepted:
            timeout_s = float(self.dm.get_int("OCPPCommCtrlr", "MessageTimeout", variable_instance="Default"))
            await self.queue.drained(timeout_s)
        log.info("resetting the station (%s): restarting every program", reason)
        try:
            await self.restarter.restart_station()
        except RestartFailed as exc:
            log.error("station reset failed: %s", exc)
            persist_next_reason(self.db, "PowerUp")


def _scope(evse_id: int | None) -> str:
    return "the station" if evse_id is None else f"EVSE {evse_id}"
