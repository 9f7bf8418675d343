"""The development CSMS (sim.csms.DevCsms) in a spawned process of its own, for benchmarks: the station side is
then what the bench process measures. DevCsms stamps every frame with time.time() on receipt; the bench asks over
a pipe for the TransactionEvents it received (one request, one reply: nothing crosses the pipe per message).
The spawned process re-imports the bench's main module: keep that module's work under `if __name__ == "__main__"`.
With `bare=True` the CSMS is BareCsms instead: websockets + json that only answers (a canned CALLRESULT per
action) and records what it received, so the station's side is what limits the rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
from typing import Any, NamedTuple

import psutil

from station.config import StationConfig
from station.scheduling import NORMAL, Scheduling, apply

WAIT_S = 10.0


class AtCsms(NamedTuple):
    """A TransactionEvent as the CSMS received it."""

    time: float  # time.time() at receipt, in the CSMS process
    event_type: str
    seq_no: int
    transaction_id: str
    offline: bool
    trigger_reason: str
    charging_state: str | None


class CsmsProcess:
    """DevCsms on the station's CSMS port and password, in a spawned process."""

    def __init__(self, config: StationConfig, *, bare: bool = False, scheduling: Scheduling = NORMAL) -> None:
        ctx = mp.get_context("spawn")
        self._conn, self._child = ctx.Pipe()
        self.process = ctx.Process(target=csms_main, daemon=True, args=(
            self._child, config.sim.csms_port, config.csms.password, config.station.id, bare, scheduling))

    async def start(self) -> None:
        self.process.start()
        self._child.close()
        await self._reply(30.0)

    async def mark(self) -> int:
        """The index the station's next frame will have."""
        return int(await self._ask({"cmd": "mark"}, WAIT_S))

    async def events(self, since: int, count: int = 1, *, event_type: str | None = None,
                     charging_state: str | None = None, timeout_s: float = WAIT_S) -> list[AtCsms]:
        """The first `count` TransactionEvent CALLs at index >= since of that eventType / chargingState (None:
        any); waits for them (TimeoutError as RuntimeError after timeout_s)."""
        found = await self._ask({"cmd": "events", "since": since, "count": count, "event_type": event_type,
                                 "charging_state": charging_state, "timeout_s": timeout_s}, timeout_s + 5)
        return [AtCsms(*row) for row in found]

    def cpu_s(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)

    async def _ask(self, request: dict[str, Any], timeout_s: float) -> Any:
        self._conn.send(request)
        return await self._reply(timeout_s)

    async def _reply(self, timeout_s: float) -> Any:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        fd = self._conn.fileno()
        loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        try:
            async with asyncio.timeout(timeout_s):
                await ready
        finally:
            loop.remove_reader(fd)
        status, result = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"CSMS process: {result}")
        return result


# -- in the spawned process ---------------------------------------------------------------------------------
def csms_main(conn: Any, port: int, password: str, station_id: str, bare: bool = False,
              scheduling: Scheduling = NORMAL) -> None:
    apply(scheduling)
    asyncio.run(_serve(conn, port, password, station_id, bare))


class _Record(NamedTuple):
    index: int
    time: float
    kind: str
    action: str
    payload: Any


class BareCsms:
    """websockets + json, nothing else: answers every CALL at once and keeps (time, action, payload)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.records: list[_Record] = []
        self._arrived = asyncio.Event()
        self._server: Any = None

    async def start(self) -> BareCsms:
        from websockets.asyncio.server import serve

        self._server = await serve(self._session, "127.0.0.1", self.port, subprotocols=["ocpp2.0.1"])
        return self

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _session(self, ws: Any) -> None:
        import json
        import time

        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        results = {"BootNotification": {"currentTime": now, "interval": 300, "status": "Accepted"},
                   "Heartbeat": {"currentTime": now}, "Authorize": {"idTokenInfo": {"status": "Accepted"}}}
        async for text in ws:
            frame = json.loads(text)
            if frame[0] != 2:
                continue
            await ws.send(json.dumps([3, frame[1], results.get(frame[2], {})]))
            self.records.append(_Record(len(self.records), time.time(), "call", frame[2], frame[3]))
            self._arrived.set()

    def messages(self, station_id: str, action: str | None = None, since: int = 0) -> list[_Record]:
        return [r for r in self.records[since:] if action in (None, r.action)]

    async def wait_for_message(self, station_id: str, action: str | None, *, since: int = 0,
                               timeout_s: float = 5.0) -> _Record:
        async with asyncio.timeout(timeout_s):
            while True:
                found = self.messages(station_id, action, since)
                if found:
                    return found[0]
                self._arrived.clear()
                await self._arrived.wait()


async def _serve(conn: Any, port: int, password: str, station_id: str, bare: bool) -> None:
    from sim.csms import DevCsms

    csms = await (BareCsms(port) if bare else DevCsms(password=password, port=port)).start()
    requests: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            requests.put_nowait(conn.recv())
        except EOFError:  # the bench went away
            loop.remove_reader(conn.fileno())
            requests.put_nowait(None)

    loop.add_reader(conn.fileno(), readable)
    conn.send(("ok", None))
    while (request := await requests.get()) is not None:
        try:
            conn.send(("ok", await _answer(csms, station_id, request)))
        except Exception as exc:  # told to the bench, which raises it
            conn.send(("error", repr(exc)))
    await csms.stop()


async def _answer(csms: Any, station_id: str, request: dict[str, Any]) -> Any:
    if request["cmd"] == "mark":
        return len(csms.messages(station_id))
    found: list[tuple[Any, ...]] = []
    index = request["since"]
    async with asyncio.timeout(request["timeout_s"]):
        while len(found) < request["count"]:
            first = await csms.wait_for_message(station_id, "TransactionEvent", since=index, timeout_s=1e6)
            for record in csms.messages(station_id, "TransactionEvent", since=first.index):
                index = record.index + 1
                payload, info = record.payload, record.payload["transactionInfo"]
                if record.kind != "call" or request["event_type"] not in (None, payload["eventType"]) \
                        or request["charging_state"] not in (None, info.get("chargingState")):
                    continue
                found.append((record.time, payload["eventType"], payload["seqNo"], info["transactionId"],
                              bool(payload.get("offline")), payload["triggerReason"], info.get("chargingState")))
    return found[:request["count"]]
