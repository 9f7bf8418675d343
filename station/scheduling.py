"""CPU priority of each program: the charging-control path first, bulk work last.

On a small board the relays' software path (evse_io: CP frame in → power-off frame out) shares two cores with
a firmware download writing hundreds of MB, an offline queue draining to the CSMS and the bus. So each program
declares how it is scheduled and applies it itself when it starts (`apply`):

- evse_io runs SCHED_FIFO (real time): it is woken by every serial frame and always runs first;
- the broker, meters and modem run at normal priority;
- work that can wait — OCPP traffic, firmware downloads and installs, the metrics exporter — runs niced, so a
  burst of it never delays what the MCU is waiting for.

Raising a priority needs CAP_SYS_NICE (root, or `AmbientCapabilities=CAP_SYS_NICE` in the systemd unit):
without it the program logs one warning and runs at normal priority. `[station] priorities = false` turns it
all off.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

log = logging.getLogger("station.scheduling")


@dataclass(frozen=True)
class Scheduling:
    nice: int = 0       # -20 (first) .. 19 (last), for SCHED_OTHER
    realtime: int = 0   # SCHED_FIFO priority 1..99; 0 = not real time

    def describe(self) -> str:
        return f"SCHED_FIFO {self.realtime}" if self.realtime else f"nice {self.nice}"


NORMAL = Scheduling()
SAFETY = Scheduling(realtime=10)   # above every normal task, far below the kernel's own real-time threads
BACKGROUND = Scheduling(nice=10)   # runs when nothing else wants the core
REMOTE = Scheduling(nice=19)       # benches: stand-ins for machines that are not on the station's board


def apply(scheduling: Scheduling) -> Scheduling:
    """Set this process's (and its future threads') scheduling; what it got (NORMAL if not permitted)."""
    try:
        if scheduling.realtime:
            # children it may start (e.g. an installer) do not inherit it
            os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(scheduling.realtime))
            return scheduling
        # a real-time parent's policy is inherited: drop it
        if os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK != os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        if scheduling.nice:
            os.setpriority(os.PRIO_PROCESS, 0, scheduling.nice)
    except (PermissionError, OSError) as exc:
        log.warning("could not set %s (%s): running at normal priority", scheduling.describe(), exc)
        return NORMAL
    return scheduling


def current() -> Scheduling:
    """This process's scheduling as the kernel has it."""
    if os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK == os.SCHED_FIFO:
        return Scheduling(realtime=os.sched_getparam(0).sched_priority)
    return Scheduling(nice=os.getpriority(os.PRIO_PROCESS, 0))
