"""What every functional-block module of ocpp_client shares: the link, the database, the device model, the
clock, the outbound queue, the registration status and the hooks of the transaction module.

Two rules live here once:
- `register(action, handler)`: while the CSMS has Rejected the BootNotification, every CSMS CALL is answered
  CALLERROR SecurityError (B03.FR.08). Pending and Accepted reach the handler (a handler that must refuse in
  Pending, e.g. RequestStartTransaction (B02.FR.08), checks `ctx.accepted`).
- `send(action, payload)`: a direct CALL that is not queued (Heartbeat, StatusNotification, NotifyReport, …).
  It goes only while the link is up and the boot Accepted (`in_pending=True`: also while Pending/Unknown, for
  what the CSMS asked for: NotifyReport, a triggered message); otherwise it is skipped and None returned.
  Errors (timeout, CALLERROR, link lost) are logged and give None too.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bus.runtime import Service
from services.ocpp_client.clock import StationClock
from services.ocpp_client.csms_link import CsmsLink
from services.ocpp_client.device_model import DeviceModel
from services.ocpp_client.hooks import TransactionHooks
from services.ocpp_client.queue import OutboundQueue
from services.ocpp_client.rpc import Handler, Rpc
from services.ocpp_client.rpc_errors import CallError, CallTimeout, NotConnected
from services.ocpp_client.security import SecurityEvents
from station.config import StationConfig

log = logging.getLogger("reon.ocpp")


@dataclass
class OcppContext:
    config: StationConfig
    service: Service
    db: sqlite3.Connection
    dm: DeviceModel
    clock: StationClock
    link: CsmsLink
    queue: OutboundQueue
    security: SecurityEvents
    hooks: TransactionHooks = field(default_factory=TransactionHooks)
    registration: str = "Unknown"  # Unknown | Pending | Accepted | Rejected
    #: After each Accepted boot, until every connector's status is reported (service.py), the outbound queue
    #: and the reporting of single status changes wait.
    queue_held: bool = True
    on_change: Callable[[], None] = lambda: None  # publish the csms state again

    @property
    def rpc(self) -> Rpc:
        return self.link.rpc

    @property
    def accepted(self) -> bool:
        return self.registration == "Accepted"

    @property
    def connected(self) -> bool:
        return self.link.up.is_set()

    def connectors(self) -> list[tuple[int, int]]:
        """Every (evse id, connector id) of the station, in order."""
        return [(evse.id, connector.id) for evse in self.config.evses for connector in evse.connectors]

    def has_connector(self, evse_id: int, connector_id: int | None = None) -> bool:
        return any(e == evse_id and (connector_id is None or c == connector_id) for e, c in self.connectors())

    def set_registration(self, status: str) -> None:
        if status != self.registration:
            log.info("registration status at the CSMS: %s → %s", self.registration, status)
            self.registration = status
            if status != "Accepted":
                self.queue_held = True
            self.update_gate()

    def update_gate(self) -> None:
        """Open the outbound queue while the link is up, the boot Accepted and the queue not held."""
        self.queue.set_open(self.connected and self.accepted and not self.queue_held)
        self.on_change()

    def register(self, action: str, handler: Handler) -> None:
        """Answer CSMS CALLs of `action` (SecurityError while Rejected)."""
        async def gated(payload: dict[str, Any]) -> Any:
            if self.registration == "Rejected":
                raise CallError("SecurityError", "the CSMS rejected this station's BootNotification")
            return await handler(payload)

        self.rpc.register(action, gated)

    def refuse_unhandled(self) -> None:
        """Every other OCPP action: NotSupported, and SecurityError while Rejected (B03.FR.08 covers all CALLs).
        Call after every module has registered its handlers; a later `register` still takes over."""
        async def not_supported(payload: dict[str, Any]) -> Any:
            raise CallError("NotSupported", "this station does not support it")

        for action in sorted(self.rpc.unsupported_actions):
            self.register(action, not_supported)

    async def send(self, action: str, payload: dict[str, Any], *, in_pending: bool = False) -> dict[str, Any] | None:
        """A direct (not queued) CALL; None when skipped or failed (see the module docstring)."""
        if not self.connected or not (self.accepted or (in_pending and self.registration != "Rejected")):
            log.info("%s not sent: %s", action, "CSMS link down" if not self.connected
                     else f"registration {self.registration}")
            return None
        try:
            return await self.rpc.call(action, payload)
        except (NotConnected, CallTimeout, CallError) as exc:
            log.warning("%s not delivered: %s", action, exc)
            return None
