"""The station's OCPP clock: system time plus the offset learned from the CSMS (ClockCtrlr, TimeSource Heartbeat).

REON does not set the board's system clock; every OCPP timestamp comes from `now()`, which adds the offset
taken from BootNotificationResponse.currentTime and HeartbeatResponse.currentTime.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

log = logging.getLogger("reon.ocpp.clock")

#: A correction larger than this is a security event (SettingSystemTime); ClockCtrlr has no
#: TimeAdjustmentReportingThreshold in REON's device model, so this is the fixed threshold.
TIME_ADJUSTMENT_REPORTING_THRESHOLD_S = 60.0


def rfc3339(moment: datetime) -> str:
    """UTC, milliseconds, Z: the form REON sends."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class StationClock:
    """System time corrected by the CSMS's time."""

    def __init__(self, system: Callable[[], float] = time.time) -> None:
        self._system = system
        self.offset_s = 0.0
        self.synced = False

    def timestamp(self) -> float:
        return self._system() + self.offset_s

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def now_text(self) -> str:
        return rfc3339(self.now())

    def adjust(self, csms_time: str) -> float:
        """Take the CSMS's currentTime; returns the correction in seconds (0 when the text is unreadable)."""
        moment = parse_rfc3339(csms_time)
        if moment is None:
            log.warning("CSMS currentTime %r is not RFC 3339: clock left as it is", csms_time[:40])
            return 0.0
        correction = moment.timestamp() - self.timestamp()
        self.offset_s += correction
        self.synced = True
        if abs(correction) >= 1.0:
            log.info("clock corrected by %+.3f s from the CSMS time (offset to system time %+.3f s)",
                     correction, self.offset_s)
        return correction
