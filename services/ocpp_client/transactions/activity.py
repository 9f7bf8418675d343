"""What the transactions block offers the other blocks (availability, reset, trigger, remote commands, the
service's state), as Protocols: they receive the object at construction and call it when they need it.

transactions/service.py (`TransactionService`) implements `TransactionActivity`; meter_values/service.py
(`MeterService`) implements `MeterTrigger`; authorization/service.py (`AuthService`) implements `AuthCache`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

#: The work that sends a triggered message, started once the TriggerMessageResponse is on the wire.
TriggerWork = Callable[[], Awaitable[None]]


class TransactionActivity(Protocol):
    def active_transactions(self, evse_id: int | None = None) -> int:
        """Number of ongoing transactions, on one EVSE or (None) on the whole station."""

    async def end_transactions(self, evse_id: int | None, stopped_reason: str) -> None:
        """End the transactions of one EVSE or (None) all, with this stoppedReason (e.g. ImmediateReset);
        returns once their TransactionEvent Ended is queued (committed), not necessarily delivered."""

    async def wait_until_idle(self, evse_id: int | None = None) -> None:
        """Return once no transaction is ongoing (on that EVSE, or anywhere)."""

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each transaction start or end."""

    def trigger_transaction_event(self, evse_id: int | None) -> TriggerWork | None:
        """TriggerMessage TransactionEvent: the work to run after the response, or None to answer Rejected."""


class MeterTrigger(Protocol):
    def trigger_meter_values(self, evse_id: int | None) -> TriggerWork | None:
        """TriggerMessage MeterValues: the work to run after the response, or None to answer Rejected."""


class AuthCache(Protocol):
    async def clear_cache(self) -> bool:
        """ClearCache: empty the authorization cache; True when done."""
