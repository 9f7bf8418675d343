"""The durable outbound queue: CALLs that must reach the CSMS even across offline periods and restarts.

Used for TransactionEvent (transaction module) and SecurityEventNotification. Rules:
- `put` commits the message to SQLite (`outbound_queue`) before it can be sent; with `conn` it joins the
  caller's open transaction, so the message and the caller's own state commit (or roll back) together.
- One message at a time, oldest first (head of line): a message being retried holds back the newer ones.
  Sending goes through `Rpc.call`, whose lock is FIFO, so a message goes out after the CALLs issued before it.
- Sent only while the gate is open (link up and BootNotification Accepted). A link lost before the answer
  is not an attempt; a CALLERROR or no answer within MessageTimeout is. After an attempt fails the next one
  waits MessageAttemptInterval[TransactionEvent] × attempts; after MessageAttempts[TransactionEvent] attempts
  the message moves to `dead_letters` (kept, counted, listed by the `dead_letters` command), and the next
  message goes. A payload our own schema check refuses goes to the dead letters at once.
- Size policy: at QUEUE_LIMIT messages, a new `put` first moves the oldest *droppable* message to the dead
  letters (error "dropped: queue full"). `droppable=False` messages (TransactionEvent Started/Ended) are never
  dropped: the queue then grows past the limit and says so in the log. Dead letters keep the newest
  DEAD_LETTER_LIMIT.
- Per kind (`register_kind`): `rewrite(msg) -> payload` at send time (e.g. offline: true), `await
  before_send(msg)` just before it goes (what must precede it on the wire, e.g. a StatusNotification; the
  message stays queued meanwhile, a failing hook is logged and the message goes), and
  `on_delivered(msg, response, conn)` / `on_dead_letter(msg, error, conn)`, called inside the transaction
  that removes the message, so their own writes through `conn` commit with it (they must not block). A
  failing rewrite buries the message; a failing callback is logged and the message's fate stands.
- Cost of a drain: at-least-once needs the removal of a delivered message to be atomic with its callbacks'
  writes, not durable at once, so that commit skips the fsync (WAL, synchronous=NORMAL for that one commit: a
  kill -9 loses nothing, a power cut at worst sends the message again). The removal is a watermark
  (`outbound_delivered.upto`: every row up to it is done; a one-page write), and the rows under it are deleted
  every PURGE_EVERY deliveries, when the queue empties and at start. The head is read HEAD_BATCH rows at a time
  (new rows only come after them; a row leaving out of turn drops the batch). A `send` that takes `note` names
  the queued message on its CALL log line. `on_change` is told at most every CHANGE_INTERVAL_S while draining.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import re
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from services.ocpp_client.link.rpc_errors import CallError, CallTimeout, NotConnected, RequestInvalid
from services.ocpp_client.store import atomic

log = logging.getLogger("reon.ocpp.queue")

QUEUE_LIMIT = 10_000
DEAD_LETTER_LIMIT = 1_000
IDLE_RECHECK_S = 2.0  # a message put through a foreign connection shows up after its commit
_TXN_POLL_S = 0.02
_NOT_CONNECTED_PAUSE_S = 0.2
CHANGE_INTERVAL_S = 0.25
HEAD_BATCH = 32
PURGE_EVERY = 256

_COLUMNS = "id, action, payload, kind, meta, droppable, attempts, queued_at, offline"
_META_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS outbound_queue (id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL,"
    " payload TEXT NOT NULL, kind TEXT NOT NULL, meta TEXT NOT NULL, droppable INTEGER NOT NULL,"
    " offline INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, queued_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY, action TEXT NOT NULL, payload TEXT NOT NULL,"
    " kind TEXT NOT NULL, meta TEXT NOT NULL, attempts INTEGER NOT NULL, queued_at REAL NOT NULL,"
    " died_at REAL NOT NULL, error TEXT NOT NULL)",
    # COUNT(*) (the depth, checked at every put) reads this small index instead of every queued payload
    "CREATE INDEX IF NOT EXISTS outbound_queue_droppable ON outbound_queue (droppable)",
    "CREATE TABLE IF NOT EXISTS outbound_delivered (one INTEGER PRIMARY KEY CHECK (one = 1), upto INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO outbound_delivered (one, upto) VALUES (1, 0)",
)


@dataclass(frozen=True)
class QueuedMessage:
    id: int
    action: str
    payload: dict[str, Any]
    kind: str
    meta: dict[str, Any]
    droppable: bool
    attempts: int
    queued_at: float
    offline: bool  # queued while the CSMS link was down (TransactionEvent: rewrite to offline=true)


Rewrite = Callable[[QueuedMessage], dict[str, Any]]
OnDelivered = Callable[[QueuedMessage, dict[str, Any], sqlite3.Connection], None]
OnDeadLetter = Callable[[QueuedMessage, str, sqlite3.Connection], None]
Send = Callable[[str, dict[str, Any]], Any]
BeforeSend = Callable[[QueuedMessage], Awaitable[None]]


@dataclass(frozen=True)
class KindHandlers:
    rewrite: Rewrite | None = None
    on_delivered: OnDelivered | None = None
    on_dead_letter: OnDeadLetter | None = None
    before_send: BeforeSend | None = None


class OutboundQueue:
    """Durable, ordered, retried delivery of CALLs (see the module docstring)."""

    def __init__(self, conn: sqlite3.Connection, send: Send, *, max_attempts: Callable[[], int],
                 attempt_interval_s: Callable[[], float], on_change: Callable[[], None] = lambda: None,
                 online: Callable[[], bool] = lambda: True, limit: int = QUEUE_LIMIT,
                 clock: Callable[[], float] = time.time) -> None:
        self.conn, self._send, self.limit, self._clock = conn, send, limit, clock
        self._max_attempts, self._attempt_interval_s = max_attempts, attempt_interval_s
        self._on_change, self._online = on_change, online
        self._kinds: dict[str, KindHandlers] = {}
        self._wake = asyncio.Event()
        self._open = asyncio.Event()
        self._idle = asyncio.Event()
        self._change_pending, self._changed_at = False, 0.0
        self._batch: deque[tuple[Any, ...]] = deque()  # the next rows in queue order, as read
        self._send_takes_note = _takes_note(send)
        self._synchronous: int | None = None  # the connection's level, restored after each delivery commit
        for statement in _SCHEMA:
            conn.execute(statement)
        self._upto = int(conn.execute("SELECT upto FROM outbound_delivered").fetchone()[0])
        conn.execute("DELETE FROM outbound_queue WHERE id<=?", (self._upto,))
        self._unpurged = 0  # rows at or below the watermark still in the table
        self.dead_letter_count = self._count("dead_letters")

    # ---- API -------------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Messages waiting (including those of a caller's transaction not committed yet)."""
        return self._count("outbound_queue") - self._unpurged

    def register_kind(self, kind: str, *, rewrite: Rewrite | None = None, on_delivered: OnDelivered | None = None,
                      on_dead_letter: OnDeadLetter | None = None, before_send: BeforeSend | None = None) -> None:
        """Hooks for messages of this kind (kinds survive restarts; callbacks are re-registered at start)."""
        self._kinds[kind] = KindHandlers(rewrite, on_delivered, on_dead_letter, before_send)

    async def put(self, action: str, payload: dict[str, Any], *, kind: str = "", meta: dict[str, Any] | None = None,
                  droppable: bool = True, conn: sqlite3.Connection | None = None) -> int:
        """Queue a CALL; returns its queue id. Committed before this returns, unless `conn` holds the
        caller's open transaction (then it commits with it)."""
        return self.put_nowait(action, payload, kind=kind, meta=meta, droppable=droppable, conn=conn)

    def put_nowait(self, action: str, payload: dict[str, Any], *, kind: str = "", meta: dict[str, Any] | None = None,
                   droppable: bool = True, conn: sqlite3.Connection | None = None) -> int:
        """`put` for plain (non-async) code, e.g. inside a SQLite transaction that must not span an await."""
        conn = conn or self.conn
        with atomic(conn):
            if self.depth >= self.limit:
                self._drop_oldest(conn)
            cursor = conn.execute(
                "INSERT INTO outbound_queue (action, payload, kind, meta, droppable, offline, queued_at)"
                " VALUES (?,?,?,?,?,?,?)", (action, json.dumps(payload), kind, json.dumps(meta or {}),
                                            int(droppable), int(not self._online()), self._clock()))
        self._idle.clear()
        self._wake.set()
        self._on_change()
        return int(cursor.lastrowid or 0)

    def count_pending(self, kind: str | None = None, **meta: Any) -> int:
        """Messages waiting of this kind (None: any) whose meta has these values, e.g. transaction_id="…"."""
        sql, params = "SELECT COUNT(*) FROM outbound_queue WHERE id>?", [self._upto]
        if kind is not None:
            sql += " AND kind=?"
            params.append(kind)
        for key, value in meta.items():
            if not _META_KEY.match(key):
                raise ValueError(f"meta key {key!r}: letters, digits and _ only")
            sql += f" AND json_extract(meta, '$.{key}')=?"
            params.append(value)
        return int(self.conn.execute(sql, params).fetchone()[0])

    def set_open(self, is_open: bool) -> None:
        """The gate: open while the link is up and the boot Accepted."""
        if is_open:
            self._open.set()
        else:
            self._open.clear()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    async def drained(self, timeout_s: float) -> bool:
        """Wait until the queue is empty (at most timeout_s); True when it is."""
        if self.depth == 0 and not self.conn.in_transaction:
            return True
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def pending(self, limit: int = 100) -> list[QueuedMessage]:
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM outbound_queue WHERE id>? ORDER BY id LIMIT ?",
                                 (self._upto, limit)).fetchall()
        return [_message(row) for row in rows]

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT id, action, kind, payload, attempts, queued_at, died_at, error"
                                 " FROM dead_letters ORDER BY died_at DESC, id DESC LIMIT ?", (limit,)).fetchall()
        return [{"id": r[0], "action": r[1], "kind": r[2], "payload": json.loads(r[3]), "attempts": r[4],
                 "queued_at": r[5], "died_at": r[6], "error": r[7]} for r in rows]

    # ---- the sender ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver messages forever (one task per service)."""
        while True:
            if not self._open.is_set():
                self._flush_change()
            await self._open.wait()
            await self._outside_callers_transaction()
            message = self._head()
            if message is None:
                self._purge()
                self._flush_change()
                self._idle.set()
                self._wake.clear()
                try:
                    async with asyncio.timeout(IDLE_RECHECK_S):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            await self._deliver(message)

    async def _deliver(self, message: QueuedMessage) -> None:
        handlers = self._kinds.get(message.kind, KindHandlers())
        try:
            payload = handlers.rewrite(message) if handlers.rewrite else message.payload
        except Exception as exc:
            log.exception("%s #%d: rewrite hook of kind %r failed", message.action, message.id, message.kind)
            await self._outside_callers_transaction()
            self._bury(message, f"rewrite hook failed: {exc!r}", handlers)
            return
        attempt = message.attempts + 1
        if handlers.before_send is not None:
            try:
                await handlers.before_send(message)
            except Exception:
                log.exception("%s #%d: before_send hook of kind %r failed", message.action, message.id, message.kind)
        of = f" of {max(1, self._max_attempts())}" if attempt > 1 else ""  # the device model only for a retry
        try:
            if self._send_takes_note:
                note = f" (queued #{message.id}, {message.kind or '-'}, attempt {attempt}{of})"
                response = await self._send(message.action, payload, note=note)
            else:
                log.info("%sRequest shifted from queue and send (#%d, %s, attempt %d%s)", message.action, message.id,
                         message.kind or "-", attempt, of)
                response = await self._send(message.action, payload)
        except RequestInvalid as exc:
            await self._outside_callers_transaction()
            self._bury(message, f"our payload breaks the schema: {exc}", handlers)
            return
        except NotConnected:
            await asyncio.sleep(_NOT_CONNECTED_PAUSE_S)  # the link callbacks close the gate meanwhile
            return
        except (CallTimeout, CallError) as exc:
            await self._attempt_failed(message, attempt, f"{type(exc).__name__}: {exc}", handlers)
            return
        await self._outside_callers_transaction()
        if self._batch and self._batch[0][0] == message.id:
            self._batch.popleft()
        purge = self._unpurged + 1 >= PURGE_EVERY
        with self._atomic_not_yet_durable() as conn:
            # still there, unless a put at the limit dropped it while it was in flight
            kept = conn.execute("SELECT 1 FROM outbound_queue WHERE id=?", (message.id,)).fetchone() is not None
            conn.execute("UPDATE outbound_delivered SET upto=? WHERE one=1", (message.id,))
            _call_quietly(handlers.on_delivered, message, response, conn)
            if purge:
                conn.execute("DELETE FROM outbound_queue WHERE id<=?", (message.id,))
        self._upto = message.id
        self._unpurged = 0 if purge else self._unpurged + kept
        now = time.monotonic()
        if now - self._changed_at >= CHANGE_INTERVAL_S:
            self._changed_at = now
            self._change_pending = False
            self._on_change()
        else:
            self._change_pending = True

    async def _attempt_failed(self, message: QueuedMessage, attempt: int, error: str, handlers: KindHandlers) -> None:
        await self._outside_callers_transaction()
        max_attempts = max(1, self._max_attempts())
        if attempt >= max_attempts:
            self._bury(message, f"{attempt} attempts failed, last: {error}", handlers, attempts=attempt)
            return
        self._batch.clear()  # the head's attempts changed
        self.conn.execute("UPDATE outbound_queue SET attempts=? WHERE id=?", (attempt, message.id))
        wait_s = self._attempt_interval_s() * attempt
        log.warning("%s #%d attempt %d of %d failed (%s): next attempt in %g s", message.action, message.id,
                    attempt, max_attempts, error, wait_s)
        await asyncio.sleep(wait_s)

    @contextlib.contextmanager
    def _atomic_not_yet_durable(self) -> Iterator[sqlite3.Connection]:
        """A transaction committed without an fsync (see the module docstring), the connection's level restored."""
        conn = self.conn
        if self._synchronous is None:
            self._synchronous = int(conn.execute("PRAGMA synchronous").fetchone()[0])
        conn.execute("PRAGMA synchronous=NORMAL")
        try:
            with atomic(conn) as joined:
                yield joined
        finally:
            conn.execute(f"PRAGMA synchronous={self._synchronous}")

    def _flush_change(self) -> None:
        if self._change_pending:
            self._change_pending = False
            self._changed_at = time.monotonic()
            self._on_change()

    # ---- internals -------------------------------------------------------------------------------

    async def _outside_callers_transaction(self) -> None:
        """Wait while a caller holds a transaction open on the shared connection (a durable-stream handler
        across an await): its rows are not committed yet, and our writes must not join its transaction."""
        while self.conn.in_transaction:
            await asyncio.sleep(_TXN_POLL_S)

    def _purge(self) -> None:
        """Delete the delivered rows still in the table (at or below the watermark)."""
        if self._unpurged:
            with self._atomic_not_yet_durable() as conn:
                conn.execute("DELETE FROM outbound_queue WHERE id<=?", (self._upto,))
            self._unpurged = 0

    def _head(self) -> QueuedMessage | None:
        if not self._batch:
            self._batch.extend(self.conn.execute(f"SELECT {_COLUMNS} FROM outbound_queue WHERE id>? ORDER BY id"
                                                 " LIMIT ?", (self._upto, HEAD_BATCH)))
        return _message(self._batch[0]) if self._batch else None

    def _bury(self, message: QueuedMessage, error: str, handlers: KindHandlers, *, attempts: int | None = None) -> None:
        log.error("%s #%d moved to the dead letters: %s", message.action, message.id, error)
        with atomic(self.conn) as conn:
            self._move_to_dead_letters(conn, message, error, attempts)
            _call_quietly(handlers.on_dead_letter, message, error, conn)
        self._on_change()

    def _drop_oldest(self, conn: sqlite3.Connection) -> None:
        row = conn.execute(f"SELECT {_COLUMNS} FROM outbound_queue WHERE droppable=1 AND id>? ORDER BY id LIMIT 1",
                           (self._upto,)).fetchone()
        if row is None:
            log.warning("outbound queue holds %d messages, none droppable: growing past the limit of %d",
                        self.depth, self.limit)
            return
        message = _message(row)
        error = f"dropped: queue full ({self.limit} messages)"
        log.warning("%s #%d %s", message.action, message.id, error)
        self._move_to_dead_letters(conn, message, error, None)
        _call_quietly(self._kinds.get(message.kind, KindHandlers()).on_dead_letter, message, error, conn)

    def _move_to_dead_letters(self, conn: sqlite3.Connection, message: QueuedMessage, error: str,
                              attempts: int | None) -> None:
        self._batch.clear()  # a row leaves out of turn (or this one, maybe in a transaction rolled back later)
        conn.execute("DELETE FROM outbound_queue WHERE id=?", (message.id,))
        conn.execute("INSERT OR REPLACE INTO dead_letters (id, action, payload, kind, meta, attempts, queued_at,"
                     " died_at, error) VALUES (?,?,?,?,?,?,?,?,?)",
                     (message.id, message.action, json.dumps(message.payload), message.kind, json.dumps(message.meta),
                      attempts if attempts is not None else message.attempts, message.queued_at, self._clock(),
                      error[:500]))
        conn.execute("DELETE FROM dead_letters WHERE id NOT IN (SELECT id FROM dead_letters ORDER BY died_at DESC,"
                     " id DESC LIMIT ?)", (DEAD_LETTER_LIMIT,))
        self.dead_letter_count = self._count("dead_letters", conn)

    def _count(self, table: str, conn: sqlite3.Connection | None = None) -> int:
        return int((conn or self.conn).execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _call_quietly(callback: Callable[..., None] | None, message: QueuedMessage, *args: Any) -> None:
    """Run a kind's callback; a failing one is logged and the message's fate stands (never resent for it)."""
    if callback is None:
        return
    try:
        callback(message, *args)
    except Exception:
        log.exception("%s #%d: callback of kind %r failed", message.action, message.id, message.kind)


def _takes_note(send: Send) -> bool:
    """Does `send` take a `note` for its CALL log line (Rpc.call does)?"""
    try:
        return "note" in inspect.signature(send).parameters
    except (TypeError, ValueError):
        return False


def _message(row: tuple[Any, ...]) -> QueuedMessage:
    return QueuedMessage(id=row[0], action=row[1], payload=json.loads(row[2]), kind=row[3], meta=json.loads(row[4]),
                         droppable=bool(row[5]), attempts=row[6], queued_at=row[7], offline=bool(row[8]))
