"""What the rest of ocpp_client asks of the transaction, authorization and meter-value modules.

The glue works without them (defaults below: no transactions, nothing cached, triggers NotImplemented).
The transaction module replaces the fields it implements when it plugs in (see service.py
`plug_in_transactions`) and calls `transactions_changed()` whenever a transaction starts or ends, so a
scheduled reset or availability change can proceed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

#: The work that sends a triggered message, started once the TriggerMessageResponse is on the wire.
TriggerWork = Callable[[], Awaitable[None]]


def _no_transactions(evse_id: int | None = None) -> int:
    return 0


async def _nothing_to_end(evse_id: int | None, stopped_reason: str) -> None:
    return None


@dataclass
class TransactionHooks:
    """Filled by the transaction/authorization/meter-value modules; every field has a safe default."""

    #: Number of ongoing transactions, on one EVSE or (None) on the whole station.
    active_transactions: Callable[[int | None], int] = _no_transactions
    #: End the transactions of one EVSE or (None) all, with this stoppedReason (e.g. ImmediateReset); returns
    #: once their TransactionEvent Ended is queued (committed), not necessarily delivered.
    end_transactions: Callable[[int | None, str], Awaitable[None]] = _nothing_to_end
    #: TriggerMessage MeterValues for one EVSE or all (None): the work to run after the response, or None to
    #: answer Rejected. Left None: answered NotImplemented.
    trigger_meter_values: Callable[[int | None], TriggerWork | None] | None = None
    #: TriggerMessage TransactionEvent for one EVSE or all: as trigger_meter_values.
    trigger_transaction_event: Callable[[int | None], TriggerWork | None] | None = None
    #: ClearCache: empty the authorization cache; True when done. Left None: nothing is cached (Accepted).
    clear_auth_cache: Callable[[], Awaitable[bool]] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _listeners: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def transactions_changed(self) -> None:
        """Call after a transaction started or ended."""
        self._changed.set()
        for listener in list(self._listeners):
            listener()

    def on_transactions_changed(self, listener: Callable[[], None]) -> None:
        """Hear about every transactions_changed() (availability re-checks what it scheduled)."""
        self._listeners.append(listener)

    async def wait_until_idle(self, evse_id: int | None = None) -> None:
        """Return once no transaction is ongoing (on that EVSE, or anywhere)."""
        while self.active_transactions(evse_id) > 0:
            self._changed.clear()
            await self._changed.wait()
