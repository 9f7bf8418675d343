"""ocpp_client's SQLite database `<data_dir>/ocpp.db`: one connection the service's modules share.

Small station facts live in `station_kv` (boot reason for the next start, the scheduled reset, the last
accepted boot data); each module creates its own tables (link/queue.py, availability/status.py, the device model's
store on a connection of its own). WAL, synchronous=FULL: a committed write survives a power cut.
The connection runs in autocommit mode; `atomic(conn)` is ocpp_client's one SQLite unit of work: several
writes all or nothing, also inside a transaction the caller already opened (the durable stream consumer runs
its handler inside `BEGIN IMMEDIATE … COMMIT` so that the effect and the stream cursor commit together):
then it is a SAVEPOINT, so a failure undoes exactly this unit and the caller's commit stays the caller's.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bus.durable import open_db

DB_NAME = "ocpp.db"


def db_path(data_dir: Path) -> Path:
    return data_dir / DB_NAME


def open_store(data_dir: Path) -> sqlite3.Connection:
    """Open (and create) ocpp.db with the station_kv table."""
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = open_db(str(db_path(data_dir)))
    conn.execute("CREATE TABLE IF NOT EXISTS station_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    return conn


_savepoints = itertools.count(1)


@contextlib.contextmanager
def atomic(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block as one transaction (a savepoint when one is open); roll it back on any exception."""
    if conn.in_transaction:
        name = f"reon_sp_{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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
