"""SQLite for every program: one way to open a database and one unit of work.

`open_db` gives WAL with synchronous=FULL: a committed write survives a power loss. `atomic(conn)` runs a block
as one all-or-nothing unit: its own `BEGIN IMMEDIATE … COMMIT` when no transaction is open, a SAVEPOINT inside
one the caller opened (a durable stream consumer's handler runs inside the transaction that moves its cursor),
so a failure undoes exactly this unit and the caller's commit stays the caller's.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

_savepoints = itertools.count(1)


def open_db(path: str) -> sqlite3.Connection:
    """A program's SQLite database in autocommit mode (units of work via `atomic`): WAL, full sync."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


@contextmanager
def atomic(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block as one transaction (or savepoint, when one is open); roll it back on any exception."""
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
