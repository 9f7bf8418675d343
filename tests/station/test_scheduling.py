"""Each program applies the priority it declares; without the right to raise it, it says so once and runs on."""

import os
import subprocess
import sys

from station.config import load_config
from station.programs import scheduling_of
from station.scheduling import BACKGROUND, NORMAL, SAFETY
from tests.stations import write_station

_PROBE = """
import logging, os, sys
from station.scheduling import Scheduling, apply, current
logging.basicConfig(level=logging.WARNING, format="%(message)s")
if sys.argv[3] == "drop":
    os.setgid(65534); os.setuid(65534)
if sys.argv[3] == "rt-parent":  # as if started by a real-time process: its policy is inherited
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(5))
got = apply(Scheduling(nice=int(sys.argv[1]), realtime=int(sys.argv[2])))
print(got.describe(), "|", current().describe())
"""


def _run(nice: int, realtime: int, drop: str = "keep") -> tuple[str, str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, str(nice), str(realtime), drop], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), done.stderr.strip()


def test_background_programs_are_niced() -> None:
    assert _run(10, 0) == ("nice 10 | nice 10", "")


def test_a_background_program_started_by_a_real_time_parent_drops_the_inherited_policy() -> None:
    if os.geteuid() != 0:
        return  # needs root to set up the real-time parent
    assert _run(10, 0, "rt-parent") == ("nice 10 | nice 10", "")
    assert _run(0, 0, "rt-parent") == ("nice 0 | nice 0", "")


def test_the_safety_path_runs_real_time() -> None:
    if os.geteuid() != 0:
        return  # raising a priority needs root; the next test covers the refusal
    assert _run(0, 10) == ("SCHED_FIFO 10 | SCHED_FIFO 10", "")


def test_without_the_right_to_raise_it_the_program_warns_once_and_runs_at_normal_priority() -> None:
    if os.geteuid() != 0:
        out, err = _run(0, 10)
    else:
        out, err = _run(0, 10, "drop")  # as nobody: no CAP_SYS_NICE
    assert out == "nice 0 | nice 0"
    assert err.count("could not set SCHED_FIFO 10") == 1


def test_the_program_table_declares_the_priorities_and_the_station_file_can_turn_them_off(tmp_path) -> None:
    path = write_station(tmp_path)
    config = load_config(path)
    assert scheduling_of("evse_io", config) == SAFETY
    assert scheduling_of("ocpp", config) == scheduling_of("firmware", config) == BACKGROUND
    assert scheduling_of("bus", config) == scheduling_of("meter", config) == NORMAL
    assert scheduling_of("no-such-program", config) == NORMAL
    path.write_text(path.read_text().replace("[station]\n", "[station]\npriorities = false\n", 1))
    assert scheduling_of("evse_io", load_config(path)) == NORMAL
