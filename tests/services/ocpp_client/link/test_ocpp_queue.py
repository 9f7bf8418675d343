"""The durable outbound queue on its own: SQLite in tmp_path, a plain sender standing in for Rpc.call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.link.rpc_errors import CallError, CallTimeout, NotConnected, RequestInvalid
from services.ocpp_client.store import open_store


class Csms:
    """Answers the queue's CALLs: a script of outcomes (None = answer {}), then {} for the rest."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.script: list[Exception | None] = []
        self.arrived = asyncio.Event()

    async def send(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.received.append((action, payload))
        self.arrived.set()
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        return {"echo": payload.get("n")}

    async def wait_count(self, count: int, timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


Make = Callable[..., OutboundQueue]


@pytest.fixture
def csms() -> Csms:
    return Csms()


@pytest.fixture
async def make_queue(tmp_path: Path, csms: Csms) -> AsyncIterator[Make]:
    tasks: list[asyncio.Task[None]] = []
    conns = []

    def make(*, start: bool = True, attempts: int = 3, **kw: Any) -> OutboundQueue:
        conn = open_store(tmp_path)
        conns.append(conn)
        queue = OutboundQueue(conn, csms.send, max_attempts=lambda: attempts, attempt_interval_s=lambda: 0, **kw)
        if start:
            tasks.append(asyncio.create_task(queue.run()))
        return queue

    yield make
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for conn in conns:
        conn.close()


async def test_messages_survive_a_restart_and_go_out_in_order(make_queue: Make, csms: Csms) -> None:
    first = make_queue(start=False)
    for n in range(3):
        await first.put("SecurityEventNotification", {"n": n}, kind="security")
    again = make_queue()
    assert again.depth == 3
    again.set_open(True)
    await csms.wait_count(3)
    assert [payload["n"] for _, payload in csms.received] == [0, 1, 2]
    assert await again.drained(1.0) and again.depth == 0


async def test_nothing_goes_while_the_gate_is_closed(make_queue: Make, csms: Csms) -> None:
    queue = make_queue()
    await queue.put("SecurityEventNotification", {"n": 1})
    assert not await queue.drained(0.1) and csms.received == []
    queue.set_open(True)
    assert await queue.drained(1.0)


async def test_failed_attempts_end_in_the_dead_letters_and_the_next_message_goes(make_queue: Make,
                                                                               csms: Csms) -> None:
    buried: list[str] = []
    queue = make_queue(attempts=2)
    queue.register_kind("tx", on_dead_letter=lambda message, error, conn: buried.append(error))
    csms.script = [CallError("InternalError", "boom"), CallTimeout("TransactionEvent", "x", 1.0)]
    await queue.put("TransactionEvent", {"n": 1}, kind="tx")
    await queue.put("TransactionEvent", {"n": 2}, kind="tx")
    queue.set_open(True)
    assert await queue.drained(2.0)
    assert [payload["n"] for _, payload in csms.received] == [1, 1, 2]
    assert queue.dead_letter_count == 1 and len(buried) == 1 and "2 attempts failed" in buried[0]
    letter = queue.dead_letters()[0]
    assert letter["payload"] == {"n": 1} and letter["attempts"] == 2 and "CallTimeout" in letter["error"]


async def test_a_lost_link_is_not_an_attempt(make_queue: Make, csms: Csms) -> None:
    queue = make_queue(attempts=1)
    csms.script = [NotConnected("down")]
    await queue.put("TransactionEvent", {"n": 1})
    queue.set_open(True)
    assert await queue.drained(2.0)
    assert len(csms.received) == 2 and queue.dead_letter_count == 0


async def test_a_payload_our_schema_check_refuses_is_buried_at_once(make_queue: Make, csms: Csms) -> None:
    queue = make_queue()
    csms.script = [RequestInvalid("FormatViolation", "bad")]
    await queue.put("TransactionEvent", {"n": 1})
    queue.set_open(True)
    assert await queue.drained(1.0)
    assert len(csms.received) == 1 and "schema" in queue.dead_letters()[0]["error"]


async def test_put_inside_the_callers_transaction_commits_or_rolls_back_with_it(make_queue: Make,
                                                                               csms: Csms) -> None:
    queue = make_queue()
    queue.set_open(True)
    conn = queue.conn
    conn.execute("CREATE TABLE tx_state (seq INTEGER)")
    conn.execute("BEGIN IMMEDIATE")
    await queue.put("TransactionEvent", {"n": 1}, conn=conn)
    conn.execute("INSERT INTO tx_state VALUES (1)")
    await asyncio.sleep(0.05)  # the sender must not take an uncommitted message
    assert csms.received == []
    conn.execute("ROLLBACK")
    assert queue.depth == 0  # rolled back with the caller's transaction
    conn.execute("BEGIN IMMEDIATE")
    await queue.put("TransactionEvent", {"n": 2}, conn=conn)
    conn.execute("INSERT INTO tx_state VALUES (2)")
    conn.execute("COMMIT")
    await csms.wait_count(1)
    assert [payload["n"] for _, payload in csms.received] == [2]


async def test_rewrite_at_send_time_and_delivery_callback(make_queue: Make, csms: Csms) -> None:
    responses: list[dict[str, Any]] = []
    queue = make_queue()
    queue.register_kind("tx", rewrite=lambda m: {**m.payload, "offline": m.meta.get("offline", False)},
                        on_delivered=lambda m, response, conn: responses.append(response))
    await queue.put("TransactionEvent", {"n": 7}, kind="tx", meta={"offline": True})
    queue.set_open(True)
    assert await queue.drained(1.0)
    assert csms.received == [("TransactionEvent", {"n": 7, "offline": True})]
    assert responses == [{"echo": 7}]


async def test_full_queue_drops_the_oldest_droppable_and_never_the_others(make_queue: Make) -> None:
    queue = make_queue(limit=3)
    await queue.put("TransactionEvent", {"n": 0}, droppable=False)  # Started
    await queue.put("TransactionEvent", {"n": 1})  # Updated
    await queue.put("TransactionEvent", {"n": 2})
    await queue.put("TransactionEvent", {"n": 3})
    assert [m.payload["n"] for m in queue.pending()] == [0, 2, 3]
    assert queue.dead_letters()[0]["error"].startswith("dropped: queue full")
    await queue.put("TransactionEvent", {"n": 4}, droppable=False)
    await queue.put("TransactionEvent", {"n": 5}, droppable=False)
    await queue.put("TransactionEvent", {"n": 6}, droppable=False)
    assert [m.payload["n"] for m in queue.pending()] == [0, 4, 5, 6]  # grows past the limit


async def test_a_failing_rewrite_hook_buries_the_message_and_the_queue_goes_on(make_queue: Make, csms: Csms) -> None:
    queue = make_queue()
    queue.register_kind("broken", rewrite=lambda m: 1 / 0)
    await queue.put("TransactionEvent", {"n": 1}, kind="broken")
    await queue.put("SecurityEventNotification", {"n": 2})
    queue.set_open(True)
    assert await queue.drained(1.0)
    assert [payload["n"] for _, payload in csms.received] == [2]
    assert "rewrite hook failed" in queue.dead_letters()[0]["error"]


async def test_messages_remember_whether_they_were_queued_offline_and_can_be_counted(make_queue: Make) -> None:
    online = [False]
    queue = make_queue(start=False, online=lambda: online[0])
    queue.put_nowait("TransactionEvent", {"n": 1}, kind="tx", meta={"transaction_id": "T1"})
    online[0] = True
    await queue.put("TransactionEvent", {"n": 2}, kind="tx", meta={"transaction_id": "T2"})
    assert [m.offline for m in queue.pending()] == [True, False]
    assert queue.count_pending("tx", transaction_id="T1") == 1 and queue.count_pending() == 2
    assert queue.count_pending("security") == 0


async def test_delivered_messages_not_yet_purged_are_never_sent_again(make_queue: Make, csms: Csms) -> None:
    """Delivered rows stay in the table under the watermark until a purge; a restart before it skips them."""
    first = make_queue()
    for n in range(3):
        await first.put("SecurityEventNotification", {"n": n}, kind="security")
    csms.script = [None, None, *[NotConnected("down")] * 50]  # the third keeps failing: no idle purge
    first.set_open(True)
    await csms.wait_count(3)
    first.set_open(False)
    assert first.depth == 1
    again = make_queue(start=False)  # a restart on the same database
    assert again.depth == 1 and [m.payload["n"] for m in again.pending()] == [2]
    assert again.count_pending("security") == 1


async def test_a_message_dropped_at_the_limit_while_in_flight_leaves_the_depth_right(tmp_path: Path) -> None:
    """The head is being sent when a put at the limit drops it (dead letters); its answer then comes. The depth
    still counts exactly the rows waiting (it counted one too few once the delivered mark passed a row that was
    already gone)."""
    first_answer, in_flight, sent = asyncio.Event(), asyncio.Event(), []

    async def send(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        sent.append(payload["n"])
        in_flight.set()
        if payload["n"] == 0:
            await first_answer.wait()
        else:
            await asyncio.Event().wait()  # the next one stays in flight: the queue never idles (no purge)
        return {}

    conn = open_store(tmp_path)
    queue = OutboundQueue(conn, send, max_attempts=lambda: 3, attempt_interval_s=lambda: 0, limit=3)
    for n in range(3):
        await queue.put("TransactionEvent", {"n": n})
    task = asyncio.create_task(queue.run())
    try:
        queue.set_open(True)
        await asyncio.wait_for(in_flight.wait(), 5)
        await queue.put("TransactionEvent", {"n": 3})  # at the limit: the oldest droppable, #0 in flight, goes
        assert [m.payload["n"] for m in queue.pending()] == [1, 2, 3]
        in_flight.clear()
        first_answer.set()
        await asyncio.wait_for(in_flight.wait(), 5)  # #0 answered, #1 in flight
        assert sent == [0, 1]
        assert queue.depth == 3 == len(queue.pending())
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        conn.close()
