"""Charging profile payloads for the smart charging tests, shaped like the part-6 test cases send them."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.ocpp_client.smart_charging.profiles import Profile, format_datetime, parse_profile

T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)  # a Monday


def profile_payload(profile_id: int = 1, purpose: str = "TxDefaultProfile", *, stack_level: int = 0,
                    kind: str = "Absolute", periods: list[tuple[int, float]] | None = None, unit: str = "A",
                    duration_s: int | None = None, start: datetime | None = None,
                    valid_from: datetime | None = None, valid_to: datetime | None = None,
                    transaction_id: str | None = None, recurrency: str | None = None,
                    number_phases: int | None = None, **period_extra: Any) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "id": 1,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": s, "limit": limit, **({"numberPhases": number_phases} if number_phases else {}),
             **period_extra}
            for s, limit in (periods or [(0, 6.0)])
        ],
    }
    if duration_s is not None:
        schedule["duration"] = duration_s
    if start is not None:
        schedule["startSchedule"] = format_datetime(start)
    payload: dict[str, Any] = {"id": profile_id, "stackLevel": stack_level, "chargingProfilePurpose": purpose,
                               "chargingProfileKind": kind, "chargingSchedule": [schedule]}
    for key, value in (("validFrom", valid_from), ("validTo", valid_to)):
        if value is not None:
            payload[key] = format_datetime(value)
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    if recurrency is not None:
        payload["recurrencyKind"] = recurrency
    return payload


def profile(evse_id: int = 1, received_at: datetime = T0, **kw: Any) -> Profile:
    return parse_profile(evse_id, profile_payload(**kw), received_at)


def open_db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
