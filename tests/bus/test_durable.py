"""Durable streams over the real bus: nothing lost or doubled across restarts of either end."""

import asyncio

from bus.client import BusClient
from bus.contract import Contract
from bus.durable import STREAM_COMMANDS, DurableConsumer, DurableProducer, stream_topics
from bus.harness import wait_until
from bus.rpc import RpcServer
from station.sqlite import open_db
from station.sqlite_writer import SqliteWriter

CONTRACT = Contract("prod", "a producer", state=(stream_topics("session", "x")[0],),
                    events=(stream_topics("session", "x")[1],), commands=STREAM_COMMANDS)


class Producer:
    def __init__(self, run_dir, db, threaded: bool = False) -> None:
        self.run_dir, self.db, self.threaded = run_dir, db, threaded

    async def __aenter__(self) -> DurableProducer:
        self.bus = BusClient(self.run_dir, "prod", contract=CONTRACT, strict=True)
        await self.bus.start()
        self.writer = SqliteWriter(open_db(self.db), threaded=self.threaded)
        self.producer = DurableProducer(self.bus, self.writer, {"session": ("cons",)})
        self.rpc = RpcServer(self.run_dir, self.bus.stamper, CONTRACT, self.producer.handlers(), self.bus.ctx)
        await self.rpc.start()
        await self.producer.publish_heads()
        return self.producer

    async def __aexit__(self, *exc) -> None:
        await self.rpc.close()
        await self.bus.close()
        self.writer.close()


class Consumer:
    def __init__(self, run_dir, db, fail_on=None) -> None:
        self.run_dir, self.db, self.fail_on = run_dir, db, fail_on
        self.handled = asyncio.Queue()

    async def handler(self, entry, conn) -> None:
        if entry["data"].get("n") == self.fail_on:
            self.fail_on = None
            raise RuntimeError("effect failed once")
        conn.execute("INSERT INTO effects VALUES (?)", (entry["seq"],))
        self.handled.put_nowait(entry["seq"])

    async def __aenter__(self) -> DurableConsumer:
        self.bus = BusClient(self.run_dir, "cons", strict=False)
        await self.bus.start()
        self.conn = open_db(self.db)
        self.conn.execute("CREATE TABLE IF NOT EXISTS effects (seq INTEGER PRIMARY KEY)")
        self.consumer = DurableConsumer(self.bus, self.conn, "prod", "session", "cons", self.handler)
        self.consumer.start()
        return self.consumer

    async def __aexit__(self, *exc) -> None:
        await self.consumer.stop()
        await self.bus.close()
        self.conn.close()

    def effects(self) -> list[int]:
        return [r[0] for r in self.conn.execute("SELECT seq FROM effects ORDER BY seq")]


async def take(queue, n) -> list[int]:
    return [await asyncio.wait_for(queue.get(), 5) for _ in range(n)]


async def test_entries_made_while_the_consumer_is_down_are_replayed_in_order(run_dir, broker, tmp_path) -> None:
    async with Producer(run_dir, tmp_path / "p.db") as producer:
        for n in range(5):
            await producer.append("session", "plugged_in", {"n": n})
        consumer = Consumer(run_dir, tmp_path / "c.db")
        async with consumer:
            assert await take(consumer.handled, 5) == [1, 2, 3, 4, 5]
            await producer.append("session", "unplugged", {"n": 5})
            assert await take(consumer.handled, 1) == [6]
            assert consumer.effects() == [1, 2, 3, 4, 5, 6]


async def test_consumer_restart_neither_loses_nor_repeats(run_dir, broker, tmp_path) -> None:
    async with Producer(run_dir, tmp_path / "p.db") as producer:
        first = Consumer(run_dir, tmp_path / "c.db")
        async with first:
            await producer.append("session", "a", {"n": 1})
            await take(first.handled, 1)
        await producer.append("session", "b", {"n": 2})  # consumer is down
        second = Consumer(run_dir, tmp_path / "c.db")
        async with second:
            assert await take(second.handled, 1) == [2]
            assert second.effects() == [1, 2]


async def test_producer_restart_keeps_the_sequence_and_the_journal(run_dir, broker, tmp_path) -> None:
    async with Producer(run_dir, tmp_path / "p.db") as producer:
        await producer.append("session", "a", {"n": 1})
    async with Producer(run_dir, tmp_path / "p.db") as producer:
        assert await producer.append("session", "b", {"n": 2}) == 2
        consumer = Consumer(run_dir, tmp_path / "c.db")
        async with consumer:
            assert await take(consumer.handled, 2) == [1, 2]


async def test_failed_effect_does_not_move_the_cursor_and_is_retried(run_dir, broker, tmp_path) -> None:
    async with Producer(run_dir, tmp_path / "p.db") as producer:
        consumer = Consumer(run_dir, tmp_path / "c.db", fail_on=2)
        async with consumer:
            for n in (1, 2, 3):
                await producer.append("session", "x", {"n": n})
            assert await take(consumer.handled, 3) == [1, 2, 3]
            assert consumer.effects() == [1, 2, 3]


async def test_acknowledged_entries_are_pruned(run_dir, broker, tmp_path) -> None:
    async with Producer(run_dir, tmp_path / "p.db") as producer:
        consumer = Consumer(run_dir, tmp_path / "c.db")
        async with consumer:
            for n in range(3):
                await producer.append("session", "x", {"n": n})
            await take(consumer.handled, 3)
            def journaled(conn) -> int:
                return conn.execute("SELECT count(*) FROM stream_journal").fetchone()[0]
            await wait_until(lambda: producer.db.run_now(journaled) == 0)
            assert producer.last_seq("session") == 3


async def test_a_producer_with_a_writer_thread_journals_in_order_and_keeps_the_sequence(
        run_dir, broker, tmp_path) -> None:
    async with Producer(run_dir, tmp_path / "p.db", threaded=True) as producer:
        assert await asyncio.gather(*(producer.append("session", "a", {"n": n}) for n in range(5))) == [1, 2, 3, 4, 5]
    async with Producer(run_dir, tmp_path / "p.db", threaded=True) as producer:
        assert await producer.append_all("session", [("b", {"n": 5}), ("b", {"n": 6})]) == [6, 7]
        consumer = Consumer(run_dir, tmp_path / "c.db")
        async with consumer:
            assert await take(consumer.handled, 7) == [1, 2, 3, 4, 5, 6, 7]
            assert consumer.effects() == [1, 2, 3, 4, 5, 6, 7]
