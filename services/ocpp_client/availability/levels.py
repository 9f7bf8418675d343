"""The availability levels set by ChangeAvailability (G03/G04): station, EVSE and connector, each Operative or
Inoperative, persisted in the `availability` table of ocpp.db so that they survive restarts. (0, 0) is the
station, (evse, 0) an EVSE, (evse, connector) a connector; a level never set is Operative."""

from __future__ import annotations

import sqlite3

STATION = (0, 0)


class AvailabilityLevels:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.execute("CREATE TABLE IF NOT EXISTS availability (evse_id INTEGER NOT NULL, connector_id INTEGER"
                   " NOT NULL, operative INTEGER NOT NULL, PRIMARY KEY (evse_id, connector_id))")

    def operative(self, evse_id: int, connector_id: int) -> bool:
        """The level itself (not the levels above it)."""
        row = self.db.execute("SELECT operative FROM availability WHERE evse_id=? AND connector_id=?",
                              (evse_id, connector_id)).fetchone()
        return bool(row[0]) if row else True

    def all_operative(self, evse_id: int, connector_id: int) -> bool:
        """The connector, its EVSE and the station are Operative."""
        return self.operative(*STATION) and self.operative(evse_id, 0) and self.operative(evse_id, connector_id)

    def set(self, scope: tuple[int, int], operative: bool) -> None:
        self.db.execute("INSERT INTO availability VALUES (?,?,?) ON CONFLICT (evse_id, connector_id) DO UPDATE"
                        " SET operative=excluded.operative", (*scope, int(operative)))


def scope_name(scope: tuple[int, int]) -> str:
    """"the station", "EVSE 1" or "EVSE 1 connector 2"."""
    if scope == STATION:
        return "the station"
    return f"EVSE {scope[0]}" + (f" connector {scope[1]}" if scope[1] else "")
