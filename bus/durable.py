"""Durable streams: events a transaction record depends on survive the restart of either end.

Producer: appends each event to its own SQLite journal with a per-stream sequence number (committed with
synchronous=FULL) *before* publishing it as `<service>.evt.<stream>`, keeps `<service>.state.stream.<stream>`
= {"last_seq"} on the bus, serves `replay(stream, after_seq)` and `ack(stream, consumer, seq)`, and prunes
what every declared consumer has acknowledged. Given a SqliteWriter instead of a connection, every journal
read and write runs in the writer's own thread, in order: the producer's event loop never waits for an fsync.
Consumer: handles entries strictly in order; commits the last handled seq in the same SQLite transaction as
the effect; replays from the producer at start, on a gap, and when the producer's last_seq runs ahead.
(The zguide's Clone pattern: a snapshot on demand plus numbered updates.)
Typed streams: a stream declared as a DurableStream in the producer's contract has its entries checked
against the declared kinds and fields when appended (ContractViolation, nothing journaled) and when consumed
(the consumer stops at that entry and logs why: nothing is skipped, nothing acknowledged). A consumer may
pass one handler per declared kind; they are checked against the declaration when it is built.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bus.client import BusClient
from bus.contract import ENTRY, Command, ContractViolation, DurableStream, load_contract, stream_topics
from bus.rpc import RpcError
from station.sqlite import atomic
from station.sqlite_writer import SqliteWriter

__all__ = ["ENTRY", "STREAM_COMMANDS", "DurableConsumer", "DurableProducer", "declared_stream", "stream_topics"]

log = logging.getLogger("bus.durable")

REPLAY_BATCH = 200

STREAM_COMMANDS = (
    Command("replay", {"stream": "str", "after_seq": "int"}, {"entries": [ENTRY], "last_seq": "int"},
            "journal entries after after_seq, oldest first (at most 200 a call)", idempotent=True),
    Command("ack", {"stream": "str", "consumer": "str", "seq": "int"}, {"pruned": "int"},
            "the consumer has durably handled every entry up to seq", idempotent=True),
)


def declared_stream(producer: str, stream: str) -> DurableStream:
    """A stream as its producer's contract declares it (found through the bus's contract discovery, so a
    consumer needs no import of the producer): `declared_stream("evse_io", "session").enum()` gives the kinds."""
    contract = load_contract(producer)
    declared = contract.find_stream(stream) if contract is not None else None
    if declared is None:
        raise LookupError(f"{producer} declares no durable stream {stream!r}")
    return declared


class DurableProducer:
    """The producing end: `db` is the journal's connection, or a SqliteWriter that owns it (station/
    sqlite_writer.py: then every journal read and write, appends, replay and ack, runs in the writer's thread
    and the event loop never waits for the disk)."""

    def __init__(self, bus: BusClient, db: sqlite3.Connection | SqliteWriter,
                 streams: dict[str, tuple[str, ...]]) -> None:
        """`streams`: stream name → the consumers that must acknowledge before an entry is pruned."""
        self.bus = bus
        self.db = db if isinstance(db, SqliteWriter) else SqliteWriter(db, threaded=False)
        self.streams = streams
        self._append_lock = asyncio.Lock()  # seq order = publish order
        self.db.run_now(_create_tables)

    def last_seq(self, stream: str) -> int:
        """The stream's last journaled seq, waited for on the caller's thread (start-up, tests)."""
        return self.db.run_now(lambda conn: _last_seq(conn, stream))

    async def publish_heads(self) -> None:
        for stream in self.streams:
            last = await self.db.run(lambda conn, stream=stream: _last_seq(conn, stream))
            await self.bus.publish_state(f"stream.{stream}", {"last_seq": last})

    async def append(self, stream: str, name: str, data: Any) -> int:
        """Journal one entry (committed before this returns), then publish it."""
        return (await self.append_all(stream, [(name, data)]))[0]

    async def append_all(self, stream: str, entries: list[tuple[str, Any]]) -> list[int]:
        """Journal the entries in order in one commit (all or none), then publish them; their seqs.

        Checked against the stream's declaration first (ContractViolation: nothing journaled). A task
        cancelled while the commit runs leaves it committed but unpublished (a consumer finds it by replay)."""
        if stream not in self.streams:
            raise ValueError(f"undeclared stream {stream!r}")
        declared = self.bus.contract.find_stream(stream) if self.bus.contract is not None else None
        rows = []
        for name, data in entries:
            name = str(name)  # a kind from the contract's StrEnum travels as its plain string
            if declared is not None:
                declared.check_entry(name, data, f"{self.bus.src}.{stream}")
            rows.append((name, json.dumps(data), data))
        async with self._append_lock:
            ts = time.time()
            first = await self.db.run(lambda conn: _journal(conn, stream, ts, [(n, d) for n, d, _ in rows]))
            seqs = list(range(first, first + len(rows)))
            for seq, (name, _, data) in zip(seqs, rows, strict=True):
                await self.bus.publish_event(stream, {"stream": stream, "seq": seq, "ts": ts, "name": name,
                                                      "data": data})
            if seqs:
                await self.bus.publish_state(f"stream.{stream}", {"last_seq": seqs[-1]})
        return seqs

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[Any]]]:
        return {"replay": self.cmd_replay, "ack": self.cmd_ack}

    async def cmd_replay(self, args: dict[str, Any]) -> dict[str, Any]:
        stream = self._known(args["stream"])
        after_seq = args["after_seq"]

        def read(conn: sqlite3.Connection) -> tuple[list[Any], int]:
            rows = conn.execute("SELECT seq, ts, name, data FROM stream_journal WHERE stream=? AND seq>?"
                                " ORDER BY seq LIMIT ?", (stream, after_seq, REPLAY_BATCH)).fetchall()
            return rows, _last_seq(conn, stream)

        rows, last = await self.db.run(read)
        entries = [{"stream": stream, "seq": s, "ts": ts, "name": n, "data": json.loads(d)} for s, ts, n, d in rows]
        return {"entries": entries, "last_seq": last}

    async def cmd_ack(self, args: dict[str, Any]) -> dict[str, Any]:
        stream = self._known(args["stream"])
        consumer, seq, consumers = args["consumer"], args["seq"], self.streams[stream]

        def ack(conn: sqlite3.Connection) -> int:
            with atomic(conn):
                conn.execute("INSERT INTO stream_acks VALUES (?,?,?) ON CONFLICT (stream, consumer)"
                             " DO UPDATE SET seq=max(seq, excluded.seq)", (stream, consumer, seq))
                acked = [_acked(conn, stream, c) for c in consumers]
                floor = min(acked) if acked else 0
                return conn.execute("DELETE FROM stream_journal WHERE stream=? AND seq<=?", (stream, floor)).rowcount

        return {"pruned": await self.db.run(ack)}

    def _known(self, stream: str) -> str:
        if stream not in self.streams:
            raise RpcError("unknown_stream", stream)
        return stream


def _create_tables(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS stream_journal (stream TEXT, seq INTEGER, ts REAL, name TEXT,"
                 " data TEXT, PRIMARY KEY (stream, seq))")
    conn.execute("CREATE TABLE IF NOT EXISTS stream_acks (stream TEXT, consumer TEXT, seq INTEGER,"
                 " PRIMARY KEY (stream, consumer))")
    conn.execute("CREATE TABLE IF NOT EXISTS stream_heads (stream TEXT PRIMARY KEY, last_seq INTEGER)")


def _last_seq(conn: sqlite3.Connection, stream: str) -> int:
    row = conn.execute("SELECT last_seq FROM stream_heads WHERE stream=?", (stream,)).fetchone()
    return row[0] if row else 0


def _journal(conn: sqlite3.Connection, stream: str, ts: float, rows: list[tuple[str, str]]) -> int:
    """Insert the rows after the stream's head in one unit of work; the first one's seq."""
    with atomic(conn):
        first = _last_seq(conn, stream) + 1
        conn.executemany("INSERT INTO stream_journal VALUES (?,?,?,?,?)",
                         [(stream, first + i, ts, name, data) for i, (name, data) in enumerate(rows)])
        if rows:
            conn.execute("INSERT OR REPLACE INTO stream_heads VALUES (?,?)", (stream, first + len(rows) - 1))
    return first


def _acked(conn: sqlite3.Connection, stream: str, consumer: str) -> int:
    row = conn.execute("SELECT seq FROM stream_acks WHERE stream=? AND consumer=?", (stream, consumer)).fetchone()
    return row[0] if row else 0


EntryHandler = Callable[[dict[str, Any], sqlite3.Connection], Awaitable[None]]


class DurableConsumer:
    """Follows one producer's stream; `handler(entry, conn)` runs inside the transaction that moves the cursor.

    The handler writes its effect through `conn` and must not await other work that uses the same connection
    while it runs (the transaction is open across its awaits). `handler` may be a map {kind: handler} over the
    kinds the producer declares (every declared kind, no other: checked here, ValueError otherwise).
    """

    def __init__(self, bus: BusClient, conn: sqlite3.Connection, producer: str, stream: str, consumer: str,
                 handler: EntryHandler | Mapping[str, EntryHandler]) -> None:
        contract = load_contract(producer)
        self.declared = contract.find_stream(stream) if contract is not None else None
        if isinstance(handler, Mapping):
            handler = self._dispatcher(producer, stream, dict(handler))
        self.bus = bus
        self.conn = conn
        self.producer = producer
        self.stream = stream
        self.consumer = consumer
        self.handler = handler
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.head = 0
        self.acked = 0
        self._task: asyncio.Task[None] | None = None
        self._rejected_seq = 0  # the entry last reported as not matching the declaration (logged once)
        conn.execute("CREATE TABLE IF NOT EXISTS stream_cursors (producer TEXT, stream TEXT, seq INTEGER,"
                     " PRIMARY KEY (producer, stream))")

    def _dispatcher(self, producer: str, stream: str, handlers: dict[str, EntryHandler]) -> EntryHandler:
        if self.declared is None:
            raise ValueError(f"{producer}.{stream}: handlers by kind need a stream declared in {producer}'s contract")
        handlers = {str(kind): handler for kind, handler in handlers.items()}  # StrEnum members as plain names
        declared = {str(kind) for kind in self.declared.kind_names()}
        unknown, missing = sorted(set(handlers) - declared), sorted(declared - set(handlers))
        if unknown or missing:
            raise ValueError(f"{producer}.{stream}: handlers for undeclared kinds {unknown}, none for {missing}")

        async def dispatch(entry: dict[str, Any], conn: sqlite3.Connection) -> None:
            await handlers[entry["name"]](entry, conn)
        return dispatch

    def check(self, entry: dict[str, Any]) -> None:
        """Raise ContractViolation unless the entry is one the producer's contract declares."""
        if self.declared is not None:
            self.declared.check_entry(entry.get("name"), entry.get("data"), f"{self.producer}.{self.stream}")

    @property
    def cursor(self) -> int:
        row = self.conn.execute("SELECT seq FROM stream_cursors WHERE producer=? AND stream=?",
                                (self.producer, self.stream)).fetchone()
        return row[0] if row else 0

    def start(self) -> None:
        self.bus.subscribe(f"{self.producer}.evt.{self.stream}", self._on_live)
        self.bus.subscribe(f"{self.producer}.state.stream.{self.stream}", self._on_head)
        self._task = asyncio.create_task(self._catch_up_loop(), name=f"durable-{self.producer}-{self.stream}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def _on_head(self, topic: str, env: Any) -> None:
        last = env.body.get("last_seq") if isinstance(env.body, dict) else None
        if isinstance(last, int) and last > self.cursor:
            self.head = max(self.head, last)
            self.wake.set()

    async def _on_live(self, topic: str, env: Any) -> None:
        entry = env.body
        if not isinstance(entry, dict) or not isinstance(entry.get("seq"), int):
            return
        async with self.lock:
            cursor = self.cursor
            if entry["seq"] == cursor + 1:
                try:
                    await self._handle(entry)
                except ContractViolation:
                    self.wake.set()  # the catch-up loop meets it again and reports it
                    return
                self.wake.set()  # the catch-up loop acknowledges it
                return
        if entry["seq"] > cursor + 1:  # a gap: something was lost in between
            self.head = max(self.head, entry["seq"])
            self.wake.set()

    async def _handle(self, entry: dict[str, Any]) -> None:
        """Run the handler and move the cursor in one transaction; on failure neither happens."""
        self.check(entry)
        with atomic(self.conn):
            await self.handler(entry, self.conn)
            self.conn.execute("INSERT INTO stream_cursors VALUES (?,?,?) ON CONFLICT (producer, stream)"
                              " DO UPDATE SET seq=excluded.seq", (self.producer, self.stream, entry["seq"]))

    async def _catch_up_loop(self) -> None:
        backoff = 0.2
        self.wake.set()
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                await self._catch_up()
                backoff = 0.2
            except ContractViolation as exc:
                self._report_rejected(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self.wake.set()
            except RpcError as exc:
                log.info("replay of %s.%s not possible yet (%s); retrying in %.1fs", self.producer, self.stream,
                         exc.code, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self.wake.set()
            except Exception:
                log.exception("handling %s.%s failed; retrying", self.producer, self.stream)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self.wake.set()

    def _report_rejected(self, exc: ContractViolation) -> None:
        """An entry the producer's contract does not allow: the stream stops there (nothing skipped); logged once."""
        seq = self.cursor + 1
        if seq != self._rejected_seq:
            self._rejected_seq = seq
            log.error("%s.%s entry %d does not match %s's contract, the stream stops here: %s", self.producer,
                      self.stream, seq, self.producer, exc)

    async def _catch_up(self) -> None:
        while True:
            after = self.cursor
            reply = await self.bus.call(self.producer, "replay", {"stream": self.stream, "after_seq": after},
                                        deadline_s=3.0, idempotent=True)
            for entry in reply["entries"]:
                async with self.lock:
                    if entry["seq"] == self.cursor + 1:
                        await self._handle(entry)
            cursor = self.cursor
            if cursor > self.acked:
                await self.bus.call(self.producer, "ack", {"stream": self.stream, "consumer": self.consumer,
                                                           "seq": cursor}, deadline_s=3.0, idempotent=True)
                self.acked = cursor
            if not reply["entries"] or self.cursor >= reply["last_seq"]:
                return
