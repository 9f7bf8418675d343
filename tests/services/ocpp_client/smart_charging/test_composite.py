"""Composite schedules (K08) for the part-6 scenarios and each kind of profile."""

from __future__ import annotations

from datetime import timedelta

from services.ocpp_client.smart_charging.composite import Evse, composite
from tests.services.ocpp_client.smart_charging.builders import T0, at, profile

EVSE1 = Evse(1, 32.0)


def limits(result) -> list[tuple[int, float]]:
    return [(p["startPeriod"], p["limit"]) for p in result.merged_periods()]


def test_no_profile_gives_the_evse_maximum_from_period_zero() -> None:
    """TC_K_39_CS: evseId 0, duration 300, one period at 0."""
    result = composite([], Evse(0, 64.0), T0, 300)
    assert result.payload()["duration"] == 300 and limits(result) == [(0, 64.0)]


def test_higher_stack_level_wins_while_in_force() -> None:
    """TC_K_40_CS: stack 0 (6/8/10 at 0/100/200, 400 s) under stack 1 (7/9 at 0/100, 150 s)."""
    profiles = [profile(1, profile_id=1, stack_level=0, periods=[(0, 6), (100, 8), (200, 10)], duration_s=400,
                        start=T0),
                profile(1, profile_id=2, stack_level=1, periods=[(0, 7), (100, 9)], duration_s=150, start=T0)]
    assert limits(composite(profiles, EVSE1, T0, 350)) == [(0, 7), (100, 9), (150, 8), (200, 10)]
    x = 20  # the composite asked x seconds later starts later in each schedule
    assert limits(composite(profiles, EVSE1, at(x), 350)) == [(0, 7), (100 - x, 9), (150 - x, 8), (200 - x, 10)]


def test_purposes_combine_as_the_minimum_and_tx_overrides_tx_default() -> None:
    """TC_K_41_CS: station max 10, TxDefault 6/10/8/15/8, TxProfile 8/11/16/6/12 (260 s)."""
    profiles = [
        profile(0, profile_id=1, purpose="ChargingStationMaxProfile", periods=[(0, 10)], duration_s=86400, start=T0),
        profile(1, profile_id=2, periods=list(zip([0, 60, 120, 180, 260], [6, 10, 8, 15, 8], strict=True)),
                duration_s=300, start=T0),
        profile(1, profile_id=3, purpose="TxProfile", transaction_id="TX-1", duration_s=260, start=T0,
                periods=list(zip([0, 50, 140, 200, 240], [8, 11, 16, 6, 12], strict=True))),
    ]
    evse = Evse(1, 32.0, transaction_id="TX-1")
    assert limits(composite(profiles, evse, T0, 400))[:4] == [(0, 8), (50, 10), (200, 6), (240, 10)]
    # without the transaction the TxProfile is not in force
    assert limits(composite(profiles, EVSE1, T0, 400))[:3] == [(0, 6), (60, 10), (120, 8)]


def test_valid_from_starts_the_profile() -> None:
    """TC_K_21_CS."""
    profiles = [profile(1, periods=[(0, 8)], start=T0, valid_from=at(120))]
    assert limits(composite(profiles, EVSE1, T0, 300)) == [(0, 32), (120, 8)]


def test_valid_to_ends_the_profile() -> None:
    """TC_K_22_CS."""
    profiles = [profile(1, periods=[(0, 8)], start=T0, valid_to=at(120))]
    assert limits(composite(profiles, EVSE1, T0, 300)) == [(0, 8), (120, 32)]


def test_start_schedule_in_the_future_delays_the_profile() -> None:
    """TC_K_23_CS."""
    profiles = [profile(1, periods=[(0, 8), (60, 12)], start=at(100), duration_s=150)]
    assert limits(composite(profiles, EVSE1, T0, 300)) == [(0, 32), (100, 8), (160, 12), (250, 32)]


def test_absolute_without_start_schedule_starts_when_received() -> None:
    profiles = [profile(1, received_at=at(30), periods=[(0, 8)], duration_s=60)]
    assert limits(composite(profiles, EVSE1, T0, 300)) == [(0, 32), (30, 8), (90, 32)]


def test_relative_profile_starts_with_the_transaction() -> None:
    """TC_K_60_CS / TC_K_37_CS: Relative TxProfile timed from the transaction start."""
    profiles = [profile(1, purpose="TxProfile", transaction_id="TX-1", kind="Relative",
                        periods=[(0, 6), (600, 16)])]
    evse = Evse(1, 32.0, transaction_id="TX-1", transaction_started=at(-500))
    assert limits(composite(profiles, evse, T0, 300)) == [(0, 6), (100, 16)]


def test_daily_recurring_profile_repeats_every_day() -> None:
    """TC_K_19_CS: night hours 22:00-06:00 at 32 A, otherwise 10 A (via stacking over a 16 A default)."""
    night = profile(1, profile_id=1, stack_level=1, kind="Recurring", recurrency="Daily",
                    start=T0.replace(hour=22) - timedelta(days=7), periods=[(0, 32)], duration_s=8 * 3600)
    day = profile(1, profile_id=2, periods=[(0, 10)], start=T0 - timedelta(days=30))
    two_days = composite([night, day], EVSE1, T0, 2 * 86400)
    assert limits(two_days) == [(0, 10), (10 * 3600, 32), (18 * 3600, 10), (34 * 3600, 32), (42 * 3600, 10)]


def test_weekly_recurring_profile_repeats_every_week() -> None:
    monday_morning = profile(1, kind="Recurring", recurrency="Weekly", start=T0 - timedelta(weeks=3),
                             periods=[(0, 8)], duration_s=3600)
    week = composite([monday_morning], EVSE1, T0 + timedelta(hours=1), 7 * 86400)
    assert limits(week) == [(0, 32), (7 * 86400 - 3600, 8)]


def test_watts_become_amps_per_phase_at_230_v() -> None:
    """11 040 W over 3 phases = 16 A; asked in W, a 16 A limit is 11 040 W."""
    profiles = [profile(1, unit="W", periods=[(0, 11040)], number_phases=3)]
    assert limits(composite(profiles, EVSE1, T0, 60)) == [(0, 16.0)]
    amps = [profile(1, periods=[(0, 16)])]
    assert limits(composite(amps, EVSE1, T0, 60, "W")) == [(0, 11040.0)]
    one_phase = [profile(1, unit="W", periods=[(0, 3680)], number_phases=1)]
    result = composite(one_phase, EVSE1, T0, 60)
    assert limits(result) == [(0, 16.0)] and result.periods[0].number_phases == 1


def test_station_wide_default_applies_unless_the_evse_has_its_own_at_that_level() -> None:
    """TC_K_10_CS (evseId 0) and TC_K_01_CS (specific EVSE)."""
    station_wide = profile(0, profile_id=1, periods=[(0, 10)])
    assert limits(composite([station_wide], EVSE1, T0, 60)) == [(0, 10)]
    own = profile(1, profile_id=2, periods=[(0, 20)])
    assert limits(composite([station_wide, own], EVSE1, T0, 60)) == [(0, 20)]


def test_the_source_names_the_profile_that_limits() -> None:
    profiles = [profile(0, profile_id=5, purpose="ChargingStationMaxProfile", periods=[(0, 12)]),
                profile(1, profile_id=6, periods=[(0, 20), (60, 8)])]
    result = composite(profiles, EVSE1, T0, 120)
    assert [(p.source.purpose, p.source.profile_id) for p in result.periods] == [
        ("ChargingStationMaxProfile", 5), ("TxDefaultProfile", 6)]
