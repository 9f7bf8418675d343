"""SQLite tables of the transaction state machine: one record per EVSE, transaction history, Ended samples.

`tx_evse` holds each EVSE's whole `EvseRecord` (JSON), open transaction and next seqNo included; it is
rewritten in the same SQLite transaction that hands the TransactionEvent it caused to the outbound queue,
so seqNo has no gap and no repeat across restarts. `tx_history` remembers recent transaction ids with their
start and end (GetTransactionStatus, E14). `tx_meter_values` collects the MeterValues an Ended event will
carry (TxEndedInterval samples), one row each instead of a growing JSON blob. No commit happens here:
callers wrap writes in `store.atomic` (services/ocpp_client/store.py).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from services.ocpp_client.transactions.model import EvseRecord

HISTORY_KEEP = 500  # ended transactions remembered for GetTransactionStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tx_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tx_evse (
    evse_id INTEGER PRIMARY KEY,
    record  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tx_history (
    transaction_id TEXT PRIMARY KEY,
    evse_id        INTEGER NOT NULL,
    started_at     REAL NOT NULL,
    ended_at       REAL
);
CREATE TABLE IF NOT EXISTS tx_meter_values (
    transaction_id TEXT NOT NULL,
    idx            INTEGER NOT NULL,
    meter_value    TEXT NOT NULL,
    PRIMARY KEY (transaction_id, idx)
);
"""


class TransactionStore:
    """The transaction tables on the ocpp_client database connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)

    # ----- EVSE records ----------------------------------------------------------------------------------

    def load(self, evse_id: int) -> EvseRecord | None:
        row = self.conn.execute("SELECT record FROM tx_evse WHERE evse_id=?", (evse_id,)).fetchone()
        return EvseRecord.from_dict(json.loads(row[0])) if row else None

    def save(self, record: EvseRecord) -> None:
        text = json.dumps(record.as_dict(), separators=(",", ":"))
        self.conn.execute("INSERT INTO tx_evse VALUES (?, ?) ON CONFLICT (evse_id) DO UPDATE SET"
                          " record=excluded.record", (record.evse_id, text))

    # ----- meta ------------------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM tx_meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO tx_meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET"
                          " value=excluded.value", (key, value))

    # ----- history ---------------------------------------------------------------------------------------

    def open_history(self, transaction_id: str, evse_id: int, started_at: float) -> None:
        self.conn.execute("INSERT INTO tx_history VALUES (?, ?, ?, NULL)", (transaction_id, evse_id, started_at))

    def close_history(self, transaction_id: str, ended_at: float) -> None:
        self.conn.execute("UPDATE tx_history SET ended_at=? WHERE transaction_id=?", (ended_at, transaction_id))
        self.conn.execute(
            "DELETE FROM tx_history WHERE ended_at IS NOT NULL AND transaction_id NOT IN (SELECT transaction_id"
            " FROM tx_history WHERE ended_at IS NOT NULL ORDER BY ended_at DESC LIMIT ?)", (HISTORY_KEEP,))

    def history(self, transaction_id: str) -> tuple[int, float, float | None] | None:
        """(evse_id, started_at, ended_at or None) of a known transaction."""
        row = self.conn.execute("SELECT evse_id, started_at, ended_at FROM tx_history WHERE transaction_id=?",
                                (transaction_id,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    # ----- meter values for the Ended event --------------------------------------------------------------

    def add_meter_value(self, transaction_id: str, idx: int, meter_value: dict[str, Any]) -> None:
        self.conn.execute("INSERT OR REPLACE INTO tx_meter_values VALUES (?, ?, ?)",
                          (transaction_id, idx, json.dumps(meter_value, separators=(",", ":"))))

    def meter_values(self, transaction_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT meter_value FROM tx_meter_values WHERE transaction_id=? ORDER BY idx",
                                 (transaction_id,)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def drop_meter_values(self, transaction_id: str) -> None:
        self.conn.execute("DELETE FROM tx_meter_values WHERE transaction_id=?", (transaction_id,))
