"""The runtime that turns composite schedules into each EVSE's offered current (A per phase).

It re-computes at every period boundary (one timer sleeping until the next boundary of any EVSE: no
polling), on every change of the profiles, and when a transaction starts/stops or an EVSE starts/stops
drawing current (`wake()`). Per EVSE the limit is its composite (K08) now; then station-level load
management shares the station cap (ChargingStationMaxProfile, or the configured grid limit, whichever is
lower) between the EVSEs that are charging, first arrived first served when it cannot give each 6 A;
idle EVSEs share what is left, so an EV that starts never pushes the sum over the cap before the next
re-balance. Below 6 A an EVSE gets 0 (paused, IEC 61851-1). `apply_limit(evse_id, current_a, source)` is
called only when an EVSE's limit or its source changes; current_a None = no limit beyond the EVSE's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.ocpp_client.smart_charging.composite import Source, composite
from services.ocpp_client.smart_charging.sharing import MIN_OFFER_A, share
from services.ocpp_client.smart_charging.station import StationView
from services.ocpp_client.smart_charging.store import ProfileStore

log = logging.getLogger("reon.ocpp.smart_charging")

HORIZON_S = 86_400  # look this far ahead for the next boundary; at the latest the limiter wakes then
ApplyLimit = Callable[[int, float | None, dict[str, object]], Awaitable[None] | None]
LOAD_MANAGEMENT = "LoadManagement"
RETRY_S = 5  # a limit evse_io did not take is tried again this much later (or at the next wake)


async def wake_or_timeout(wake: asyncio.Event, delay_s: float) -> None:
    """Return when `wake` is set or after delay_s. asyncio.timeout, not wait_for: in Python 3.11 wait_for can
    swallow a cancel that arrives together with a wake(), and the service could then never stop."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(delay_s):
            await wake.wait()


@dataclass(frozen=True)
class EvseLimit:
    current_a: float | None  # None: no limit beyond the EVSE's own maximum; 0: paused
    source: Source


def _floor_min(current_a: float) -> float:
    """Rounded down to 0.1 A (never above the cap); IEC 61851-1: no PWM offer below 6 A, so 0 = paused."""
    current_a = math.floor(current_a * 10 + 1e-6) / 10
    return 0.0 if current_a < MIN_OFFER_A else current_a


class Limiter:
    """Per-EVSE limits from the profiles and the station cap; `run()` keeps them applied over time."""

    def __init__(self, store: ProfileStore, station: StationView, apply_limit: ApplyLimit,
                 now: Callable[[], datetime], horizon_s: int = HORIZON_S) -> None:
        self.store = store
        self.station = station
        self.apply_limit = apply_limit
        self.now = now
        self.horizon_s = horizon_s
        self.applied: dict[int, EvseLimit] = {}
        self.next_boundary: datetime | None = None
        self._wake = asyncio.Event()
        self.sleep = wake_or_timeout  # tests replace it to move their clock

    def compute(self, now: datetime) -> tuple[dict[int, EvseLimit], datetime]:
        """The limit of every EVSE at `now`, and when any of them may change next."""
        profiles = self.store.all()
        own: dict[int, EvseLimit] = {}
        next_s = float(self.horizon_s)
        for evse_id in sorted(self.station.evse_ids):
            evse = self.station.evse(evse_id)
            schedule = composite(profiles, evse, now, self.horizon_s)
            if len(schedule.periods) > 1:
                next_s = min(next_s, schedule.periods[1].start_s)
            first = schedule.periods[0]
            unlimited = first.source.profile_id is None and first.source.purpose == "EvseMaximum"
            own[evse_id] = EvseLimit(None if unlimited else first.current_a, first.source)
        station = composite(profiles, self.station.evse(0), now, self.horizon_s)
        if len(station.periods) > 1:
            next_s = min(next_s, station.periods[1].start_s)
        limits = self._share(station.periods[0].current_a, station.periods[0].source, own)
        return limits, now + timedelta(seconds=max(next_s, 1))

    def _share(self, cap_a: float, cap_source: Source, own: dict[int, EvseLimit]) -> dict[int, EvseLimit]:
        maxima = {i: self.station.evse(i).max_current_a for i in own}
        wants = {i: maxima[i] if lim.current_a is None else lim.current_a for i, lim in own.items()}
        charging = [i for i in self.station.charging_order() if i in own]
        given = share(cap_a, {i: wants[i] for i in charging}, charging)
        left_a = cap_a - sum(given.values())
        idle = [i for i in sorted(own) if i not in given]
        given.update(share(left_a, {i: wants[i] for i in idle}, idle))
        shared_source = Source(LOAD_MANAGEMENT, cap_source.profile_id)
        result: dict[int, EvseLimit] = {}
        for evse_id, limit in own.items():
            if given[evse_id] + 1e-9 < wants[evse_id]:
                result[evse_id] = EvseLimit(_floor_min(given[evse_id]), shared_source)
            elif limit.current_a is None:
                result[evse_id] = limit
            else:
                result[evse_id] = EvseLimit(_floor_min(limit.current_a), limit.source)
        return result

    async def update(self) -> datetime:
        """Re-compute now; apply what changed; the next boundary."""
        now = self.now()
        if self.store.remove_expired(now):
            log.info("expired charging profiles removed")
        limits, self.next_boundary = self.compute(now)
        for evse_id, limit in limits.items():
            if self.applied.get(evse_id) == limit:
                continue
            try:
                result = self.apply_limit(evse_id, limit.current_a, limit.source.as_dict())
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:  # evse_io not there (restarting): the others still get theirs; retry soon
                log.warning("EVSE %d: limit %s A not applied (%s); retry in %d s", evse_id, limit.current_a, exc,
                            RETRY_S)
                self.next_boundary = min(self.next_boundary, now + timedelta(seconds=RETRY_S))
                continue
            self.applied[evse_id] = limit
            log.info("EVSE %d: limit %s A (%s)", evse_id, limit.current_a, limit.source.as_dict())
        return self.next_boundary

    def wake(self) -> None:
        """Re-compute soon: the profiles, a transaction or the charging EVSEs changed."""
        self._wake.set()

    async def run(self) -> None:
        """Apply now, then sleep until the next boundary or a wake(), forever."""
        while True:
            self._wake.clear()
            try:
                boundary = await self.update()
            except Exception:  # the limiter must outlive one bad computation
                log.exception("smart charging limiter: computation failed; retrying in 60 s")
                boundary = self.now() + timedelta(seconds=60)
            delay_s = max((boundary - self.now()).total_seconds(), 0.0)
            await self.sleep(self._wake, delay_s)
