"""evse_io timing benchmark: the broker and reon-evse-io in their own processes, the MCU board simulated on a pty.

Over N plug → authorize → charge → pause → unplug cycles it measures, with the board's CLOCK_MONOTONIC stamps:
- CP C → B on the wire → allow_power_on=false on the wire (IEC 61851-1: 100 ms; goal p99 < 20 ms);
- CP A → B on the wire → connector status Occupied received from the bus (and B → A → Available).
Prints figures (not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bus.client import Subscription  # noqa: E402
from bus.harness import Probe, remove_run_dir  # noqa: E402
from sim.mcu_board import McuBoard  # noqa: E402
from station.config import load_config  # noqa: E402
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


async def cycles(config_path: Path, n: int) -> None:
    config = load_config(config_path)
    board = McuBoard(1, config.sim_dir)
    await board.start()
    broker = spawn("bus.broker", config_path)
    probe = Probe(config.paths.run_dir)
    await probe.start(wait_s=10)
    evse_io = spawn("services.evse_io.service", config_path)
    power_off_s: list[float] = []
    occupied_s: list[float] = []
    available_s: list[float] = []
    started = time.monotonic()
    try:
        sub = probe.subscribe("evse_io.state.evse.1")
        await state(sub, lambda s: s["link_up"] and s["connector_status"] == "Available", timeout=20)
        for _ in range(n):
            board.plug()
            plugged_at = board.state.reported_at["cp_state"]
            occupied_s.append(await state(sub, lambda s: s["connector_status"] == "Occupied") - plugged_at)
            await probe.call("evse_io", "authorize", {"evse": 1, "allowed": True, "id_token": TOKEN})
            await board.wait_for(lambda s: s.relays_closed)
            await state(sub, lambda s: s["charging_state"] == "Charging")
            board.ev_pause()
            paused_at = board.state.reported_at["cp_state"]
            await board.wait_for(lambda s: not s.allow_power_on)
            power_off_s.append(board.state.changed_at["allow_power_on"] - paused_at)
            board.ev_resume()
            board.unplug()
            unplugged_at = board.state.reported_at["cp_state"]
            available_s.append(await state(sub, lambda s: s["connector_status"] == "Available") - unplugged_at)
    finally:
        elapsed = time.monotonic() - started
        evse_io.terminate()
        evse_io.wait(5)
        await probe.close()
        broker.terminate()
        broker.wait(5)
        await board.stop()
    print(f"evse_io timing: {n} cycles in {elapsed:.1f} s; reon-bus and reon-evse-io in their own processes,"
          " the MCU board on a pty in the bench process")
    worst = "within" if max(power_off_s) < 0.1 else "OVER"
    print(figures("CP C→B on the wire → allow_power_on=false on the wire", power_off_s,
                  f"; limit 100 ms: {worst}; goal p99 < 20 ms: "
                  f"{'met' if percentile(power_off_s, 99) < 0.02 else 'missed'}"))
    print(figures("CP A→B on the wire → connector status Occupied on the bus", occupied_s))
    print(figures("CP B→A on the wire → connector status Available on the bus", available_s))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=250, help="plug/charge/unplug cycles (default 250)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reon-bench-") as tmp:
        config_path = write_station(Path(tmp), sim=True, evses=1)
        try:
            asyncio.run(cycles(config_path, args.cycles))
        finally:
            remove_run_dir(load_config(config_path).paths.run_dir)


if __name__ == "__main__":
    main()
