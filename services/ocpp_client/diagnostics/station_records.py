"""CustomerRecords filled from the station's real stores (the assembly's side of customer_information.py):
the authorization cache and local list (authorization/store.py), the transaction records and the
TransactionEvents still in the outbound queue, the reservations.

Read only, except the cache entry and the reservations: a transaction record or an undelivered
TransactionEvent is the operator's billing data and the station's only copy until the CSMS has it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from services.ocpp_client.authorization.store import AuthStore, token_key
from services.ocpp_client.diagnostics.customer_information import CustomerInformation
from services.ocpp_client.diagnostics.records import CustomerRecords
from services.ocpp_client.link.gate import Register, Send
from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.reservation.reservations import Reservations
from services.ocpp_client.store import atomic
from services.ocpp_client.transactions.store import TransactionStore

QUEUE_SCAN_LIMIT = 10_000


def station_records(auth: AuthStore, txs: TransactionStore, queue: OutboundQueue, reservations: Reservations,
                    evse_ids: Iterable[int]) -> CustomerRecords:
    evse_ids = sorted(evse_ids)

    def find_transactions(token: Mapping[str, Any]) -> list[dict[str, Any]]:
        found = []
        for evse_id in evse_ids:
            record = txs.load(evse_id)
            if record is not None and record.tx is not None and token_key(record.id_token or {}) == token_key(token):
                found.append({"transaction_id": record.tx.transaction_id, "evse_id": evse_id, "state": "ongoing"})
        for message in queue.pending(limit=QUEUE_SCAN_LIMIT):
            payload = message.payload
            if message.action == "TransactionEvent" and token_key(payload.get("idToken") or {}) == token_key(token):
                found.append({"transaction_id": payload["transactionInfo"]["transactionId"],
                              "evse_id": (payload.get("evse") or {}).get("id"),
                              "state": f"{payload['eventType']} event not yet delivered to the CSMS"})
        return found

    def find_cache(token: Mapping[str, Any]) -> dict[str, Any] | None:
        entry = auth.cache_entry(token)
        return entry.id_token_info if entry is not None else None

    def clear_cache_entry(token: Mapping[str, Any]) -> bool:
        with atomic(auth.conn):
            if auth.cache_entry(token) is None:
                return False
            auth.delete_cache(token)
            return True

    def known_tokens() -> list[dict[str, Any]]:
        return auth.known_tokens() + [r.id_token for r in reservations.all()]

    return CustomerRecords(
        find_cache_entry=find_cache, clear_cache_entry=clear_cache_entry, find_local_entry=auth.local_entry,
        find_transactions=find_transactions,
        find_reservations=lambda token: [r.as_dict() for r in reservations.for_token(token)],
        clear_reservations=reservations.remove_for_token, known_tokens=known_tokens)


def customer_information(register: Register, send: Send, now: Callable[[], datetime], records: CustomerRecords
                         ) -> CustomerInformation:
    """The CustomerInformation handler (N09/N10), registered; its pages go out through `send`."""
    block = CustomerInformation(records, send=send, now=now)
    for action, handler in block.handlers().items():
        register(action, handler)
    return block
