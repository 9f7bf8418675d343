"""Property-based tests of the composite schedule and the station sharing over random stacks of profiles.

An independent point-by-point oracle (winner per purpose = the highest stackLevel in force, the EVSE's own
profile before the station-wide one) checks the composite at random instants.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ocpp_client.smart_charging.composite import Evse, composite
from services.ocpp_client.smart_charging.limiter import Limiter
from services.ocpp_client.smart_charging.profiles import Profile
from services.ocpp_client.smart_charging.sharing import MIN_OFFER_A, share
from services.ocpp_client.smart_charging.station import EvseConfig, StationView
from tests.services.ocpp_client.smart_charging.builders import T0, at, profile

WINDOW_S = 3 * 3600
EVSE_MAX_A = 32.0


@st.composite
def profiles(draw: st.DrawFn) -> list[Profile]:
    count = draw(st.integers(0, 8))
    found: list[Profile] = []
    for profile_id in range(1, count + 1):
        purpose = draw(st.sampled_from(["ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile"]))
        evse_id = 0 if purpose == "ChargingStationMaxProfile" else draw(st.sampled_from([0, 1] if
                                                                                       purpose != "TxProfile" else [1]))
        starts = sorted(draw(st.sets(st.integers(1, 7200), max_size=5)))
        limits = draw(st.lists(st.integers(0, 64), min_size=len(starts) + 1, max_size=len(starts) + 1))
        begin = draw(st.integers(-3600, WINDOW_S))
        valid_from = draw(st.none() | st.integers(-3600, WINDOW_S))
        valid_to = draw(st.none() | st.integers(1, 2 * WINDOW_S))
        if valid_from is not None and valid_to is not None and valid_to <= valid_from:
            valid_to = valid_from + 1
        found.append(profile(
            evse_id, profile_id=profile_id, purpose=purpose, stack_level=draw(st.integers(0, 3)),
            periods=list(zip([0, *starts], [float(x) for x in limits], strict=True)),
            duration_s=draw(st.none() | st.integers(1, 4 * 3600)), start=at(begin),
            valid_from=None if valid_from is None else at(valid_from),
            valid_to=None if valid_to is None else at(valid_to),
            transaction_id="TX-1" if purpose == "TxProfile" else None))
    return found


def _value(p: Profile, moment: datetime) -> float | None:
    if not p.in_validity(moment):
        return None
    offset = (moment - (p.schedule.start or p.received_at)).total_seconds()
    if offset < 0 or (p.schedule.duration_s is not None and offset >= p.schedule.duration_s):
        return None
    return [x.limit for x in p.schedule.periods if x.start_s <= offset][-1]


def _winner(candidates: list[Profile], moment: datetime) -> float | None:
    for p in sorted(candidates, key=lambda p: (-p.stack_level, p.evse_id == 0, p.profile_id)):
        value = _value(p, moment)
        if value is not None:
            return value
    return None


def oracle(found: list[Profile], moment: datetime) -> tuple[float, list[float]]:
    station = _winner([p for p in found if p.purpose == "ChargingStationMaxProfile"], moment)
    tx = _winner([p for p in found if p.purpose == "TxProfile"], moment)
    default = _winner([p for p in found if p.purpose == "TxDefaultProfile"], moment)
    in_force = [v for v in (station, tx if tx is not None else default) if v is not None]
    return min([EVSE_MAX_A, *in_force]), in_force


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(found=profiles(), probes=st.lists(st.integers(0, WINDOW_S - 1), min_size=1, max_size=20))
def test_composite_is_the_minimum_of_the_winners_and_never_exceeds_one_in_force(
        found: list[Profile], probes: list[int]) -> None:
    result = composite(found, Evse(1, EVSE_MAX_A, transaction_id="TX-1"), T0, WINDOW_S)
    for probe in probes:
        moment = T0 + timedelta(seconds=probe + 0.5)
        expected, in_force = oracle(found, moment)
        got = result.at(probe + 0.5).current_a
        assert got == expected
        assert all(got <= value for value in in_force)


@settings(max_examples=150, deadline=None)
@given(found=profiles(), start_s=st.integers(-1000, 1000))
def test_composite_periods_are_contiguous_from_zero(found: list[Profile], start_s: int) -> None:
    result = composite(found, Evse(1, EVSE_MAX_A, transaction_id="TX-1"), at(start_s), WINDOW_S)
    starts = [p.start_s for p in result.periods]
    assert starts[0] == 0
    assert starts == sorted(set(starts)) and starts[-1] < WINDOW_S
    merged = result.merged_periods()
    assert all(a["limit"] != b["limit"] or a["numberPhases"] != b["numberPhases"]
               for a, b in itertools.pairwise(merged))


@settings(max_examples=300, deadline=None)
@given(cap=st.floats(0, 200), wants=st.dictionaries(st.integers(1, 6), st.floats(0, 80), max_size=6))
def test_sharing_never_exceeds_the_cap_nor_a_want_and_never_offers_below_6_a(
        cap: float, wants: dict[int, float]) -> None:
    given_a = share(cap, wants)
    assert sum(given_a.values()) <= cap + 1e-6
    for evse_id, amount in given_a.items():
        assert amount <= wants[evse_id] + 1e-9
        assert amount == 0 or amount >= MIN_OFFER_A - 1e-9
    runnable = sorted(w for w in wants.values() if w >= MIN_OFFER_A)
    if runnable and cap >= MIN_OFFER_A * len(runnable):
        assert all(given_a[i] > 0 for i, w in wants.items() if w >= MIN_OFFER_A)  # nobody paused needlessly


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(found=profiles(), charging=st.sets(st.integers(1, 3)), offset_s=st.integers(0, WINDOW_S))
def test_the_sum_of_evse_limits_never_exceeds_the_station_max(found: list[Profile], charging: set[int],
                                                              offset_s: int) -> None:
    class Store:
        def all(self) -> list[Profile]:
            return found

    station = StationView([EvseConfig(i, EVSE_MAX_A) for i in (1, 2, 3)])
    station.transaction_started(1, "TX-1", T0)
    for evse_id in sorted(charging):
        station.set_charging(evse_id, True)
    limiter = Limiter(Store(), station, lambda *a: None, lambda: at(offset_s))  # type: ignore[arg-type]
    limits, _ = limiter.compute(at(offset_s) + timedelta(seconds=0.5))
    cap = composite(found, station.evse(0), at(offset_s) + timedelta(seconds=0.5), 1).periods[0].current_a
    total = sum(EVSE_MAX_A if lim.current_a is None else lim.current_a for lim in limits.values())
    assert total <= cap + 1e-6
    assert all(lim.current_a is None or lim.current_a == 0 or lim.current_a >= MIN_OFFER_A
               for lim in limits.values())
