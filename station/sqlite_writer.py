"""One SQLite connection behind one thread of its own, so an event loop never waits for the disk.

Every use of the connection (reads, units of work, the final close) goes through `SqliteWriter`: `await
run(work)` runs `work(conn)` in the writer's thread, in the order asked, one at a time, and returns its result
(or raises its exception) on the loop. A commit's fsync then blocks that thread, not the event loop: a
service whose loop must answer a wire within milliseconds (evse_io: C → B → power off) keeps answering while
its journal waits behind other processes' disk writes. Nothing else may touch the connection, so no
transaction opened here can swallow another's write.

`SqliteWriter(conn, threaded=False)` runs the work at once on the caller's thread (the same interface for a
service that keeps its plain connection). `run_now(work)` waits for the work from the caller's thread: for
start-up only, before the loop has anything to answer. A `run` whose awaiting task is cancelled still runs
once it has started; a caller that must not lose track of a commit shields it (services/evse_io/service.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

Work = Callable[[sqlite3.Connection], T]


class SqliteWriter:
    """The only user of `conn` (opened with check_same_thread=False, as station/sqlite.py's `open_db` does)."""

    def __init__(self, conn: sqlite3.Connection, name: str = "sqlite-writer", *, threaded: bool = True) -> None:
        self._conn = conn
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) if threaded else None
        self.closed = False

    @property
    def threaded(self) -> bool:
        return self._executor is not None

    async def run(self, work: Work[T]) -> T:
        """`work(conn)` in the writer's thread, after everything asked before it."""
        if self.closed:
            raise sqlite3.ProgrammingError("the database writer is closed")
        if self._executor is None:
            return work(self._conn)
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, self._conn)

    def run_now(self, work: Work[T]) -> T:
        """`work(conn)`, waited for on the caller's thread (start-up, tests)."""
        if self.closed:
            raise sqlite3.ProgrammingError("the database writer is closed")
        if self._executor is None:
            return work(self._conn)
        return self._executor.submit(work, self._conn).result()

    def close(self) -> None:
        """Close the connection after every work asked before; the thread ends."""
        if self.closed:
            return
        self.run_now(lambda conn: conn.close())
        self.closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=True)
