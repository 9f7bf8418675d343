"""A meter's link as the station reports it: ok, degraded or offline, from the outcome of each poll.

offline   no complete reading for `offline_after_s` (or none yet)
degraded  readings arrive, but a poll failed within the last CLEAN_READS_FOR_OK polls, or the meter's energy
          went backwards (its readings are refused)
ok        readings arrive cleanly
Pure logic; times are monotonic seconds handed in by the caller.
"""

from __future__ import annotations

from enum import StrEnum

CLEAN_READS_FOR_OK = 5


class Link(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    OFFLINE = "offline"


class LinkHealth:
    """Tracks one meter's poll outcomes."""

    def __init__(self, offline_after_s: float) -> None:
        self.offline_after_s = offline_after_s
        self.last_answer_s: float | None = None  # the last complete reading, refused ones included
        self.clean_reads = CLEAN_READS_FOR_OK  # no error seen yet: the first good reading is ok
        self.energy_went_backwards = False

    def reading(self, now_s: float) -> None:
        """A complete reading was accepted."""
        self.last_answer_s = now_s
        self.clean_reads += 1
        self.energy_went_backwards = False

    def refused(self, now_s: float) -> None:
        """A complete reading whose energy went backwards: the meter answers, its value is refused."""
        self.last_answer_s = now_s
        self.clean_reads = 0
        self.energy_went_backwards = True

    def failed(self) -> None:
        """No usable answer (timeout, CRC, exception response, malformed reply, port error)."""
        self.clean_reads = 0

    def offline_in_s(self, now_s: float) -> float:
        """Seconds until the link counts as offline without a new reading; 0 when it already does."""
        if self.last_answer_s is None:
            return 0.0
        return max(0.0, self.last_answer_s + self.offline_after_s - now_s)

    def link(self, now_s: float) -> Link:
        if self.offline_in_s(now_s) == 0:
            return Link.OFFLINE
        if self.energy_went_backwards or self.clean_reads < CLEAN_READS_FOR_OK:
            return Link.DEGRADED
        return Link.OK
