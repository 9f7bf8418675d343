"""OCPP RPC benchmark: CALL round trips per second and station CPU per CALL, REON's Rpc + Connection against a
bare websockets + json loop, in the same run.

The CSMS is a bare WebSocket server in a process of its own (it answers every CALL at once with a canned
CALLRESULT), so the station side is what limits the rate and the station process's CPU time is the station's
alone. REON's side runs exactly as in the service: Connection (Basic auth, ocpp2.0.1 subprotocol, replies handed
to Rpc.receive_reply as they arrive), Rpc with one outstanding CALL, both payloads checked against the 2.0.1
schemas synchronously on the event loop (like `ocpp.messages.ASYNC_VALIDATION = False`); at log level WARNING
(no message line formatted) and, as "REON+log", at INFO with one line per message written (to /dev/null), as a
service under supervisord logs.
The bare loop sends `json.dumps([2, id, action, payload])` and reads the reply: no checks at all.
Actions: Heartbeat, and MeterValues with 4 sampled values. Prints figures and REON/bare ratios.

Each of the three runs --rounds times (default 3) in rotating order after an untimed warm-up; medians.

    python bench/ocpp_rpc.py [--calls 2000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSWORD = "bench-password-0001"
STATION_ID = "BENCH-01"
NOW = "2024-05-01T12:00:00.000Z"
RESULTS = {"Heartbeat": {"currentTime": NOW}, "MeterValues": {}}
METER_VALUES = {"evseId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [
    {"value": 123456.0, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
    {"value": 7360.0, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
    {"value": 32.0, "measurand": "Current.Import", "phase": "L1"},
    {"value": 230.1, "measurand": "Voltage", "phase": "L1-N"},
]}]}
PAYLOADS = {"Heartbeat": {}, "MeterValues": METER_VALUES}


# -- the CSMS (own process) ---------------------------------------------------------------------------------
def csms_process(port_out: Any) -> None:
    from websockets.asyncio.server import serve

    async def answer(ws: Any) -> None:
        async for text in ws:
            frame = json.loads(text)
            await ws.send(json.dumps([3, frame[1], RESULTS[frame[2]]]))

    async def main() -> None:
        async with serve(answer, "127.0.0.1", 0, subprotocols=["ocpp2.0.1"]) as server:
            port_out.put(server.sockets[0].getsockname()[1])
            await asyncio.Future()

    asyncio.run(main())


# -- the two station sides ----------------------------------------------------------------------------------
async def reon_calls(url: str, action: str, n: int) -> tuple[float, float]:
    from services.ocpp_client.link.connection import Connection, ConnectionSettings
    from services.ocpp_client.link.rpc import Rpc

    rpc: Rpc
    up = asyncio.Event()

    async def on_message(data: str | bytes) -> None:
        await rpc.receive(data)

    connection = Connection(ConnectionSettings(url, STATION_ID, 1, PASSWORD), on_message, ping_interval_s=0,
                            on_connected=lambda _info: up.set(), on_reply=lambda text: rpc.receive_reply(text))
    rpc = Rpc(connection.send_text)
    await connection.start()
    await asyncio.wait_for(up.wait(), 5)
    payload = PAYLOADS[action]
    try:
        await rpc.call(action, payload)  # warm-up: validators compiled
        return await _timed(n, lambda: rpc.call(action, payload))
    finally:
        await connection.stop()


async def bare_calls(url: str, action: str, n: int) -> tuple[float, float]:
    from websockets.asyncio.client import connect

    payload = PAYLOADS[action]
    async with connect(f"{url}/{STATION_ID}", subprotocols=["ocpp2.0.1"]) as ws:
        async def call() -> Any:
            await ws.send(json.dumps([2, str(uuid.uuid4()), action, payload]))
            return json.loads(await ws.recv())[2]

        await call()
        return await _timed(n, call)


async def _timed(n: int, call: Any) -> tuple[float, float]:
    """(calls per second, station CPU µs per call)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        await call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return n / wall, cpu / n * 1e6


def _rounds(url: str, action: str, n: int, rounds: int) -> list[tuple[float, float]]:
    """REON, REON+log and bare, each `rounds` times in rotating order after one untimed warm-up pass of each
    (whatever runs first otherwise pays the machine's and the CSMS's warm-up); the median rate and CPU of each."""

    def one(kind: int, calls: int) -> tuple[float, float]:
        logging.getLogger().setLevel(logging.INFO if kind == 1 else logging.WARNING)
        try:
            return asyncio.run(bare_calls(url, action, calls) if kind == 2 else reon_calls(url, action, calls))
        finally:
            logging.getLogger().setLevel(logging.WARNING)

    for kind in range(3):
        one(kind, max(1, n // 10))
    runs: list[list[tuple[float, float]]] = [[], [], []]
    for r in range(rounds):
        for kind in ((r + k) % 3 for k in range(3)):
            runs[kind].append(one(kind, n))
    return [(statistics.median(rate for rate, _ in each), statistics.median(cpu for _, cpu in each)) for each in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="CALLs per action and implementation")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three, in rotating order (median)")
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the bench runs, in seconds")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.rounds = 50, 1
    logging.basicConfig(level=logging.WARNING, stream=open(os.devnull, "w"))  # noqa: SIM115
    ctx = mp.get_context("spawn")
    port_out = ctx.Queue()
    csms = ctx.Process(target=csms_process, args=(port_out,), daemon=True)
    csms.start()
    try:
        url = f"ws://127.0.0.1:{port_out.get(timeout=10)}"
        print(f"OCPP CALL round trips, {args.calls} sequential CALLs each, CSMS in its own process")
        print(f"{'action':<12} {'impl':<9} {'calls/s':>10} {'CPU µs/call':>12}")
        for action in ("Heartbeat", "MeterValues"):
            reon, logged, bare = _rounds(url, action, args.calls, args.rounds)
            for name, (rate, cpu) in (("REON", reon), ("REON+log", logged), ("bare", bare)):
                print(f"{action:<12} {name:<9} {rate:>10,.0f} {cpu:>12,.0f}")
            print(f"{action:<12} {'ratio':<9} {reon[0] / bare[0]:>10.2f} {reon[1] / bare[1]:>12.2f}"
                  f"   (REON / bare; goal ≥ 0.80 calls/s; with INFO log lines {logged[0] / bare[0]:.2f})")
    finally:
        csms.terminate()
        csms.join(5)


if __name__ == "__main__":
    main()
