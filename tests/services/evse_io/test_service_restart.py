"""evse_io across restarts: persisted availability, power off until re-authorized, the durable session stream."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from bus.client import BusClient
from bus.durable import DurableConsumer
from bus.runtime import Service
from station.sqlite import open_db

TOKEN = {"idToken": "04A1B2C3", "type": "ISO14443"}
ROOT = Path(__file__).resolve().parents[3]


async def state_of(probe, service: Service, evse_id: int, predicate, timeout: float = 3.0) -> dict[str, Any]:
    """The first state of this EVSE published by this run of the service for which predicate holds."""
    session = service.bus.stamper.session
    _, env = await probe.wait_for(f"evse_io.state.evse.{evse_id}",
                                  lambda e: e.session == session and predicate(e.body), timeout)
    return env.body


class OcppStandIn:
    """The ocpp end of the session stream: a DurableConsumer with a database of its own, restartable."""

    def __init__(self, run_dir: Path, db_path: Path) -> None:
        self.run_dir, self.db_path = run_dir, db_path
        self.entries: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def start(self) -> None:
        self.bus = BusClient(self.run_dir, "ocpp", strict=False)
        await self.bus.start()
        self.conn = open_db(str(self.db_path))
        self.conn.execute("CREATE TABLE IF NOT EXISTS handled (seq INTEGER PRIMARY KEY, name TEXT, evse_id INTEGER)")
        self.consumer = DurableConsumer(self.bus, self.conn, "evse_io", "session", "ocpp", self.handle)
        self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.bus.close()
        self.conn.close()

    async def handle(self, entry: dict[str, Any], conn: Any) -> None:
        conn.execute("INSERT INTO handled VALUES (?,?,?)", (entry["seq"], entry["name"], entry["data"]["evse_id"]))
        self.entries.put_nowait(entry)

    async def until(self, name: str, evse_id: int, timeout: float = 3.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                entry = await self.entries.get()
                if entry["name"] == name and entry["data"]["evse_id"] == evse_id:
                    return entry

    def handled(self) -> list[tuple[int, str, int]]:
        return self.conn.execute("SELECT seq, name, evse_id FROM handled ORDER BY seq").fetchall()


async def plug_and_charge(board, probe, service: Service) -> None:
    board.plug()
    await state_of(probe, service, 1, lambda s: s["charging_state"] == "EVConnected")
    await probe.call("evse_io", "authorize", {"evse": 1, "allowed": True, "id_token": TOKEN})
    await board.wait_for(lambda s: s.relays_closed)


async def test_availability_survives_a_service_restart(run_evse_io, station, boards, probe) -> None:
    async with run_evse_io() as service:
        await state_of(probe, service, 2, lambda s: s["link_up"])
        await probe.call("evse_io", "set_availability", {"evse": 2, "availability": "Inoperative"})
    assert (station.paths.data_dir / "evse_io.db").exists()
    async with run_evse_io() as service:
        state = await state_of(probe, service, 2, lambda s: s["link_up"])
        assert state["availability"] == "Inoperative" and state["connector_status"] == "Unavailable"
        assert (await state_of(probe, service, 1, lambda s: s["link_up"]))["connector_status"] == "Available"
        await probe.call("evse_io", "set_availability", {"evse": 2, "availability": "Operative"})
    async with run_evse_io() as service:
        await state_of(probe, service, 2, lambda s: s["link_up"] and s["connector_status"] == "Available")


async def test_ev_left_plugged_gets_no_power_after_a_restart_until_reauthorized(
        run_evse_io, boards, probe) -> None:
    board = boards[1]
    async with run_evse_io() as service:
        await plug_and_charge(board, probe, service)
    await board.wait_for(lambda s: not s.allow_power_on and s.pwm_duty_0_01pct == 10000 and not s.relays_closed)
    async with run_evse_io() as service:
        state = await state_of(probe, service, 1, lambda s: s["link_up"] and s["cp_state"] == "B")
        assert state["charging_state"] == "EVConnected" and not state["session"]["authorized"]
        assert not board.state.allow_power_on and board.state.pwm_duty_0_01pct == 10000
        await probe.call("evse_io", "authorize", {"evse": 1, "allowed": True, "id_token": TOKEN})
        await board.wait_for(lambda s: s.relays_closed)
        await state_of(probe, service, 1, lambda s: s["charging_state"] == "Charging")


async def test_command_replies_after_its_session_event_is_journaled(evse_io, boards, probe, evse_state) -> None:
    boards[1].plug()
    await evse_state(1, lambda s: s["charging_state"] == "EVConnected")
    await probe.call("evse_io", "authorize", {"evse": 1, "allowed": True, "id_token": TOKEN})
    reply = await probe.call("evse_io", "replay", {"stream": "session", "after_seq": 0})
    names = [(e["name"], e["data"]["evse_id"]) for e in reply["entries"]]
    assert ("authorized", 1) in names
    authorized = next(e for e in reply["entries"] if e["name"] == "authorized")
    assert authorized["data"]["id_token"] == TOKEN and authorized["data"]["session_id"]


async def test_session_stream_replays_without_gaps_across_restarts_of_both_ends(
        run_evse_io, station, boards, probe, tmp_path) -> None:
    board = boards[1]
    ocpp = OcppStandIn(station.paths.run_dir, tmp_path / "ocpp.db")
    await ocpp.start()
    async with run_evse_io() as service:
        await plug_and_charge(board, probe, service)
        await ocpp.until("power_on", 1)
    await ocpp.stop()  # the consumer is down while evse_io restarts and the session goes on
    async with run_evse_io() as service:
        await state_of(probe, service, 1, lambda s: s["link_up"] and s["cp_state"] == "B")
        await probe.call("evse_io", "authorize", {"evse": 1, "allowed": True, "id_token": TOKEN})
        await board.wait_for(lambda s: s.relays_closed)
        await state_of(probe, service, 1, lambda s: s["charging_state"] == "Charging")
        await ocpp.start()  # catches up from its cursor
        board.unplug()
        ended = await ocpp.until("session_ended", 1)
    assert ended["data"]["reason"] == "EVDisconnected" and ended["data"]["session"]["power_off_at"]
    handled = ocpp.handled()
    await ocpp.stop()
    assert [seq for seq, _, _ in handled] == list(range(1, len(handled) + 1))
    assert [name for _, name, evse in handled if evse == 1] == [
        "evse_io_started", "plugged_in", "authorized", "power_on", "power_off",  # power off at the clean stop
        "evse_io_started", "plugged_in", "authorized", "power_on", "unplugged", "power_off", "session_ended"]
    assert [name for _, name, evse in handled if evse == 2] == ["evse_io_started", "evse_io_started"]


async def spawn_evse_io(config_path: Path) -> asyncio.subprocess.Process:
    """reon-evse-io as its own process, as supervisord runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.evse_io.service", "--config", str(config_path), env=env, cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def test_killed_service_restarts_with_power_off_and_its_stream_intact(station, boards, probe) -> None:
    board = boards[1]
    proc = await spawn_evse_io(station.path)
    try:
        _, env = await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["link_up"], timeout=10)
        first_run = env.session
        board.plug()
        await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["charging_state"] == "EVConnected")
        await probe.call("evse_io", "authorize", {"evse": 1, "allowed": True, "id_token": TOKEN})
        await board.wait_for(lambda s: s.relays_closed)
        await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["charging_state"] == "Charging")
        proc.kill()  # SIGKILL: no stop, no clean-up
        await proc.wait()
        assert board.state.allow_power_on and board.state.relays_closed  # nobody switched it off
        proc = await spawn_evse_io(station.path)
        await probe.wait_for("evse_io.state.evse.1", lambda e: e.session != first_run and e.body["cp_state"],
                             timeout=10)
        await board.wait_for(lambda s: not s.allow_power_on and not s.relays_closed)
        reply = await probe.call("evse_io", "replay", {"stream": "session", "after_seq": 0})
    finally:
        proc.kill()
        await proc.wait()
    entries = reply["entries"]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    names = [e["name"] for e in entries if e["data"]["evse_id"] == 1]
    assert names[:6] == ["evse_io_started", "plugged_in", "authorized", "power_on", "evse_io_started", "plugged_in"]
    restarted = [e["data"] for e in entries if e["name"] == "evse_io_started" and e["data"]["evse_id"] == 1][1]
    assert restarted["ev_plugged"] and restarted["cp_state"] == "C"
