"""evse_io timing benchmark: the broker and reon-evse-io in their own processes, the MCU board simulated on a pty.

Over N plug → authorize → charge → pause → unplug cycles it measures, with the board's CLOCK_MONOTONIC stamps:
- CP C → B on the wire → allow_power_on=false on the wire (IEC 61851-1: 100 ms; goal p99 < 20 ms);
- CP A → B on the wire → connector status Occupied received from the bus (and B → A → Available).
With `--stress` it runs plain cycles, then cycles while (a) a firmware image downloads over HTTPS, (b) a
10,000-event outbound queue drains to a CSMS and (c) the bus carries 1,000 extra msg/s, each load in processes
of its own (bench/stress_load.py), and prints both side by side (goal: power off p99 < 5 ms under stress).
Every process runs at its program's priority (station/scheduling.py: evse_io real time, bulk work niced);
the MCU board simulator in the bench process stands for a microcontroller with a CPU of its own, so it runs
real time too. `--no-priorities` runs everything at normal priority, for comparison.
Prints figures (not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bus.client import Subscription  # noqa: E402
from bus.harness import Probe, remove_run_dir  # noqa: E402
from sim.mcu_board import McuBoard  # noqa: E402
from station.config import load_config  # noqa: E402
from station.scheduling import NORMAL, REMOTE, SAFETY, apply  # noqa: E402
from tests.stations import write_station  # noqa: E402

TOKEN = {"idToken": "04A1B2C3", "type": "ISO14443"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def figures(label: str, values_s: list[float], extra: str = "") -> str:
    ms = [v * 1000 for v in values_s]
    return (f"{label}: p50 {percentile(ms, 50):.2f} ms, p99 {percentile(ms, 99):.2f} ms, max {max(ms):.2f} ms"
            f" (n={len(ms)}){extra}")


def spawn(module: str, config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("REON_BUS_STRICT", None)  # production mode: no contract checks on every publish
    return subprocess.Popen([sys.executable, "-m", module, "--config", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def state(sub: Subscription, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> float:
    """Read the EVSE's state updates until one matches; the monotonic time it was received."""
    async with asyncio.timeout(timeout):
        while True:
            _, env = await sub.get()
            if predicate(env.body):
                return time.monotonic()


class Timings:
    """The three paths' latencies over a run of cycles, in seconds."""

    def __init__(self) -> None:
        self.power_off_s: list[float] = []
        self.occupied_s: list[float] = []
        self.available_s: list[float] = []


@contextlib.asynccontextmanager
async def station(config_path: Path) -> AsyncIterator[tuple[McuBoard, Probe, Subscription]]:
    """The MCU board on a pty, reon-bus and reon-evse-io in their own processes, the EVSE Available."""
    config = load_config(config_path)
    board = McuBoard(1, config.sim_dir)
    await board.start()
    broker = spawn("bus.broker", config_path)
    probe = Probe(config.paths.run_dir)
    evse_io = None
    try:
        await probe.start(wait_s=10)
        evse_io = spawn("services.evse_io.service", config_path)
        sub = probe.subscribe("evse_io.state.evse.1")
        await state(sub, lambda s: s["link_up"] and s["connector_status"] == "Available", timeout=20)
        yield board, probe, sub
    finally:
        if evse_io is not None:
            evse_io.terminate()
            evse_io.wait(5)
        await probe.close()
        broker.terminate()
        broker.wait(5)
        await board.stop()


async def cycle(board: McuBoard, probe: Probe, sub: Subscription, timings: Timings) -> None:
    """One plug → authorize → charge → EV pause → unplug cycle, its three latencies added to `timings`."""
    board.plug()
    plugged_at = board.state.reported_at["cp_state"]
    timings.occupied_s.append(await state(sub, lambda s: s["connector_status"] == "Occupied") - plugged_at)
    await probe.call("evse_io", "authorize", {"evse": 1, "allowed": True, "id_token": TOKEN})
    await board.wait_for(lambda s: s.relays_closed)
    await state(sub, lambda s: s["charging_state"] == "Charging")
    board.ev_pause()
    paused_at = board.state.reported_at["cp_state"]
    await board.wait_for(lambda s: not s.allow_power_on)
    timings.power_off_s.append(board.state.changed_at["allow_power_on"] - paused_at)
    board.ev_resume()
    board.unplug()
    unplugged_at = board.state.reported_at["cp_state"]
    timings.available_s.append(await state(sub, lambda s: s["connector_status"] == "Available") - unplugged_at)


async def cycles(config_path: Path, n: int) -> None:
    timings = Timings()
    started = time.monotonic()
    async with station(config_path) as (board, probe, sub):
        for _ in range(n):
            await cycle(board, probe, sub, timings)
    elapsed = time.monotonic() - started
    print(f"evse_io timing: {n} cycles in {elapsed:.1f} s; reon-bus and reon-evse-io in their own processes,"
          " the MCU board on a pty in the bench process")
    power_off_s = timings.power_off_s
    worst = "within" if max(power_off_s) < 0.1 else "OVER"
    print(figures("CP C→B on the wire → allow_power_on=false on the wire", power_off_s,
                  f"; limit 100 ms: {worst}; goal p99 < 20 ms: "
                  f"{'met' if percentile(power_off_s, 99) < 0.02 else 'missed'}"))
    print(figures("CP A→B on the wire → connector status Occupied on the bus", timings.occupied_s))
    print(figures("CP B→A on the wire → connector status Available on the bus", timings.available_s))


async def stressed(config_path: Path, n_plain: int, min_stressed: int, n_events: int, image_mb: int,
                   bus_rate: int, loads: set[str]) -> None:
    """Plain cycles, then cycles while an image downloads, the outbound queue drains and the bus carries
    `bus_rate` extra msg/s (bench/stress_load.py), until the queue is empty (and at least `min_stressed`)."""
    from bench.csms_process import CsmsProcess
    from bench.stress_load import BusLoad, DrainLoad, FirmwareLoad, PtyRoundTrips

    config = load_config(config_path)
    (config_path.parent / "drain").mkdir()
    drain_path = write_station(config_path.parent / "drain", sim=True, evses=1)
    drain_path.write_text(drain_path.read_text().replace("[modem]\nenabled = true", "[modem]\nenabled = false"))
    if not config.station.priorities:
        drain_path.write_text(drain_path.read_text().replace("[station]\n", "[station]\npriorities = false\n", 1))
    plain, loaded = Timings(), Timings()
    csms = CsmsProcess(load_config(drain_path), bare=True,
                       scheduling=REMOTE if config.station.priorities else NORMAL)
    firmware = FirmwareLoad(config_path.parent / "firmware", image_mb, config.station.priorities)
    async with station(config_path) as (board, probe, sub):
        for _ in range(n_plain):
            await cycle(board, probe, sub, plain)
        await csms.start()
        drain = DrainLoad(drain_path, n_events if "drain" in loads else 1).start()
        if "firmware" in loads:
            firmware.start()
        bus_load = BusLoad(config.paths.run_dir, bus_rate if "bus" in loads else 1).start()
        anchor = PtyRoundTrips(SAFETY if config.station.priorities else NORMAL)
        try:
            await drain.wait_filled()
            anchor.start()
            drain.go()
            started, while_draining = time.monotonic(), 0
            while not drain.done() or len(loaded.power_off_s) < min_stressed:
                await cycle(board, probe, sub, loaded)
                while_draining += drain.result is None
            elapsed = time.monotonic() - started
        finally:
            pty_s = anchor.stop()
            sent, received, bus_s = bus_load.stop()
            downloads = firmware.stop()
            drain.stop()
            csms.stop()
    result = drain.result or {}
    print(f"evse_io timing under stress: reon-bus and reon-evse-io in their own processes, the MCU board on a pty"
          f" in the bench process; {len(loaded.power_off_s)} stressed cycles in {elapsed:.1f} s, "
          f"{while_draining} of them while the queue drained, meanwhile:")
    print(f"  (a) firmware: {downloads} whole downloads of a {image_mb} MB image over HTTPS on loopback "
          "(services/firmware/download.py in one process, sim/file_server.py in another)")
    drain_s = result.get("elapsed_s", float("nan"))
    if "drain" in loads:
        print(f"  (b) outbound queue: {n_events:,} TransactionEvents drained by the ocpp service (own process) to a "
              f"bare CSMS (own process; the ocpp service on a bus of its own, bench/stress_load.py) in "
              f"{drain_s:.1f} s ({n_events / drain_s:,.0f} events/s), queue "
              f"{'empty' if result.get('drained') else 'NOT EMPTY'}")
    else:
        print("  (b) outbound queue: not loaded (--loads)")
    print(f"  (c) bus: {sent:,} extra events sent ({sent / max(bus_s, 1e-9):,.0f} msg/s, asked {bus_rate:,}), "
          f"{received:,} received through the broker by a subscriber in the same load process")
    print(f"{'path':<58} {'plain p50 / p99 / max':>24}   {'stressed p50 / p99 / max':>24}   goal")
    print(f"{'anchor: 1-byte round trip through a bare pty (no REON)':<58} {'':>24}   {triple(pty_s):>24}   "
          f"(n={len(pty_s)}, every 5 ms, at the priority evse_io has)")
    rows = (("CP C→B on the wire → allow_power_on=false on the wire", "power_off_s", 0.005),
            ("CP A→B on the wire → connector status Occupied on the bus", "occupied_s", None),
            ("CP B→A on the wire → connector status Available on the bus", "available_s", None))
    for label, attr, goal_s in rows:
        a, b = getattr(plain, attr), getattr(loaded, attr)
        goal = "" if goal_s is None else (f"p99 < {goal_s * 1000:.0f} ms under stress: "
                                          f"{'met' if percentile(b, 99) < goal_s else 'MISSED'}")
        print(f"{label:<58} {triple(a):>24}   {triple(b):>24}   {goal}")


def triple(values_s: list[float]) -> str:
    if not values_s:
        return "none timed"
    ms = [v * 1000 for v in values_s]
    return f"{percentile(ms, 50):.2f} / {percentile(ms, 99):.2f} / {max(ms):.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=250, help="plug/charge/unplug cycles (default 250)")
    parser.add_argument("--stress", action="store_true",
                        help="plain cycles, then cycles under load: firmware download, queue drain, bus traffic")
    parser.add_argument("--events", type=int, default=10_000, help="--stress: TransactionEvents to drain")
    parser.add_argument("--image-mb", type=int, default=64, help="--stress: firmware image size")
    parser.add_argument("--bus-rate", type=int, default=1000, help="--stress: extra bus msg/s")
    parser.add_argument("--loads", default="firmware,drain,bus", help="--stress: which loads (for diagnosis)")
    parser.add_argument("--no-priorities", action="store_true",
                        help="every process at normal priority (for comparison with the programs' priorities)")
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the bench runs, in seconds")
    args = parser.parse_args()
    if args.quick:
        args.cycles, args.events, args.image_mb = 3, 200, 2
    got = NORMAL if args.no_priorities else apply(SAFETY)
    print(f"priorities: {'off (every process normal)' if args.no_priorities else 'on'}; "
          f"the board simulator (bench process) runs {got.describe()}")
    with tempfile.TemporaryDirectory(prefix="reon-bench-") as tmp:
        config_path = write_station(Path(tmp), sim=True, evses=1)
        if args.no_priorities:
            config_path.write_text(config_path.read_text().replace("[station]\n", "[station]\npriorities = false\n",
                                                                   1))
        try:
            if args.stress:
                asyncio.run(stressed(config_path, args.cycles, min(args.cycles, 100), args.events, args.image_mb,
                                     args.bus_rate, set(args.loads.split(","))))
            else:
                asyncio.run(cycles(config_path, args.cycles))
        finally:
            remove_run_dir(load_config(config_path).paths.run_dir)


if __name__ == "__main__":
    main()
