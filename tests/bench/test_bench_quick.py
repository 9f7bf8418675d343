"""Every benchmark's `--quick` mode runs to the end and prints its figures, so a bench cannot rot unnoticed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

# bench script → figures its output must carry (regular expressions)
EXPECTED = {
    "bus.py": [r"REON bus \(via broker\)\s+[\d,]+ msg/s", r"raw pyzmq PUB/SUB\s+[\d,]+ msg/s",
               r"REON / raw pyzmq throughput: \d+%"],
    "schema_validators.py": [r"MeterValuesRequest\s+[\d.]+", r"RSS added"],
    "ocpp_rpc.py": [r"Heartbeat\s+ratio\s+[\d.]+", r"MeterValues\s+ratio\s+[\d.]+"],
    "ocpp_queue.py": [r"1a\. against the bare", r"delivery rate: [\d,]+ events/s", r"in queue order",
                      r"drained event / plain CALL: [\d.]+×", r"TransactionEvent Ended: p50"],
    "evse_timing.py": [r"allow_power_on=false on the wire: p50 [\d.]+ ms"],
    "firmware.py": [r"median: REON [\d.]+ MB/s"],
    "smart_charging.py": [r"composite, 20 stacked profiles .*: p50 [\d.]+ ms",
                          r"SetChargingProfile received → new duty on the MCU wire: p50 [\d.]+ ms, p99 [\d.]+ ms"],
    "station.py": [r"station memory: RSS [\d.]+ MB, PSS [\d.]+ MB", r"station CPU over",
                   r"services\.ocpp_client\.service\s+[\d.]+\s+[\d.]+\s+\d+"],
}


def test_every_bench_script_has_a_quick_test() -> None:
    scripts = {p.name for p in BENCH.glob("*.py")} - {"__init__.py", "csms_process.py", "stress_load.py"}
    assert scripts <= set(EXPECTED), f"bench scripts without a quick test: {sorted(scripts - set(EXPECTED))}"


def test_no_bench_script_shadows_a_standard_library_module() -> None:
    shadowing = sorted(p.stem for p in BENCH.glob("*.py") if p.stem in sys.stdlib_module_names)
    assert not shadowing, f"bench/ shadows the standard library: {shadowing}"


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_quick_mode_prints_its_figures(script: str) -> None:
    done = subprocess.run([sys.executable, str(BENCH / script), "--quick"], cwd=ROOT, capture_output=True,
                          text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-3000:]
    for pattern in EXPECTED[script]:
        assert re.search(pattern, done.stdout), f"{script} --quick did not print /{pattern}/:\n{done.stdout}"


def test_evse_timing_stress_quick_prints_plain_and_stressed_figures() -> None:
    done = subprocess.run([sys.executable, str(BENCH / "evse_timing.py"), "--stress", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-3000:]
    for pattern in (r"firmware: [1-9]\d* whole downloads", r"200 TransactionEvents drained .* queue empty",
                    r"bus: [\d,]+ extra events sent", r"allow_power_on=false on the wire\s+[\d.]+ / [\d.]+ / [\d.]+ ms"
                    r"\s+[\d.]+ / [\d.]+ / [\d.]+ ms\s+p99 < 5 ms under stress: (met|MISSED)"):
        assert re.search(pattern, done.stdout), f"--stress --quick did not print /{pattern}/:\n{done.stdout}"
