"""Station benchmark: `reonctl up` in simulation → every service alive; memory (RSS, PSS), per process and in
all; each program's RSS right after importing its module (a fresh interpreter, nothing started); idle CPU.

Memory and CPU count the station itself — supervisord, the broker and the services — and, apart from it,
the simulator and the development CSMS (on a real station they do not exist), and the metrics exporter
(reon-metrics, optional: `[metrics] enabled`). Prints figures.

    python bench/station.py [--idle-s 60] [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reonctl.live import snapshot  # noqa: E402
from station.config import load_config  # noqa: E402
from station.programs import PROGRAMS, environment  # noqa: E402
from tests.stations import write_station  # noqa: E402

SIM_PROGRAMS = ("sim", "csms")
CODE_PACKAGES = ("bus", "station", "services", "sim", "reonctl")
EXPORTER_PROGRAMS = ("metrics",)
STATION_MODULES = ("supervisor.supervisord", "bus.broker", "services.evse_io.service", "services.meter.service",
                   "services.modem.service", "services.ocpp_client.service", "services.firmware.service")
HEAVY = ("ssl", "hashlib", "ocpp", "jsonschema", "jsonschema_rs", "cryptography", "pymodbus", "websockets", "serial",
         "google.protobuf", "sqlite3", "http.client", "email", "tarfile", "sim")
# reads /proc itself: importing psutil here would count psutil's own imports (socket, subprocess, ...)
_IMPORT_PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
kb = {line.split()[0]: int(line.split()[1]) for line in open("/proc/self/smaps_rollup") if line[0] in "RP"}
heavy = [m for m in sys.argv[2].split(",") if m in sys.modules]
print(kb["Rss:"] / 1024, kb["Pss:"] / 1024, len(sys.modules), " ".join(heavy) or "-")
"""


def import_table() -> None:
    """RSS of a fresh interpreter right after importing each program's module, in its supervisord environment."""
    env_of = {p.module: environment(p) for p in PROGRAMS}
    print(f"{'module (import only)':<32} {'RSS MB':>7} {'PSS MB':>7} {'modules':>8}  heavy libraries loaded")
    for module in STATION_MODULES:
        done = subprocess.run([sys.executable, "-c", _IMPORT_PROBE, module, ",".join(HEAVY)], capture_output=True,
                              text=True, cwd=ROOT, env={**os.environ, **env_of.get(module, {})})
        rss, pss, count, heavy = done.stdout.split(maxsplit=3)
        print(f"{module:<32} {float(rss):>7.1f} {float(pss):>7.1f} {int(count):>8}  {heavy.strip()}")


def _name(p: psutil.Process) -> str:
    cmd = p.cmdline()
    return cmd[2] if len(cmd) > 2 and cmd[1] == "-m" else p.name()


def process_table(procs: list[psutil.Process]) -> None:
    print(f"{'running process':<32} {'RSS MB':>7} {'PSS MB':>7}")
    for p in procs:
        info = p.memory_full_info()
        print(f"{_name(p):<32} {info.rss / 2**20:>7.1f} {info.pss / 2**20:>7.1f}")


def reonctl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reonctl.main", "--config", str(config), *args],
                          capture_output=True, text=True, cwd=ROOT)


def station_processes(config_path: Path) -> tuple[list[psutil.Process], list[psutil.Process],
                                                   list[psutil.Process]]:
    """(station, simulator, exporter processes), found from supervisord's pid file and program table."""
    import json

    config = load_config(config_path)
    supervisord = psutil.Process(int((config.paths.run_dir / "supervisord.pid").read_text()))
    doc = json.loads(reonctl(config_path, "status", "--json").stdout)
    station, sim, exporter = [supervisord], [], []
    for name, svc in doc["services"].items():
        if svc["pid"]:
            group = sim if name in SIM_PROGRAMS else exporter if name in EXPORTER_PROGRAMS else station
            group.append(psutil.Process(svc["pid"]))
    return station, sim, exporter


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


def byte_compile() -> None:
    """Compile REON's modules to .pyc as an install does (pip compiles what it installs): with
    PYTHONDONTWRITEBYTECODE set and no .pyc, every program would compile its sources at each start (slower, and
    ~1 MB more RSS per service from the compiler's peak)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", *CODE_PACKAGES], cwd=ROOT, check=False,
                   stdout=subprocess.DEVNULL)


def wait_accepted(config_path: Path, start: float, timeout_s: float) -> float | None:
    """Seconds from `start` until the OCPP service's published registration is Accepted (polled on the bus every
    100 ms while `reonctl up` runs), or None."""
    config = load_config(config_path)
    while time.monotonic() - start < timeout_s:
        try:
            state = snapshot(config, "ocpp.state.csms", deadline_s=0.2) or {}
        except OSError:
            state = {}
        body = (state.get("ocpp.state.csms") or {}).get("body") or {}
        if body.get("registration") == "Accepted":
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-s", type=float, default=60.0, help="idle CPU window (default 60 s)")
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the bench runs, in seconds")
    args = parser.parse_args()
    settle_s = 5.0
    if args.quick:
        args.idle_s, settle_s = 1.0, 0.5
    byte_compile()
    with tempfile.TemporaryDirectory(prefix="reon-bench-") as tmp:
        config = write_station(Path(tmp), sim=True, evses=2)
        # the modem as shipped (deploy/station.toml: every 30 s; the tests' stations poll it every 5 s); meters 1 s
        config.write_text(config.read_text().replace("poll_s = 5\n", "poll_s = 30\n"))
        start = time.monotonic()
        accepted: list[float | None] = []
        watcher = threading.Thread(target=lambda: accepted.append(wait_accepted(config, start, 60.0)))
        watcher.start()
        up = reonctl(config, "up", "--timeout", "120")
        alive_s = time.monotonic() - start
        watcher.join()
        try:
            if up.returncode != 0:
                print(up.stdout, up.stderr)
                raise SystemExit("the station did not come up")
            station, sim, exporter = station_processes(config)
            names = sorted(" ".join(p.cmdline()[2:4]) if len(p.cmdline()) > 3 else p.name() for p in station)
            print(f"station with 2 EVSEs in simulation: {len(station)} processes ({', '.join(names)})")
            print(f"reonctl up → every configured service alive: {alive_s:.1f} s")
            boot = "not within 60 s" if accepted[0] is None else f"{accepted[0]:.2f} s"
            print(f"reonctl up → BootNotification Accepted (ocpp.state.csms registration): {boot} (goal < 2 s)")
            time.sleep(settle_s)  # let start-up work settle before measuring idle
            rss, pss = memory_mb(station)
            sim_rss, sim_pss = memory_mb(sim)
            process_table(station)
            print(f"station memory: RSS {rss:.1f} MB, PSS {pss:.1f} MB (goal: PSS < 90 MB, RSS < 150 MB)")
            print(f"simulator + development CSMS (not on a real station): RSS {sim_rss:.1f} MB, PSS {sim_pss:.1f} MB")
            exp_rss, exp_pss = memory_mb(exporter)
            print(f"metrics exporter (reon-metrics, optional): RSS {exp_rss:.1f} MB, PSS {exp_pss:.1f} MB")
            exp_before = cpu_seconds(exporter)
            before, sim_before, t0 = cpu_seconds(station), cpu_seconds(sim), time.monotonic()
            each = [cpu_seconds([p]) for p in station]
            time.sleep(args.idle_s)
            elapsed = time.monotonic() - t0
            print("idle CPU per process, % of one core: " + ", ".join(
                f"{_name(p)} {(cpu_seconds([p]) - was) / elapsed * 100:.2f}" for p, was in zip(station, each,
                                                                                                   strict=True)))
            cpu = (cpu_seconds(station) - before) / elapsed * 100
            sim_cpu = (cpu_seconds(sim) - sim_before) / elapsed * 100
            print(f"station CPU over {elapsed:.0f} s idle: {cpu:.2f} % of one core (goal < 0.5 %)")
            print(f"simulator + development CSMS CPU: {sim_cpu:.2f} % of one core")
            exp_cpu = (cpu_seconds(exporter) - exp_before) / elapsed * 100
            print(f"metrics exporter CPU (not scraped): {exp_cpu:.2f} % of one core")
        finally:
            reonctl(config, "down")
    import_table()


if __name__ == "__main__":
    main()
