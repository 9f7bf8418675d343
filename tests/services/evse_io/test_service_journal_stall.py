"""evse_io while its journal cannot be written: power off still reaches the MCU; the bus (states, tokens) waits.

Another connection holds evse_io.db's write lock, so the session journal's commit waits in SQLite exactly as
it would behind a slow disk (the database is real; only its lock is held).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from bus.harness import wait_until
from services.evse_io.store import DB_NAME

TOKEN = {"idToken": "04A1B2C3", "type": "ISO14443"}
IEC_POWER_OFF_S = 0.1  # IEC 61851-1: C → B → power off within 100 ms


@contextmanager
def journal_stalled(station) -> Iterator[None]:
    """Hold evse_io.db's write lock (WAL: readers go on, every commit waits) until the block ends."""
    conn = sqlite3.connect(str(station.paths.data_dir / DB_NAME), isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def power_off_latency_s(board) -> float:
    return board.state.changed_at["allow_power_on"] - board.state.reported_at["cp_state"]


async def test_power_off_reaches_the_wire_while_a_journal_commit_is_stuck(
        evse_io, station, boards, probe, evse_state) -> None:
    board = boards[1]
    board.plug()
    await evse_state(1, lambda s: s["charging_state"] == "EVConnected")
    await probe.call("evse_io", "authorize", {"evse": 1, "allowed": True, "id_token": TOKEN})
    await board.wait_for(lambda s: s.relays_closed)
    await evse_state(1, lambda s: s["charging_state"] == "Charging")

    with journal_stalled(station):
        board.ev_pause()  # its session events start a commit that cannot finish
        await board.wait_for(lambda s: not s.allow_power_on and not s.relays_closed)
        assert power_off_latency_s(board) < IEC_POWER_OFF_S
        board.ev_resume()
        await board.wait_for(lambda s: s.allow_power_on and s.relays_closed)
        board.ev_pause()  # C → B while the commit is still stuck
        await board.wait_for(lambda s: not s.allow_power_on and not s.relays_closed)
        assert power_off_latency_s(board) < IEC_POWER_OFF_S
        _, env = await probe.wait_for("evse_io.state.evse.1")
        assert env.body["charging_state"] == "Charging"  # the bus is never ahead of the journal

    state = await evse_state(1, lambda s: s["charging_state"] == "SuspendedEV")
    assert state["relays_closed"] is False
    reply = await probe.call("evse_io", "replay", {"stream": "session", "after_seq": 0})
    names = [entry["name"] for entry in reply["entries"]]
    assert names[names.index("power_on"):] == ["power_on", "power_off", "power_on", "power_off"]
    assert [entry["seq"] for entry in reply["entries"]] == list(range(1, len(names) + 1))


async def test_a_token_presented_after_plug_in_goes_on_the_bus_after_the_plugged_in_entry(
        evse_io, station, boards, probe, caplog) -> None:
    caplog.set_level(logging.INFO, "evse_io")
    events = probe.subscribe("evse_io.evt.")
    with journal_stalled(station):
        boards[1].plug()
        await boards[1].wait_for(lambda s: s.lock_commanded is True)  # evse_io has seen the plug-in
        presenting = asyncio.create_task(probe.call("evse_io", "present_token", {"evse": 1, "id_token": TOKEN}))
        await wait_until(lambda: "presented" in caplog.text)  # evse_io has it while plugged_in waits for the journal
    await presenting
    seen = []
    while "token" not in seen:
        topic, env = await events.get()
        seen.append(env.body["name"] if topic == "evse_io.evt.session" else topic.rsplit(".", 1)[-1])
    assert "plugged_in" in seen[:-1]  # seen ends with the token
