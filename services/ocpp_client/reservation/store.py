"""The `reservations` table of ocpp.db: every reservation the station holds (H01), until it is used (H03),
cancelled (H02), expires (H04) or is removed.

A reservation survives a restart of the service, a Reset and a power loss (TC_B_24): ocpp.db runs WAL with
synchronous=FULL, and every change here is one SQLite transaction (`atomic`), so a reservation is either
wholly there or wholly gone, together with the ReservationStatusUpdate queued in the same transaction.
`evse_id` NULL is a reservation for no EVSE in particular (ReservationCtrlr.NonEvseSpecific).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS reservations (reservation_id INTEGER PRIMARY KEY, evse_id INTEGER,"
    " connector_type TEXT, id_token TEXT NOT NULL, group_id_token TEXT, expires_at REAL NOT NULL,"
    " accepted_seq INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS reservations_expiry ON reservations (expires_at)",
)
_COLUMNS = "reservation_id, evse_id, connector_type, id_token, group_id_token, expires_at, accepted_seq"


@dataclass(frozen=True)
class Reservation:
    """One reservation as the CSMS made it (ReserveNowRequest), with the order it was accepted in."""

    reservation_id: int
    evse_id: int | None
    connector_type: str | None
    id_token: dict[str, Any]
    group_id_token: dict[str, Any] | None
    expires_at: datetime
    accepted_seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        """For status displays (reonctl status) and customer-information reports."""
        return {"reservation_id": self.reservation_id, "evse_id": self.evse_id,
                "connector_type": self.connector_type, "id_token": self.id_token,
                "group_id_token": self.group_id_token,
                "expires_at": self.expires_at.isoformat().replace("+00:00", "Z")}


def _row(row: tuple[Any, ...]) -> Reservation:
    return Reservation(row[0], row[1], row[2], json.loads(row[3]), json.loads(row[4]) if row[4] else None,
                       datetime.fromtimestamp(row[5], UTC), row[6])


class ReservationStore:
    """Reads and writes of the reservations table; no commit here (callers wrap writes in `atomic`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        for statement in _SCHEMA:
            conn.execute(statement)

    def all(self) -> list[Reservation]:
        """Every reservation, oldest accepted first."""
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM reservations ORDER BY accepted_seq").fetchall()
        return [_row(row) for row in rows]

    def get(self, reservation_id: int) -> Reservation | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM reservations WHERE reservation_id=?",
                                (reservation_id,)).fetchone()
        return _row(row) if row else None

    def put(self, reservation: Reservation) -> Reservation:
        """Insert, or replace the one with the same id (H01.FR.02); returns it with its new accepted_seq."""
        seq = self.conn.execute("SELECT COALESCE(MAX(accepted_seq), 0) + 1 FROM reservations").fetchone()[0]
        group = json.dumps(reservation.group_id_token) if reservation.group_id_token else None
        self.conn.execute(
            f"INSERT OR REPLACE INTO reservations ({_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
            (reservation.reservation_id, reservation.evse_id, reservation.connector_type,
             json.dumps(reservation.id_token), group, reservation.expires_at.timestamp(), seq))
        return Reservation(reservation.reservation_id, reservation.evse_id, reservation.connector_type,
                           reservation.id_token, reservation.group_id_token, reservation.expires_at, seq)

    def delete(self, reservation_id: int) -> bool:
        return self.conn.execute("DELETE FROM reservations WHERE reservation_id=?", (reservation_id,)).rowcount > 0

    def next_expiry(self) -> datetime | None:
        row = self.conn.execute("SELECT MIN(expires_at) FROM reservations").fetchone()
        return datetime.fromtimestamp(row[0], UTC) if row and row[0] is not None else None

    def expired(self, now: datetime) -> list[Reservation]:
        """Reservations whose expiryDateTime is now or past, oldest expiry first."""
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM reservations WHERE expires_at <= ? ORDER BY expires_at",
                                 (now.timestamp(),)).fetchall()
        return [_row(row) for row in rows]
