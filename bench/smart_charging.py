"""Smart charging benchmark (issue 13).

1. SetChargingProfile received → new PWM duty on the MCU wire: the smart charging block (handlers, real SQLite
   store, limiter loop woken by the change) drives reon-evse-io (in this process, on the real bus through the
   broker) which writes the duty to a simulated MCU board on a pseudo-terminal; the clock stops when the board
   has decoded the new duty. Each step lowers the TxProfile's limit by 0.5 A (a lowering applies at once; a
   raise waits for evse_io's 5 s rule, so after reaching 6 A the ladder restarts at 32 A untimed). Goal p99 < 50 ms.
2. The cost of one composite schedule: 20 stacked TxDefaultProfiles of 24 hourly periods each, plus a
   ChargingStationMaxProfile, over 24 h.
Prints figures (not a test).

    python bench/smart_charging.py [--steps 200] [--composites 200] [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import logging  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

from bench.evse_timing import figures  # noqa: E402
from bus.harness import BrokerThread, Probe, remove_run_dir  # noqa: E402
from bus.runtime import running  # noqa: E402
from services.evse_io.pilot import current_to_duty  # noqa: E402
from services.evse_io.service import EvseIoService  # noqa: E402
from services.ocpp_client.smart_charging.block import EVSE_IO_SOURCE, SmartCharging  # noqa: E402
from services.ocpp_client.smart_charging.composite import Evse, composite  # noqa: E402
from services.ocpp_client.smart_charging.profiles import parse_profile  # noqa: E402
from services.ocpp_client.smart_charging.station import EvseConfig  # noqa: E402
from services.ocpp_client.smart_charging.variables import Settings  # noqa: E402
from sim.mcu_board import McuBoard  # noqa: E402
from station.config import load_config  # noqa: E402
from tests.stations import write_station  # noqa: E402

TOKEN = {"idToken": "04A1B2C3", "type": "ISO14443"}
LADDER_A = [32.0 - 0.5 * i for i in range(53)]  # 32 … 6 A


def tx_profile(limit_a: float) -> dict[str, Any]:
    return {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "transactionId": "TX-1",
            "chargingProfileKind": "Relative", "chargingSchedule": [
                {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_a}]}]}


async def profile_to_duty(config_path: Path, steps: int) -> list[float]:
    station = load_config(config_path)
    broker = BrokerThread(station.paths.run_dir).start()
    probe = Probe(station.paths.run_dir)
    await probe.start()
    board = McuBoard(1, station.sim_dir, keepalive_interval_s=0.1)
    await board.start()
    samples: list[float] = []
    try:
        async with running(EvseIoService, station):
            await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["link_up"] and e.body["cp_state"] == "A")
            board.plug()
            await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["charging_state"] == "EVConnected")
            await probe.call("evse_io", "authorize", {"evse": 1, "allowed": True, "id_token": TOKEN})
            await board.wait_for(lambda s: s.relays_closed)

            async def apply_limit(evse_id: int, current_a: float | None, origin: dict[str, Any]) -> None:
                await probe.call("evse_io", "set_current_limit",
                                 {"evse": evse_id, "amps": current_a, "source": EVSE_IO_SOURCE, "origin": origin})

            async def send(action: str, payload: dict[str, Any]) -> dict[str, Any]:
                return {}

            with tempfile.TemporaryDirectory() as tmp:
                db = sqlite3.connect(Path(tmp) / "ocpp.db", isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                block = SmartCharging(db, [EvseConfig(1, 32.0)], Settings,
                                      lambda: datetime.now(UTC), send, apply_limit)
                block.transaction_started(1, "TX-1", datetime.now(UTC))
                loop_task = asyncio.create_task(block.run())
                set_profile = block.handlers()["SetChargingProfile"]
                try:
                    while len(samples) < steps:
                        for limit_a in LADDER_A:
                            t0 = time.perf_counter()
                            await set_profile({"evseId": 1, "chargingProfile": tx_profile(limit_a)})
                            await board.wait_for(lambda s, a=limit_a: s.pwm_duty_0_01pct == current_to_duty(a),
                                                 timeout=10.0)
                            if limit_a != LADDER_A[0]:  # the restart at 32 A is a raise: untimed
                                samples.append(time.perf_counter() - t0)
                            if len(samples) >= steps:
                                break
                finally:
                    loop_task.cancel()
                    db.close()
    finally:
        await board.stop()
        await probe.close()
        broker.stop()
    return samples


def composite_cost(runs: int) -> list[float]:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    profiles = [parse_profile(0, {
        "id": 100, "stackLevel": 0, "chargingProfilePurpose": "ChargingStationMaxProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
            "startSchedule": start.isoformat(), "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 40}]}]}, start)]
    for level in range(20):
        offset = timedelta(minutes=7 * level)
        watts = 690 if level % 2 else 1  # W profiles: the same 6-32 A per phase over 3 phases at 230 V
        periods = [{"startPeriod": h * 3600, "limit": (6 + (h * 7 + level) % 26) * watts} for h in range(24)]
        profiles.append(parse_profile(1, {
            "id": level + 1, "stackLevel": level, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute", "validFrom": (start + offset).isoformat(),
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W" if level % 2 else "A",
                                  "duration": 86400 - 600 * level, "startSchedule": (start + offset).isoformat(),
                                  "chargingSchedulePeriod": periods}]},
            start))
    evse = Evse(1, 32.0)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = composite(profiles, evse, start, 86400)
        samples.append(time.perf_counter() - t0)
    print(f"  ({len(result.periods)} composite periods)")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200, help="profile → duty samples (default 200)")
    parser.add_argument("--composites", type=int, default=200, help="composite computations (default 200)")
    parser.add_argument("--quick", action="store_true", help="20 samples of each: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.composites = 20, 20
    logging.basicConfig(level=logging.WARNING)
    print(figures("composite, 20 stacked profiles x 24 periods, 24 h", composite_cost(args.composites)))
    with tempfile.TemporaryDirectory(prefix="reon-bench-") as tmp:
        config_path = write_station(Path(tmp), sim=True, evses=1)
        try:
            samples = asyncio.run(profile_to_duty(config_path, args.steps))
        finally:
            remove_run_dir(load_config(config_path).paths.run_dir)
    print(figures("SetChargingProfile received → new duty on the MCU wire", samples, " (goal p99 < 50 ms)"))


if __name__ == "__main__":
    main()
