"""The registration gate every CSMS CALL passes, in both directions, and the gate of the outbound queue.

- `register(action, handler)`: while the CSMS has Rejected the BootNotification, every CSMS CALL is answered
  CALLERROR SecurityError (B03.FR.08). Pending and Accepted reach the handler (a handler that must refuse in
  Pending, e.g. RequestStartTransaction (B02.FR.08), checks `accepted`).
- `send(action, payload)`: a direct CALL that is not queued (Heartbeat, StatusNotification, NotifyReport, …).
  It goes only while the link is up and the boot Accepted (`in_pending=True`: also while Pending/Unknown, for
  what the CSMS asked for: NotifyReport, a triggered message); otherwise it is skipped and None returned.
  Errors (timeout, CALLERROR, link lost) are logged and give None too.
- the outbound queue is open while the link is up, the boot Accepted and the queue not held (`queue_held`:
  after each Accepted boot, until every connector's status is reported).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.link.rpc import Handler, Rpc
from services.ocpp_client.link.rpc_errors import CallError, CallTimeout, NotConnected

log = logging.getLogger("reon.ocpp")

#: How a block sends a direct CALL: `await send(action, payload, in_pending=False)` → response or None.
Send = Callable[..., Awaitable[dict[str, Any] | None]]
#: How a block answers CSMS CALLs: `register(action, handler)`.
Register = Callable[[str, Handler], None]


class CallGate:
    """Registration status (Unknown | Pending | Accepted | Rejected) and what it lets through."""

    def __init__(self, rpc: Rpc, queue: OutboundQueue, connected: Callable[[], bool], *,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.rpc = rpc
        self.queue = queue
        self._connected = connected
        self.on_change = on_change  # publish the csms state again
        self.registration = "Unknown"
        self.queue_held = True

    @property
    def accepted(self) -> bool:
        return self.registration == "Accepted"

    @property
    def connected(self) -> bool:
        return self._connected()

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
        Call after every block has registered its handlers; a later `register` still takes over."""
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
