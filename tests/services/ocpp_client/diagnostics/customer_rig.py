"""The customer-information block on one real ocpp.db holding the authorization tables, the transaction
records, the durable outbound queue and the reservations; NotifyCustomerInformation pages are collected.
CustomerRecords come from `station_records`, as in the service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.ocpp_client.authorization.store import AuthStore
from services.ocpp_client.diagnostics.customer_information import CustomerInformation
from services.ocpp_client.diagnostics.station_records import station_records
from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.link.payload_schema import request_violation, response_violation
from services.ocpp_client.link.rpc import Reply
from services.ocpp_client.reservation.reservations import Reservations
from services.ocpp_client.store import atomic, open_store
from services.ocpp_client.transactions.model import EvseRecord, Tx
from services.ocpp_client.transactions.store import TransactionStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = {"idToken": "04A1B2C3", "type": "ISO14443"}
OTHER = {"idToken": "0BADCAFE", "type": "ISO14443"}
ACCEPTED = {"status": "Accepted"}


class CustomerRig:
    def __init__(self, data_dir: Path) -> None:
        self.conn = open_store(data_dir)
        self.auth = AuthStore(self.conn)
        self.txs = TransactionStore(self.conn)
        self.queue = OutboundQueue(self.conn, self._never, max_attempts=lambda: 3, attempt_interval_s=lambda: 1.0)
        self.reservations = Reservations(self.conn, evses={1: ("sType2",), 2: ("sType2",)},
                                         evse_state=lambda evse_id: "Available", setting=lambda name: True,
                                         queue_put=self.queue.put_nowait, now=lambda: T0)
        self.block = CustomerInformation(
            station_records(self.auth, self.txs, self.queue, self.reservations, [1, 2]),
            send=self._send, now=lambda: T0)
        self.pages: list[dict[str, Any]] = []
        self.deliver = True

    async def _never(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("the queue is never opened here")

    async def _send(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        assert action == "NotifyCustomerInformation"
        assert request_violation(action, payload) is None, payload
        self.pages.append(payload)
        return {} if self.deliver else None

    async def request(self, **fields: Any) -> dict[str, Any]:
        """CustomerInformation: the response; the pages (sent after it) land in self.pages."""
        payload = {"requestId": 7, "report": True, "clear": False, **fields}
        assert request_violation("CustomerInformation", payload) is None, payload
        self.pages = []
        reply = await self.block.customer_information(payload)
        assert isinstance(reply, Reply)
        assert response_violation("CustomerInformation", reply.payload) is None, reply.payload
        if reply.after_sent is not None:
            await reply.after_sent()
        return reply.payload

    def data(self) -> str:
        return "\n".join(page["data"] for page in self.pages)

    # ---- what the station holds -------------------------------------------------------------------

    def cache(self, token: dict[str, Any]) -> None:
        with atomic(self.conn):
            self.auth.put_cache(token, ACCEPTED, 1.0)

    def local_list(self, token: dict[str, Any]) -> None:
        with atomic(self.conn):
            self.auth.put_local(token, ACCEPTED)

    def ongoing_transaction(self, evse_id: int, token: dict[str, Any], transaction_id: str) -> None:
        with atomic(self.conn):
            self.txs.save(EvseRecord(evse_id, id_token=token, authorized=True, tx=Tx(transaction_id, 1.0)))

    def queued_ended_event(self, token: dict[str, Any], transaction_id: str) -> None:
        self.queue.put_nowait("TransactionEvent", {
            "eventType": "Ended", "timestamp": "2025-03-01T11:00:00Z", "triggerReason": "EVDeparted", "seqNo": 3,
            "transactionInfo": {"transactionId": transaction_id}, "idToken": token, "evse": {"id": 2}},
            droppable=False)

    def reserve(self, reservation_id: int, token: dict[str, Any]) -> None:
        outcome = self.reservations.reserve({"id": reservation_id, "idToken": token, "evseId": 1,
                                             "expiryDateTime": (T0 + timedelta(hours=1)).isoformat()})
        assert outcome.status == "Accepted"
