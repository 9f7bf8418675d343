"""reon-modem's SQLite table: the last ICCID read, so a SIM swapped while the station was off is noticed."""

from __future__ import annotations

from pathlib import Path

from station.sqlite import atomic, open_db


class ModemStore:
    """`<data_dir>/modem.db`: one row, the last ICCID and when it was first seen."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = open_db(str(path))
        self.conn.execute("CREATE TABLE IF NOT EXISTS sim (id INTEGER PRIMARY KEY CHECK (id = 1),"
                          " iccid TEXT NOT NULL, seen_at REAL NOT NULL)")

    def last_iccid(self) -> str | None:
        row = self.conn.execute("SELECT iccid FROM sim WHERE id = 1").fetchone()
        return row[0] if row else None

    def save_iccid(self, iccid: str, seen_at: float) -> None:
        with atomic(self.conn):
            self.conn.execute("INSERT INTO sim (id, iccid, seen_at) VALUES (1, ?, ?)"
                              " ON CONFLICT (id) DO UPDATE SET iccid = excluded.iccid, seen_at = excluded.seen_at",
                              (iccid, seen_at))

    def close(self) -> None:
        self.conn.close()
