"""evse_io's SQLite tables in `<data_dir>/evse_io.db`: the persisted availability of each EVSE.

The same database holds the durable `session` stream's journal (bus/durable.py creates those tables). Every
use of the database goes through one SqliteWriter (station/sqlite_writer.py): its own thread, so the event
loop that answers the MCUs never waits for a commit.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from station.sqlite import atomic, open_db
from station.sqlite_writer import SqliteWriter

DB_NAME = "evse_io.db"


def open_store_db(data_dir: Path) -> sqlite3.Connection:
    """Open (creating the directory and file if needed) evse_io's database: WAL, synchronous=FULL."""
    return open_db(str(data_dir / DB_NAME))


class EvseIoStore:
    """Availability per EVSE (OCPP ChangeAvailability outlives a restart); committed before a command replies."""

    def __init__(self, db: SqliteWriter) -> None:
        self.db = db
        db.run_now(lambda conn: conn.execute("CREATE TABLE IF NOT EXISTS availability (evse_id INTEGER PRIMARY KEY,"
                                             " operative INTEGER NOT NULL)"))

    def operative(self, evse_id: int) -> bool:
        """The requested availability; Operative when never set (read at start, waited for)."""
        row = self.db.run_now(lambda conn: conn.execute("SELECT operative FROM availability WHERE evse_id=?",
                                                        (evse_id,)).fetchone())
        return bool(row[0]) if row else True

    async def set_operative(self, evse_id: int, operative: bool) -> None:
        def write(conn: sqlite3.Connection) -> None:
            with atomic(conn):
                conn.execute("INSERT INTO availability VALUES (?,?) ON CONFLICT (evse_id)"
                             " DO UPDATE SET operative=excluded.operative", (evse_id, int(operative)))
        await self.db.run(write)
