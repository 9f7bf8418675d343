"""One all-or-nothing unit of SQLite writes that also works inside a transaction the caller already opened.

The durable stream consumer runs its handler inside `BEGIN IMMEDIATE … COMMIT` so that the effect and the
stream cursor commit together; the same code is also called outside any transaction (a CSMS request, a
timer). `atomic(conn)` opens its own `BEGIN IMMEDIATE` in the second case and a SAVEPOINT in the first, so
a failure undoes exactly this unit and the caller's commit stays the caller's.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

_savepoints = itertools.count(1)


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
