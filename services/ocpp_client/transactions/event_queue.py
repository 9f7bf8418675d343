"""TransactionEvents on the durable outbound queue (E, E14): queued inside the state machine's SQLite
transaction (seqNo never skips or repeats), sent after the connector status change their evse_io fact caused
(E02/E03), their responses' idTokenInfo handed back (E05, C10), dead letters logged; and the counters of what
was queued and authorized, published in `ocpp.state.transactions`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from services.ocpp_client.link.outbound_queue import OutboundQueue, QueuedMessage
from services.ocpp_client.meter_values.sampling import parse_utc
from services.ocpp_client.transactions.events import UPDATED, with_offline

log = logging.getLogger("reon.ocpp.transactions")

QUEUE_KIND = "transaction"


class StatusOrder(Protocol):
    """What puts connector status changes before the TransactionEvents (availability/status.py Availability)."""

    async def status_first(self, evse_id: int, at_s: float) -> None: ...


class TxCounts:
    """Counters since the service started, for the metrics exporter: transactions started, ended by
    stoppedReason, authorizations by idTokenInfo status."""

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


#: on_id_token_info(sent id token, idTokenInfo, transaction id): a TransactionEventResponse carried idTokenInfo.
IdTokenInfoSink = Callable[[Mapping[str, Any], Mapping[str, Any], str], None]


class TransactionEventQueue:
    """The transactions block's kind of message on the outbound queue."""

    def __init__(self, queue: OutboundQueue, counts: TxCounts, on_id_token_info: IdTokenInfoSink) -> None:
        self.queue = queue
        self.counts = counts
        self._on_id_token_info = on_id_token_info
        self.status_order: StatusOrder | None = None  # availability's, set by service.py (it needs this block)
        self.from_session = False  # a session fact is being handled: its events wait for its status change
        queue.register_kind(QUEUE_KIND, rewrite=lambda m: with_offline(m.payload, m.offline),
                            on_delivered=self._on_delivered, on_dead_letter=self._on_dead_letter,
                            before_send=self._status_first)

    def enqueue(self, conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
        """The state machine's enqueue: inside its SQLite transaction, no commit here."""
        info = payload["transactionInfo"]
        event_type = payload["eventType"]
        self.queue.put_nowait("TransactionEvent", payload, kind=QUEUE_KIND, conn=conn,
                              meta={"transaction_id": info["transactionId"], "seq_no": payload["seqNo"],
                                    "event_type": event_type, "status_first": self.from_session},
                              droppable=event_type == UPDATED)
        self.counts.queued(payload)
        log.info("EVSE %s: TransactionEvent %s seqNo %d (%s, %s) queued for transaction %s",
                 payload.get("evse", {}).get("id", "?"), event_type, payload["seqNo"], payload["triggerReason"],
                 info.get("chargingState", "-"), info["transactionId"])

    def pending(self, transaction_id: str | None) -> bool:
        """Messages of that transaction (None: of any) are still queued (E14)."""
        meta = {"transaction_id": transaction_id} if transaction_id is not None else {}
        return self.queue.count_pending(QUEUE_KIND, **meta) > 0

    async def _status_first(self, message: QueuedMessage) -> None:
        """Queue hook: a TransactionEvent caused by an evse_io fact leaves after the status change the fact
        caused (E02/E03; availability/status.py)."""
        evse = message.payload.get("evse")
        if self.status_order is None or not message.meta.get("status_first") or not isinstance(evse, Mapping):
            return
        await self.status_order.status_first(evse["id"], parse_utc(message.payload["timestamp"]))

    def _on_delivered(self, message: QueuedMessage, response: dict[str, Any], conn: sqlite3.Connection) -> None:
        """TransactionEventResponse.idTokenInfo: into the cache and to the state machine (E05, C10)."""
        info = response.get("idTokenInfo") if isinstance(response, dict) else None
        sent = message.payload.get("idToken")
        if not info or not sent:
            return
        self._on_id_token_info(sent, info, message.payload["transactionInfo"]["transactionId"])

    def _on_dead_letter(self, message: QueuedMessage, error: str, conn: sqlite3.Connection) -> None:
        log.error("TransactionEvent seqNo %s of transaction %s will never reach the CSMS: %s",
                  message.meta.get("seq_no"), message.meta.get("transaction_id"), error)
