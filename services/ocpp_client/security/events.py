"""Security events (A04): every event is logged; the critical ones (part 2 appendix, security events) go to the
CSMS as SecurityEventNotification through the durable queue, so they wait out offline periods and restarts.

A link that keeps failing its TLS handshake would report the same event at every attempt: a repeat of the same
(type, techInfo) within REPEAT_SUPPRESS_S is only logged.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from services.ocpp_client.clock import StationClock
from services.ocpp_client.link.outbound_queue import OutboundQueue

log = logging.getLogger("reon.ocpp.security")

#: Critical = Yes in appendix-security_events.csv.
CRITICAL_EVENTS = frozenset({
    "FirmwareUpdated", "SettingSystemTime", "StartupOfTheDevice", "ResetOrReboot", "SecurityLogWasCleared",
    "MemoryExhaustion", "TamperDetectionActivated", "InvalidFirmwareSignature", "InvalidFirmwareSigningCertificate",
    "InvalidCsmsCertificate", "InvalidChargingStationCertificate", "InvalidTLSVersion", "InvalidTLSCipherSuite",
    "MaintenanceLoginAccepted", "MaintenanceLoginFailed",
    "SimCardChanged",  # REON's own: the station's cellular identity changed (not in the spec's list)
})
#: Critical, but part of normal operation: logged at INFO.
ROUTINE_EVENTS = frozenset({"StartupOfTheDevice", "ResetOrReboot", "FirmwareUpdated"})
QUEUE_KIND = "security"
REPEAT_SUPPRESS_S = 600.0
TECH_INFO_MAX = 255


class SecurityEvents:
    """Log every security event; queue SecurityEventNotification for the critical ones."""

    def __init__(self, queue: OutboundQueue, clock: StationClock, monotonic: Callable[[], float] = time.monotonic
                 ) -> None:
        self._queue = queue
        self._clock = clock
        self._monotonic = monotonic
        self._last: dict[tuple[str, str | None], float] = {}
        queue.register_kind(QUEUE_KIND)

    async def report(self, event_type: str, tech_info: str | None = None, *,
                     conn: sqlite3.Connection | None = None) -> bool:
        """Record a security event; True when a SecurityEventNotification was queued (through `conn`: inside
        the caller's transaction)."""
        critical = event_type in CRITICAL_EVENTS
        level = logging.INFO if event_type in ROUTINE_EVENTS else logging.WARNING
        log.log(level, "security event %s%s%s", event_type, f": {tech_info}" if tech_info else "",
                    "" if critical else " (not critical: logged only)")
        if not critical:
            return False
        key = (event_type, tech_info)
        now = self._monotonic()
        last = self._last.get(key)
        if conn is None:  # a caller's transaction (a durable stream entry) is never suppressed
            if last is not None and now - last < REPEAT_SUPPRESS_S:
                return False
            self._last[key] = now
        payload: dict[str, str] = {"type": event_type, "timestamp": self._clock.now_text()}
        if tech_info:
            payload["techInfo"] = tech_info[:TECH_INFO_MAX]
        await self._queue.put("SecurityEventNotification", payload, kind=QUEUE_KIND, conn=conn)
        return True
