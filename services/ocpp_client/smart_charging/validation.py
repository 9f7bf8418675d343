"""The rejection rules of SetChargingProfile (K01) and of a RequestStartTransaction profile (K05, F01).

`check_profile` raises `Rejection(reason_code, info)`; the handler answers Rejected with that reasonCode
(reason codes from part 2 appendix 5: DuplicateProfile, InvalidProfile, InvalidSchedule, InvalidStackLevel,
TooManyElements, TxNotFound, UnsupportedRateUnit, UnknownEvse). Nothing is stored when a rule fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.ocpp_client.smart_charging.profiles import (
    KIND_ABSOLUTE,
    KIND_RECURRING,
    KIND_RELATIVE,
    PURPOSE_STATION_MAX,
    PURPOSE_TX,
    PURPOSE_TX_DEFAULT,
    RECURRENCY_S,
    Profile,
    ProfileError,
)

SETTABLE_PURPOSES = (PURPOSE_STATION_MAX, PURPOSE_TX_DEFAULT, PURPOSE_TX)  # External: set by local systems only


class Rejection(ProfileError):
    """A profile the station refuses; reason_code goes to statusInfo.reasonCode."""


@dataclass(frozen=True)
class Limits:
    """What the station accepts (SmartChargingCtrlr variables and the station's topology)."""

    evse_ids: frozenset[int]
    rate_units: tuple[str, ...] = ("A", "W")
    periods_per_schedule: int = 24
    max_stack_level: int = 8
    max_entries: int = 64
    phase_switching: bool = False  # SmartChargingCtrlr.ACPhaseSwitchingSupported
    active_transactions: Mapping[int, str] = field(default_factory=dict)  # evse id → transaction id


def _overlap(a: Profile, b: Profile) -> bool:
    a_from, a_to = a.valid_from or datetime.min.replace(tzinfo=a.received_at.tzinfo), a.valid_to
    b_from, b_to = b.valid_from or datetime.min.replace(tzinfo=b.received_at.tzinfo), b.valid_to
    return (a_to is None or b_from < a_to) and (b_to is None or a_from < b_to)


def check_target(profile: Profile, limits: Limits) -> None:
    """Where a profile may go: EVSE known (K01.FR.28), purpose vs. evseId (K01.FR.16, station max on 0)."""
    if profile.evse_id != 0 and profile.evse_id not in limits.evse_ids:
        raise Rejection("UnknownEvse", f"EVSE {profile.evse_id} does not exist")
    if profile.purpose not in SETTABLE_PURPOSES:
        raise Rejection("InvalidProfile", f"chargingProfilePurpose {profile.purpose} cannot be set by the CSMS")
    if profile.purpose == PURPOSE_STATION_MAX and profile.evse_id != 0:
        raise Rejection("InvalidProfile", "a ChargingStationMaxProfile goes on evseId 0")
    if profile.purpose == PURPOSE_TX and profile.evse_id == 0:
        raise Rejection("InvalidProfile", "a TxProfile needs an EVSE (K01.FR.16)")
    if profile.purpose != PURPOSE_TX and profile.transaction_id is not None:
        raise Rejection("InvalidProfile", "transactionId only goes with a TxProfile")


def check_transaction(profile: Profile, limits: Limits) -> None:
    """A TxProfile needs the transaction running on its EVSE (K01.FR.09, K01.FR.33)."""
    if profile.purpose != PURPOSE_TX:
        return
    running = limits.active_transactions.get(profile.evse_id)
    if profile.transaction_id is None:
        raise Rejection("TxNotFound", "a TxProfile needs a transactionId (K01.FR.03)")
    if running is None:
        raise Rejection("TxNotFound", f"no transaction on EVSE {profile.evse_id} (K01.FR.09)")
    if running != profile.transaction_id:
        raise Rejection("TxNotFound", f"transaction {profile.transaction_id} is not the one on EVSE"
                                      f" {profile.evse_id} (K01.FR.33)")


def check_shape(profile: Profile, limits: Limits) -> None:
    """Kind, validity, stack level and schedule rules that need no other profile."""
    if profile.stack_level < 0 or profile.stack_level > limits.max_stack_level:
        raise Rejection("InvalidStackLevel", f"stackLevel {profile.stack_level} not in 0..{limits.max_stack_level}")
    if profile.kind not in (KIND_ABSOLUTE, KIND_RECURRING, KIND_RELATIVE):
        raise Rejection("InvalidProfile", f"chargingProfileKind {profile.kind}")
    if profile.kind == KIND_RECURRING:
        if profile.recurrency not in RECURRENCY_S:
            raise Rejection("InvalidProfile", "a Recurring profile needs recurrencyKind Daily or Weekly")
        if profile.schedule.start is None:
            raise Rejection("InvalidSchedule", "a Recurring profile needs startSchedule")
    elif profile.recurrency is not None:
        raise Rejection("InvalidProfile", "recurrencyKind only goes with a Recurring profile")
    if profile.kind == KIND_RELATIVE and profile.schedule.start is not None:
        raise Rejection("InvalidSchedule", "a Relative profile has no startSchedule")
    if profile.valid_from and profile.valid_to and profile.valid_to <= profile.valid_from:
        raise Rejection("InvalidProfile", "validTo is not after validFrom")
    if profile.valid_to is not None and profile.valid_to <= profile.received_at:
        raise Rejection("InvalidProfile", "validTo has passed")
    if len(profile.schedules) != 1:
        raise Rejection("InvalidSchedule", "one chargingSchedule (more only with ISO 15118)")
    check_schedule(profile, limits)


def check_schedule(profile: Profile, limits: Limits) -> None:
    """Rate unit (K01.FR.26), period count (PeriodsPerSchedule), order, limits and phases of each period."""
    schedule = profile.schedule
    if schedule.rate_unit not in limits.rate_units:
        raise Rejection("UnsupportedRateUnit", f"chargingRateUnit {schedule.rate_unit} not supported")
    if len(schedule.periods) > limits.periods_per_schedule:
        raise Rejection("TooManyElements", f"{len(schedule.periods)} periods, at most"
                                           f" {limits.periods_per_schedule} (PeriodsPerSchedule)")
    if schedule.duration_s is not None and schedule.duration_s <= 0:
        raise Rejection("InvalidSchedule", "duration must be positive")
    if schedule.min_rate is not None and schedule.min_rate < 0:
        raise Rejection("InvalidSchedule", "minChargingRate is negative")
    if schedule.periods[0].start_s != 0:
        raise Rejection("InvalidSchedule", "the first period must have startPeriod 0")
    previous = -1
    for index, period in enumerate(schedule.periods):
        where = f"chargingSchedulePeriod[{index}]"
        if period.start_s <= previous:
            raise Rejection("InvalidSchedule", f"{where}: startPeriod not ascending")
        previous = period.start_s
        if period.limit < 0:
            raise Rejection("InvalidSchedule", f"{where}: negative limit")
        if period.number_phases is not None and period.number_phases not in (1, 2, 3):
            raise Rejection("InvalidSchedule", f"{where}: numberPhases must be 1, 2 or 3")
        if period.phase_to_use is not None:
            if period.phase_to_use not in (1, 2, 3):
                raise Rejection("InvalidSchedule", f"{where}: phaseToUse must be 1, 2 or 3")
            if period.number_phases != 1:
                raise Rejection("InvalidSchedule", f"{where}: phaseToUse only with numberPhases 1")
            if not limits.phase_switching:
                raise Rejection("InvalidSchedule", f"{where}: phaseToUse needs ACPhaseSwitchingSupported")


def check_against_installed(profile: Profile, installed: Iterable[Profile], limits: Limits) -> None:
    """K01.FR.06 (same stackLevel and purpose on the same EVSE with overlapping validity), the phaseToUse
    conflict with the station maximum (errata 2025-01) and the Entries limit. Same id = replacement (K01.FR.05)."""
    others = [p for p in installed if p.profile_id != profile.profile_id]
    for other in others:
        if (other.evse_id == profile.evse_id and other.purpose == profile.purpose
                and other.stack_level == profile.stack_level and _overlap(profile, other)):
            raise Rejection("DuplicateProfile", f"profile {other.profile_id} has stackLevel {profile.stack_level}"
                                                f" and purpose {profile.purpose} on EVSE {profile.evse_id}")
    station_phases = {p.phase_to_use for o in others if o.purpose == PURPOSE_STATION_MAX
                      for p in o.schedule.periods if p.phase_to_use is not None}
    own = {p.phase_to_use for p in profile.schedule.periods if p.phase_to_use is not None}
    if own and station_phases and own != station_phases:
        raise Rejection("InvalidSchedule", "phaseToUse conflicts with the ChargingStationMaxProfile")
    if len(others) >= limits.max_entries:
        raise Rejection("TooManyElements", f"{limits.max_entries} profiles installed (Entries maxLimit)")


def check_profile(profile: Profile, installed: Iterable[Profile], limits: Limits) -> None:
    """Every K01 rule for a SetChargingProfileRequest, cheapest first."""
    check_target(profile, limits)
    check_shape(profile, limits)
    check_transaction(profile, limits)
    check_against_installed(profile, installed, limits)


def check_remote_start_profile(profile: Profile, installed: Iterable[Profile], limits: Limits) -> None:
    """A RequestStartTransaction profile (K05/F01.FR.11): a TxProfile for this EVSE, no transactionId yet."""
    if profile.purpose != PURPOSE_TX:
        raise Rejection("InvalidProfile", "RequestStartTransaction takes a TxProfile (F01.FR.11)")
    if profile.transaction_id is not None:
        raise Rejection("InvalidProfile", "the transaction has no id yet: transactionId must be absent")
    check_target(profile, limits)
    check_shape(profile, limits)
    check_against_installed(profile, installed, limits)
