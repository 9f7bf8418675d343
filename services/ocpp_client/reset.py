"""Reset (B11/B12), performed through supervisord.

Station reset: ResetOrReboot is queued (durable), the next boot reason persisted (RemoteReset, or
ScheduledReset when it waited for transactions), the outbound queue given MessageTimeout to drain, then
supervisord restarts itself and every program (`supervisor.restart`), so the station boots as after power-up.
EVSE reset (decided): evse_io drives every EVSE's MCU, so resetting one EVSE restarts the evse_io program;
that would cut power on the other EVSEs, so an EVSE reset is Rejected while another EVSE has a transaction.
Restarting evse_io ends its sessions; the status and transaction modules hear it on the bus.
OnIdle with a transaction on the scope → Scheduled, persisted (`scheduled_reset`), performed once
hooks.active_transactions says 0 (also after a restart of this service). Immediate with a transaction →
Accepted, hooks.end_transactions(scope, "ImmediateReset") first (TransactionEvent Ended queued), then the reset.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from services.ocpp_client.boot import persist_next_reason
from services.ocpp_client.context import OcppContext
from services.ocpp_client.rpc import Reply
from services.ocpp_client.store import kv_get, kv_set
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
    """Restarts through supervisord's XML-RPC socket in the run directory (reonctl/supervisor.py)."""

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

    def __init__(self, ctx: OcppContext, restarter: Restarter) -> None:
        self.ctx = ctx
        self.restarter = restarter
        self._scheduled: asyncio.Task[None] | None = None
        ctx.register("Reset", self.reset)

    def resume(self) -> None:
        """At start: a reset scheduled before the restart of this service is still waiting."""
        scheduled = kv_get(self.ctx.db, SCHEDULED_KEY)
        if scheduled is not None:
            log.info("a scheduled reset is pending (%s)", _scope(scheduled.get("evse_id")))
            self._schedule(scheduled.get("evse_id"))

    async def stop(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()

    async def reset(self, request: dict[str, Any]) -> Reply:
        evse_id = request.get("evseId") or None
        hooks = self.ctx.hooks
        if evse_id is not None:
            if not self.ctx.has_connector(evse_id):
                return Reply({"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}})
            if hooks.active_transactions(None) > hooks.active_transactions(evse_id):
                info = "resetting an EVSE restarts evse_io: not while another EVSE has a transaction"
                return Reply({"status": "Rejected", "statusInfo": {"reasonCode": "TxInProgress",
                                                                   "additionalInfo": info}})
        busy = hooks.active_transactions(evse_id) > 0
        if busy and request["type"] == "OnIdle":
            kv_set(self.ctx.db, SCHEDULED_KEY, {"evse_id": evse_id})
            log.info("reset of %s scheduled: waiting for the transactions to end", _scope(evse_id))
            self._schedule(evse_id)
            return Reply({"status": "Scheduled"})
        kv_set(self.ctx.db, SCHEDULED_KEY, None)
        if self._scheduled is not None:
            self._scheduled.cancel()

        async def perform() -> None:
            if busy:
                await hooks.end_transactions(evse_id, "ImmediateReset")
            await self.perform(evse_id, "RemoteReset")

        return Reply({"status": "Accepted"}, after_sent=perform)

    def _schedule(self, evse_id: int | None) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
        self._scheduled = asyncio.create_task(self._when_idle(evse_id), name="ocpp-scheduled-reset")

    async def _when_idle(self, evse_id: int | None) -> None:
        await self.ctx.hooks.wait_until_idle(evse_id)
        kv_set(self.ctx.db, SCHEDULED_KEY, None)
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
        persist_next_reason(self.ctx.db, reason)
        await self.ctx.security.report("ResetOrReboot", f"{reason} requested by the CSMS")
        if self.ctx.connected and self.ctx.accepted:
            timeout_s = float(self.ctx.dm.get_int("OCPPCommCtrlr", "MessageTimeout", variable_instance="Default"))
            await self.ctx.queue.drained(timeout_s)
        log.info("resetting the station (%s): restarting every program", reason)
        try:
            await self.restarter.restart_station()
        except RestartFailed as exc:
            log.error("station reset failed: %s", exc)
            persist_next_reason(self.ctx.db, "PowerUp")


def _scope(evse_id: int | None) -> str:
    return "the station" if evse_id is None else f"EVSE {evse_id}"
