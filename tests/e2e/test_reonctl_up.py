"""A real station under supervisord: `reonctl up`, `status --json`, `restart`, `down`."""

import json
import os
import subprocess
import sys

from station.programs import PROGRAMS
from tests.stations import write_station


def reonctl(config, *args, timeout=90):
    return subprocess.run([sys.executable, "-m", "reonctl.main", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_up_status_restart_down_under_supervisord(tmp_path) -> None:
    config = write_station(tmp_path, sim=False)
    try:
        up = reonctl(config, "up", "--timeout", "60")
        assert up.returncode == 0, up.stdout + up.stderr
        status = reonctl(config, "status", "--json")
        assert status.returncode == 0, status.stdout
        doc = json.loads(status.stdout)
        assert doc["services"]["bus"]["state"] == "RUNNING"
        assert all(s["alive"] for s in doc["services"].values())
        assert doc["station"]["id"].startswith("TEST-")
        first_pid = doc["services"]["bus"]["pid"]
        may_raise = _may_run_real_time()
        for program in PROGRAMS:  # each program runs at the priority it declares (real time where permitted)
            if (svc := doc["services"].get(program.name)) is not None:
                want = program.scheduling
                expected = (want.realtime, want.nice) if may_raise or not want.realtime else (0, 0)
                assert _scheduling(svc["pid"]) == expected, program
        assert _scheduling(doc["services"]["ocpp"]["pid"]) == (0, 10)

        restarted = reonctl(config, "restart", "bus")
        assert restarted.returncode == 0, restarted.stderr
        again = json.loads(reonctl(config, "status", "--json").stdout)
        assert again["services"]["bus"]["pid"] != first_pid
    finally:
        down = reonctl(config, "down")
    assert "stopped" in down.stdout
    assert reonctl(config, "status").returncode == 1


def _scheduling(pid: int) -> tuple[int, int]:
    """(SCHED_FIFO priority or 0, nice) of a process."""
    if os.sched_getscheduler(pid) & ~os.SCHED_RESET_ON_FORK == os.SCHED_FIFO:
        return os.sched_getparam(pid).sched_priority, 0
    return 0, os.getpriority(os.PRIO_PROCESS, pid)


def _may_run_real_time() -> bool:
    probe = "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0
