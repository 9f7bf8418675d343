"""The station's OCPP clock: system time plus the offset learned from the CSMS (ClockCtrlr, TimeSource Heartbeat).

REON does not set the board's system clock; every OCPP timestamp comes from `now()`, which adds the offset
taken from BootNotificationResponse.currentTime and HeartbeatResponse.currentTime. A CSMS time outside the sane
window (SANE_FROM..SANE_UNTIL) is refused and logged once: a CSMS that answers year 9999 or 1970 must not date
the station's records into the absurd, nor break every timestamp once the calendar runs out.
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
#: The CSMS times REON believes: after OCPP 2.0.1 existed, and well before any calendar limit.
SANE_FROM = datetime(2020, 1, 1, tzinfo=UTC)
SANE_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)


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
        self.refused = 0  # CSMS times refused as outside the sane window
        self._last_refused: str | None = None

    def timestamp(self) -> float:
        return self._system() + self.offset_s

    def now(self) -> datetime:
        try:
            return datetime.fromtimestamp(self.timestamp(), UTC)
        except (OverflowError, OSError, ValueError):  # a system clock beyond the calendar: never a crash
            return SANE_UNTIL

    def now_text(self) -> str:
        return rfc3339(self.now())

    def adjust(self, csms_time: str) -> float:
        """Take the CSMS's currentTime; returns the correction in seconds (0 when the text is unreadable)."""
        moment = parse_rfc3339(csms_time)
        if moment is None:
            return self._refuse(csms_time, "is not RFC 3339")
        if not SANE_FROM <= moment < SANE_UNTIL:
            return self._refuse(csms_time, f"is outside {SANE_FROM.year}..{SANE_UNTIL.year - 1}")
        correction = moment.timestamp() - self.timestamp()
        self.offset_s += correction
        self.synced = True
        if abs(correction) >= 1.0:
            log.info("clock corrected by %+.3f s from the CSMS time (offset to system time %+.3f s)",
                     correction, self.offset_s)
        return correction

    def _refuse(self, csms_time: str, why: str) -> float:
        """Count a refused CSMS time; log it once per distinct value (a CSMS repeats it every heartbeat)."""
        self.refused += 1
        if csms_time != self._last_refused:
            log.warning("CSMS currentTime %r %s: refused, clock left as it is", csms_time[:40], why)
            self._last_refused = csms_time
        return 0.0
