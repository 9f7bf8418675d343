"""Counters of transactions and authorizations since the service started, published in `ocpp.state.transactions`
for the metrics exporter: transactions started, ended by stoppedReason, authorizations by idTokenInfo status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TxCounts:
    def __init__(self) -> None:
        self.started = 0
        self.ended: dict[str, int] = {}
        self.authorizations: dict[str, int] = {}

    def queued(self, payload: Mapping[str, Any]) -> None:
        """A TransactionEventRequest was queued: count Started and Ended (by stoppedReason, Local if absent)."""
        if payload.get("eventType") == "Started":
            self.started += 1
        elif payload.get("eventType") == "Ended":
            reason = str(payload.get("transactionInfo", {}).get("stoppedReason") or "Local")
            self.ended[reason] = self.ended.get(reason, 0) + 1

    def authorized(self, accepted: bool, info: Mapping[str, Any] | None) -> None:
        """One authorization decided: by idTokenInfo.status (Unknown when no status is known)."""
        status = str((info or {}).get("status") or ("Accepted" if accepted else "Unknown"))
        self.authorizations[status] = self.authorizations.get(status, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        return {"started": self.started, "ended": dict(self.ended), "authorizations": dict(self.authorizations)}
