"""The composite schedule of an EVSE (K08): pure functions of the profiles, the EVSE's state and a time window.

Per purpose, profiles stack: at each instant the one in force with the highest stackLevel wins (an EVSE's
own profile before a station-wide one of the same level: K01.FR.14/15). A TxProfile of the EVSE's running
transaction overrides the TxDefaultProfile while it is in force. The EVSE's limit is then the minimum of the
ChargingStationMaxProfile, the Tx(Default) winner, the external limit and the EVSE's own maximum (K08.FR.04).
A profile is in force during its validity (validFrom ≤ t < validTo), from its schedule's start (Absolute:
startSchedule or the time it was received; Relative: the transaction's start, else the window's start;
Recurring: every day/week from startSchedule) for `duration` seconds (absent: without end).
Limits are computed in A per phase; W ↔ A at the nominal voltage (230 V) and the period's numberPhases.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.ocpp_client.smart_charging.profiles import (
    DEFAULT_PHASES,
    KIND_RECURRING,
    KIND_RELATIVE,
    NOMINAL_VOLTAGE_V,
    PURPOSE_STATION_MAX,
    PURPOSE_TX,
    PURPOSE_TX_DEFAULT,
    RECURRENCY_S,
    Period,
    Profile,
    format_datetime,
    from_amps,
    to_amps,
)

LIMIT_DECIMALS = 1


@dataclass(frozen=True)
class Evse:
    """What the composite needs to know about an EVSE (0 = the station's grid connection)."""

    evse_id: int
    max_current_a: float  # per phase: the EVSE's (or the grid connection's) own maximum
    phases: int = DEFAULT_PHASES
    transaction_id: str | None = None
    transaction_started: datetime | None = None
    external_limit_a: float | None = None  # a local/external limit (K03/K12), per phase


@dataclass(frozen=True)
class Source:
    """Where a limit comes from: a profile, or the EVSE's own maximum (profile_id None)."""

    purpose: str
    profile_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"purpose": self.purpose, "profile_id": self.profile_id}


@dataclass(frozen=True)
class CompositePeriod:
    start_s: int
    limit: float  # in the composite's unit
    number_phases: int
    current_a: float  # the same limit in A per phase
    source: Source


@dataclass(frozen=True)
class Composite:
    evse_id: int
    start: datetime
    duration_s: int
    rate_unit: str
    periods: tuple[CompositePeriod, ...]

    def at(self, offset_s: float) -> CompositePeriod:
        """The period in force `offset_s` seconds after the start."""
        index = bisect.bisect_right([p.start_s for p in self.periods], offset_s) - 1
        return self.periods[max(index, 0)]

    def payload(self) -> dict[str, object]:
        """The CompositeScheduleType of a GetCompositeScheduleResponse."""
        return {
            "evseId": self.evse_id,
            "duration": self.duration_s,
            "scheduleStart": format_datetime(self.start),
            "chargingRateUnit": self.rate_unit,
            "chargingSchedulePeriod": self.merged_periods(),
        }

    def merged_periods(self) -> list[dict[str, object]]:
        """The periods as ChargingSchedulePeriodType, neighbours with the same limit and phases merged."""
        merged: list[dict[str, object]] = []
        for p in self.periods:
            if not merged or (merged[-1]["limit"], merged[-1]["numberPhases"]) != (p.limit, p.number_phases):
                merged.append({"startPeriod": p.start_s, "limit": p.limit, "numberPhases": p.number_phases})
        return merged


@dataclass(frozen=True)
class _Segment:
    """One period of one profile, placed on the window's time axis (seconds from the window's start)."""

    start_s: float
    end_s: float
    period: Period


class _Timeline:
    """The segments of one profile in the window, looked up by time."""

    def __init__(self, profile: Profile, segments: list[_Segment]) -> None:
        self.profile = profile
        self.segments = sorted(segments, key=lambda s: s.start_s)
        self._starts = [s.start_s for s in self.segments]

    def at(self, offset_s: float) -> Period | None:
        index = bisect.bisect_right(self._starts, offset_s) - 1
        if index >= 0 and offset_s < self.segments[index].end_s:
            return self.segments[index].period
        return None

    def edges(self) -> Iterable[float]:
        for segment in self.segments:
            yield segment.start_s
            yield segment.end_s


def _runs(profile: Profile, start: datetime, end: datetime, tx_start: datetime | None
          ) -> list[tuple[datetime, datetime | None]]:
    """The (start, end) of each run of the profile's schedule that may touch [start, end)."""
    schedule = profile.schedule
    duration = None if schedule.duration_s is None else timedelta(seconds=schedule.duration_s)
    if profile.kind == KIND_RELATIVE:
        run_start = tx_start or start
        return [(run_start, None if duration is None else run_start + duration)]
    if profile.kind != KIND_RECURRING:
        run_start = schedule.start or profile.received_at
        return [(run_start, None if duration is None else run_start + duration)]
    base = schedule.start or profile.received_at
    every = timedelta(seconds=RECURRENCY_S[str(profile.recurrency)])
    length = min(duration, every) if duration is not None else every
    first = max(0, math.floor((start - base) / every))
    runs = []
    k = first
    while base + k * every < end:
        runs.append((base + k * every, base + k * every + length))
        k += 1
    return runs


def timeline(profile: Profile, start: datetime, duration_s: int, tx_start: datetime | None = None) -> _Timeline:
    """Where the profile is in force in [start, start + duration_s), period by period."""
    end = start + timedelta(seconds=duration_s)
    lo = profile.valid_from or start
    hi = profile.valid_to or end

    def offset(moment: datetime) -> float:
        return (moment - start).total_seconds()

    segments: list[_Segment] = []
    periods = profile.schedule.periods
    for run_start, run_end in _runs(profile, start, end, tx_start):
        for index, period in enumerate(periods):
            seg_start = run_start + timedelta(seconds=period.start_s)
            nxt = run_start + timedelta(seconds=periods[index + 1].start_s) if index + 1 < len(periods) else None
            seg_end = min(m for m in (nxt, run_end, hi, end) if m is not None)
            seg_start = max(seg_start, lo, start)
            if seg_start < seg_end:
                segments.append(_Segment(round(offset(seg_start)), round(offset(seg_end)), period))
    return _Timeline(profile, [s for s in segments if s.start_s < s.end_s])


def _priority(timelines: Sequence[_Timeline]) -> list[_Timeline]:
    """Highest stackLevel first; at equal level the EVSE's own profile before the station-wide one."""
    return sorted(timelines, key=lambda t: (-t.profile.stack_level, t.profile.evse_id == 0, t.profile.profile_id))


def _winner(timelines: Sequence[_Timeline], offset_s: float) -> tuple[Profile, Period] | None:
    for line in timelines:
        period = line.at(offset_s)
        if period is not None:
            return line.profile, period
    return None


def applicable(profiles: Iterable[Profile], evse: Evse) -> dict[str, list[Profile]]:
    """The profiles that may limit this EVSE, by purpose (a TxProfile only for its own transaction)."""
    found: dict[str, list[Profile]] = {PURPOSE_STATION_MAX: [], PURPOSE_TX_DEFAULT: [], PURPOSE_TX: []}
    for profile in profiles:
        if profile.purpose == PURPOSE_STATION_MAX:
            found[PURPOSE_STATION_MAX].append(profile)
        elif evse.evse_id == 0:
            continue
        elif profile.purpose == PURPOSE_TX_DEFAULT and profile.evse_id in (0, evse.evse_id):
            found[PURPOSE_TX_DEFAULT].append(profile)
        elif (profile.purpose == PURPOSE_TX and profile.evse_id == evse.evse_id
              and evse.transaction_id is not None and profile.transaction_id == evse.transaction_id):
            found[PURPOSE_TX].append(profile)
    return found


def composite(profiles: Iterable[Profile], evse: Evse, start: datetime, duration_s: int, rate_unit: str = "A",
              voltage_v: float = NOMINAL_VOLTAGE_V) -> Composite:
    """The composite schedule of `evse` over [start, start + duration_s), contiguous from startPeriod 0."""
    by_purpose = {
        purpose: _priority([timeline(p, start, duration_s, evse.transaction_started) for p in found])
        for purpose, found in applicable(profiles, evse).items()
    }
    edges = {0.0, float(duration_s)}
    for lines in by_purpose.values():
        for line in lines:
            edges.update(line.edges())
    cuts = sorted(e for e in edges if 0 <= e <= duration_s)
    periods: list[CompositePeriod] = []
    for lo, hi in itertools.pairwise(cuts):
        if hi <= lo:
            continue
        period = _limit_at(by_purpose, evse, (lo + hi) / 2, int(lo), rate_unit, voltage_v)
        last = periods[-1] if periods else None
        if last is None or (last.limit, last.number_phases, last.source) != (
                period.limit, period.number_phases, period.source):
            periods.append(period)
    if not periods:  # duration 0
        periods.append(_limit_at(by_purpose, evse, 0.0, 0, rate_unit, voltage_v))
    return Composite(evse.evse_id, start, duration_s, rate_unit, tuple(periods))


def _limit_at(by_purpose: dict[str, list[_Timeline]], evse: Evse, offset_s: float, start_s: int, rate_unit: str,
              voltage_v: float) -> CompositePeriod:
    """min over the station maximum, Tx (else TxDefault), external limit and the EVSE's own maximum."""
    winners = [_winner(by_purpose[PURPOSE_STATION_MAX], offset_s),
               _winner(by_purpose[PURPOSE_TX], offset_s) or _winner(by_purpose[PURPOSE_TX_DEFAULT], offset_s)]
    in_force = [w for w in winners if w is not None]
    phases = min([evse.phases] + [p.number_phases for _, p in in_force if p.number_phases is not None])
    best_a, source = evse.max_current_a, Source("EvseMaximum")
    if evse.external_limit_a is not None and evse.external_limit_a < best_a:
        best_a, source = evse.external_limit_a, Source("ChargingStationExternalConstraints")
    for profile, period in in_force:
        current_a = to_amps(period.limit, profile.schedule.rate_unit, period.number_phases or phases, voltage_v)
        if current_a <= best_a:  # a profile in force is named even when it allows the EVSE's maximum
            best_a, source = current_a, Source(profile.purpose, profile.profile_id)
    best_a = max(best_a, 0.0)
    limit = round(from_amps(best_a, rate_unit, phases, voltage_v), LIMIT_DECIMALS)
    return CompositePeriod(start_s, limit, phases, round(best_a, 3), source)
