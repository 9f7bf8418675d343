"""ChargingProfile payloads (OCPP 2.0.1 ChargingProfileType) as typed, immutable values.

`parse_profile` turns a schema-valid payload into a `Profile`; it checks only what the typed form needs
(datetimes parse, a schedule exists). The OCPP rejection rules live in validation.py. The original payload is
kept (`raw_json`) so GetChargingProfiles reports exactly what the CSMS sent (TC_K_01_CS post-scenario check).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

PURPOSE_STATION_MAX = "ChargingStationMaxProfile"
PURPOSE_TX_DEFAULT = "TxDefaultProfile"
PURPOSE_TX = "TxProfile"
PURPOSE_EXTERNAL = "ChargingStationExternalConstraints"
PURPOSES = (PURPOSE_STATION_MAX, PURPOSE_TX_DEFAULT, PURPOSE_TX, PURPOSE_EXTERNAL)
KIND_ABSOLUTE, KIND_RECURRING, KIND_RELATIVE = "Absolute", "Recurring", "Relative"
RECURRENCY_S = {"Daily": 86_400, "Weekly": 7 * 86_400}
NOMINAL_VOLTAGE_V = 230.0
DEFAULT_PHASES = 3  # numberPhases absent: three-phase AC (part 2, ChargingSchedulePeriodType)


class ProfileError(ValueError):
    """A payload that cannot become a Profile; `reason_code` is the statusInfo.reasonCode to answer."""

    def __init__(self, reason_code: str, info: str) -> None:
        super().__init__(f"{reason_code}: {info}")
        self.reason_code = reason_code
        self.info = info


@dataclass(frozen=True)
class Period:
    """One ChargingSchedulePeriod: from `start_s` (seconds after the schedule's start) until the next one."""

    start_s: int
    limit: float
    number_phases: int | None = None
    phase_to_use: int | None = None


@dataclass(frozen=True)
class Schedule:
    """A ChargingSchedule; `start` None for Relative (and for Absolute: the time the profile was received)."""

    schedule_id: int
    rate_unit: str
    periods: tuple[Period, ...]
    start: datetime | None = None
    duration_s: int | None = None
    min_rate: float | None = None


@dataclass(frozen=True)
class Profile:
    """A charging profile installed on one EVSE (0 = the whole station)."""

    profile_id: int
    evse_id: int
    stack_level: int
    purpose: str
    kind: str
    schedules: tuple[Schedule, ...]
    received_at: datetime
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None
    source: str = "CSO"
    raw_json: str = "{}"

    @property
    def schedule(self) -> Schedule:
        """The schedule REON applies (the first; more than one only come with ISO 15118)."""
        return self.schedules[0]

    def payload(self) -> dict[str, Any]:
        """The ChargingProfileType as received (for ReportChargingProfiles)."""
        payload: dict[str, Any] = json.loads(self.raw_json)
        return payload

    def in_validity(self, moment: datetime) -> bool:
        """validFrom ≤ moment < validTo (K01.FR.36, K01.FR.37)."""
        if self.valid_from is not None and moment < self.valid_from:
            return False
        return self.valid_to is None or moment < self.valid_to

    def expired(self, moment: datetime) -> bool:
        return self.valid_to is not None and self.valid_to <= moment


def parse_datetime(text: object, field: str) -> datetime:
    """An OCPP dateTime (RFC 3339) as an aware UTC datetime; ProfileError when it is not one."""
    if not isinstance(text, str):
        raise ProfileError("InvalidProfile", f"{field}: not a date-time")
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError as exc:
        raise ProfileError("InvalidProfile", f"{field}: {exc}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _opt_datetime(payload: dict[str, Any], key: str) -> datetime | None:
    return None if payload.get(key) is None else parse_datetime(payload[key], key)


def _int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProfileError("InvalidSchedule", f"{field}: not an integer")
    return value


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # NaN
        raise ProfileError("InvalidSchedule", f"{field}: not a number")
    return float(value)


def _opt_int(payload: dict[str, Any], key: str, field: str) -> int | None:
    return None if payload.get(key) is None else _int(payload[key], f"{field}.{key}")


def parse_period(payload: Any, field: str) -> Period:
    if not isinstance(payload, dict):
        raise ProfileError("InvalidSchedule", f"{field}: not an object")
    return Period(
        start_s=_int(payload.get("startPeriod"), f"{field}.startPeriod"),
        limit=_number(payload.get("limit"), f"{field}.limit"),
        number_phases=_opt_int(payload, "numberPhases", field),
        phase_to_use=_opt_int(payload, "phaseToUse", field),
    )


def parse_schedule(payload: Any, field: str = "chargingSchedule") -> Schedule:
    if not isinstance(payload, dict):
        raise ProfileError("InvalidSchedule", f"{field}: not an object")
    periods = payload.get("chargingSchedulePeriod")
    if not isinstance(periods, list) or not periods:
        raise ProfileError("InvalidSchedule", f"{field}: no chargingSchedulePeriod")
    min_rate = payload.get("minChargingRate")
    return Schedule(
        schedule_id=_int(payload.get("id", 0), f"{field}.id"),
        rate_unit=str(payload.get("chargingRateUnit")),
        periods=tuple(parse_period(p, f"{field}.chargingSchedulePeriod[{i}]") for i, p in enumerate(periods)),
        start=_opt_datetime(payload, "startSchedule"),
        duration_s=_opt_int(payload, "duration", field),
        min_rate=None if min_rate is None else _number(min_rate, f"{field}.minChargingRate"),
    )


def parse_profile(evse_id: int, payload: Any, received_at: datetime, *, source: str = "CSO") -> Profile:
    """A Profile from a ChargingProfileType payload; ProfileError (with the reasonCode) when malformed."""
    if not isinstance(payload, dict):
        raise ProfileError("InvalidProfile", "chargingProfile: not an object")
    schedules = payload.get("chargingSchedule")
    if isinstance(schedules, dict):
        schedules = [schedules]
    if not isinstance(schedules, list) or not schedules:
        raise ProfileError("InvalidSchedule", "chargingProfile.chargingSchedule: none")
    tx_id = payload.get("transactionId")
    return Profile(
        profile_id=_int(payload.get("id"), "chargingProfile.id"),
        evse_id=_int(evse_id, "evseId"),
        stack_level=_int(payload.get("stackLevel"), "chargingProfile.stackLevel"),
        purpose=str(payload.get("chargingProfilePurpose")),
        kind=str(payload.get("chargingProfileKind")),
        schedules=tuple(parse_schedule(s, f"chargingSchedule[{i}]") for i, s in enumerate(schedules)),
        received_at=received_at.astimezone(UTC),
        recurrency=payload.get("recurrencyKind"),
        valid_from=_opt_datetime(payload, "validFrom"),
        valid_to=_opt_datetime(payload, "validTo"),
        transaction_id=None if tx_id is None else str(tx_id),
        source=source,
        raw_json=json.dumps(payload, separators=(",", ":")),
    )


def with_transaction(profile: Profile, transaction_id: str) -> Profile:
    """The same TxProfile bound to a transaction (K05: a RequestStartTransaction profile, once the id is known)."""
    raw = profile.payload()
    raw["transactionId"] = transaction_id
    return replace(profile, transaction_id=transaction_id, raw_json=json.dumps(raw, separators=(",", ":")))


def to_amps(limit: float, rate_unit: str, phases: int, voltage_v: float = NOMINAL_VOLTAGE_V) -> float:
    """A limit in A per phase, whichever unit it was given in (W: split over `phases` at `voltage_v`)."""
    return limit if rate_unit == "A" else limit / (voltage_v * max(phases, 1))


def from_amps(current_a: float, rate_unit: str, phases: int, voltage_v: float = NOMINAL_VOLTAGE_V) -> float:
    """The per-phase current `current_a` in `rate_unit` (A, or W over `phases` at `voltage_v`)."""
    return current_a if rate_unit == "A" else current_a * voltage_v * max(phases, 1)
