"""SqliteWriter: one connection used by one thread of its own, in order; the event loop goes on meanwhile."""

import asyncio
import sqlite3
import threading

import pytest

from station.sqlite import atomic, open_db
from station.sqlite_writer import SqliteWriter


@pytest.fixture
def writer(tmp_path):
    writer = SqliteWriter(open_db(tmp_path / "w.db"), "test-writer")
    writer.run_now(lambda conn: conn.execute("CREATE TABLE t (n INTEGER)"))
    yield writer
    writer.close()


async def test_work_runs_in_the_writer_thread_in_the_order_asked(writer) -> None:
    def insert(n):
        def work(conn):
            with atomic(conn):
                conn.execute("INSERT INTO t VALUES (?)", (n,))
            return threading.current_thread()
        return work

    threads = await asyncio.gather(*(writer.run(insert(n)) for n in range(20)))
    assert {t.name for t in threads} == {threads[0].name} and threads[0] is not threading.current_thread()
    rows = await writer.run(lambda conn: conn.execute("SELECT n FROM t ORDER BY rowid").fetchall())
    assert [n for (n,) in rows] == list(range(20))


async def test_the_event_loop_goes_on_while_a_work_blocks(writer) -> None:
    release = threading.Event()
    blocked = asyncio.ensure_future(writer.run(lambda conn: release.wait(5)))
    await asyncio.sleep(0)  # one loop turn: the work has been handed to the thread
    ticked = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(ticked.set_result, True)
    assert await asyncio.wait_for(ticked, 1.0) and not blocked.done()
    release.set()
    assert await blocked is True


async def test_an_error_of_the_work_is_raised_on_the_loop_and_the_writer_goes_on(writer) -> None:
    with pytest.raises(sqlite3.OperationalError):
        await writer.run(lambda conn: conn.execute("INSERT INTO missing VALUES (1)"))
    assert await writer.run(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0]) == 0


async def test_a_closed_writer_refuses_work(tmp_path) -> None:
    writer = SqliteWriter(open_db(tmp_path / "c.db"))
    writer.close()
    with pytest.raises(sqlite3.ProgrammingError):
        await writer.run(lambda conn: None)
