"""Station benchmark: `reonctl up` in simulation → every service alive; memory (RSS, PSS); idle CPU.

Memory and CPU count the station itself — supervisord, the broker and the services — and, apart from it,
the simulator and the development CSMS (on a real station they do not exist). Prints figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from station.config import load_config  # noqa: E402
from tests.stations import write_station  # noqa: E402

SIM_PROGRAMS = ("sim", "csms")


def reonctl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reonctl.main", "--config", str(config), *args],
                          capture_output=True, text=True, cwd=ROOT)


def station_processes(config_path: Path) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """(station processes, simulator processes), found from supervisord's pid file and program table."""
    import json

    config = load_config(config_path)
    supervisord = psutil.Process(int((config.paths.run_dir / "supervisord.pid").read_text()))
    doc = json.loads(reonctl(config_path, "status", "--json").stdout)
    station, sim = [supervisord], []
    for name, svc in doc["services"].items():
        if svc["pid"]:
            (sim if name in SIM_PROGRAMS else station).append(psutil.Process(svc["pid"]))
    return station, sim


def memory_mb(procs: list[psutil.Process]) -> tuple[float, float]:
    rss = pss = 0
    for p in procs:
        info = p.memory_full_info()
        rss += info.rss
        pss += info.pss
    return rss / 2**20, pss / 2**20


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-s", type=float, default=60.0, help="idle CPU window (default 60 s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reon-bench-") as tmp:
        config = write_station(Path(tmp), sim=True, evses=2)
        start = time.monotonic()
        up = reonctl(config, "up", "--timeout", "120")
        alive_s = time.monotonic() - start
        try:
            if up.returncode != 0:
                print(up.stdout, up.stderr)
                raise SystemExit("the station did not come up")
            station, sim = station_processes(config)
            names = sorted(" ".join(p.cmdline()[2:4]) if len(p.cmdline()) > 3 else p.name() for p in station)
            print(f"station with 2 EVSEs in simulation: {len(station)} processes ({', '.join(names)})")
            print(f"reonctl up → every configured service alive: {alive_s:.1f} s")
            time.sleep(5)  # let start-up work settle before measuring idle
            rss, pss = memory_mb(station)
            sim_rss, sim_pss = memory_mb(sim)
            print(f"station memory: RSS {rss:.1f} MB, PSS {pss:.1f} MB (goal < 180 MB RSS)")
            print(f"simulator + development CSMS (not on a real station): RSS {sim_rss:.1f} MB, PSS {sim_pss:.1f} MB")
            before, sim_before, t0 = cpu_seconds(station), cpu_seconds(sim), time.monotonic()
            time.sleep(args.idle_s)
            elapsed = time.monotonic() - t0
            cpu = (cpu_seconds(station) - before) / elapsed * 100
            sim_cpu = (cpu_seconds(sim) - sim_before) / elapsed * 100
            print(f"station CPU over {elapsed:.0f} s idle: {cpu:.2f} % of one core (goal < 2 %)")
            print(f"simulator + development CSMS CPU: {sim_cpu:.2f} % of one core")
        finally:
            reonctl(config, "down")


if __name__ == "__main__":
    main()
