"""ocpp_client's SQLite database `<data_dir>/ocpp.db`: one connection the service's modules share.

Small station facts live in `station_kv` (boot reason for the next start, the scheduled reset, the last
accepted boot data); each module creates its own tables (link/outbound_queue.py, availability/status.py, the
device model's store on a connection of its own). WAL, synchronous=FULL: a committed write survives a power
cut. The connection runs in autocommit mode; `atomic(conn)` (station/sqlite.py, re-exported here) is the one
SQLite unit of work: several writes all or nothing, a SAVEPOINT inside a transaction the caller already opened
(the durable stream consumer runs its handler inside the transaction that moves its cursor).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from station.sqlite import atomic, open_db

__all__ = ["DB_NAME", "atomic", "db_path", "kv_get", "kv_set", "open_store"]

DB_NAME = "ocpp.db"


def db_path(data_dir: Path) -> Path:
    return data_dir / DB_NAME


def open_store(data_dir: Path) -> sqlite3.Connection:
    """Open (and create) ocpp.db with the station_kv table."""
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = open_db(str(db_path(data_dir)))
    conn.execute("CREATE TABLE IF NOT EXISTS station_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    return conn


def kv_get(conn: sqlite3.Connection, key: str, default: Any = None) -> Any:
    row = conn.execute("SELECT value FROM station_kv WHERE key=?", (key,)).fetchone()
    return json.loads(row[0]) if row else default


def kv_set(conn: sqlite3.Connection, key: str, value: Any) -> None:
    """Store a JSON value (None deletes the key); committed unless the caller holds a transaction."""
    if value is None:
        conn.execute("DELETE FROM station_kv WHERE key=?", (key,))
    else:
        conn.execute("INSERT INTO station_kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                     " SET value=excluded.value", (key, json.dumps(value)))
