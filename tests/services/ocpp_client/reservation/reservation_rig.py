"""A reservation block on real SQLite (ocpp.db in a temp dir) with the real durable outbound queue, an
injected clock and EVSE states the test sets."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.link.payload_schema import request_violation, response_violation
from services.ocpp_client.reservation.handlers import handlers
from services.ocpp_client.reservation.reservations import Reservations
from services.ocpp_client.store import open_store

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TOKEN_A = {"idToken": "04A1B2C3", "type": "ISO14443"}
TOKEN_B = {"idToken": "0BADCAFE", "type": "ISO14443"}
GROUP = {"idToken": "FLEET-7", "type": "Central"}


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


class Rig:
    def __init__(self, data_dir: Path, evses: dict[int, tuple[str, ...]] | None = None) -> None:
        self.data_dir = data_dir
        self.evses = evses or {1: ("sType2",), 2: ("sType2",)}
        self.states = {evse_id: "Available" for evse_id in self.evses}
        self.settings = {"Available": True, "Enabled": True, "NonEvseSpecific": True}
        self.moment = T0
        self.changes = 0
        self.queued_event = asyncio.Event()
        self.open()

    def open(self) -> None:
        self.conn: sqlite3.Connection = open_store(self.data_dir)
        self.queue = OutboundQueue(self.conn, self._never_sent, max_attempts=lambda: 3,
                                   attempt_interval_s=lambda: 1.0)
        self.block = Reservations(self.conn, evses=self.evses, evse_state=self.states.__getitem__,
                                  setting=self.settings.__getitem__, queue_put=self._queue_put,
                                  now=lambda: self.moment, on_change=self._changed)
        self.calls = handlers(self.block)

    def restart(self) -> None:
        """The process dies and starts again on the same ocpp.db."""
        self.conn.close()
        self.open()

    async def _never_sent(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("the queue is never opened in these tests")

    def _queue_put(self, action: str, payload: dict[str, Any]) -> None:
        assert request_violation(action, payload) is None, payload
        self.queue.put_nowait(action, payload)
        self.queued_event.set()

    def _changed(self) -> None:
        self.changes += 1

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)

    def queued(self) -> list[tuple[str, dict[str, Any]]]:
        return [(m.action, m.payload) for m in self.queue.pending()]

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert request_violation(action, payload) is None, payload
        response = await self.calls[action](payload)
        assert response_violation(action, response) is None, response
        return response

    async def reserve(self, reservation_id: int, token: dict[str, Any] = TOKEN_A, *, expires_in_s: float = 60,
                      **fields: Any) -> str:
        payload = {"id": reservation_id, "expiryDateTime": at(self.moment_offset_s + expires_in_s),
                   "idToken": token, **fields}
        return str((await self.call("ReserveNow", payload))["status"])

    @property
    def moment_offset_s(self) -> float:
        return (self.moment - T0).total_seconds()

    def rows(self) -> list[tuple[Any, ...]]:
        return self.conn.execute("SELECT * FROM reservations ORDER BY reservation_id").fetchall()
