"""SetChargingProfile requests as an operator would send them from the development CSMS (`reonctl csms
profile`): one schedule, periods given as (start offset s, limit), Absolute from now or Relative to the
transaction. The station validates them; nothing is checked here beyond the shape of the arguments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

PURPOSES = ("ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile")


def parse_periods(text: str) -> list[tuple[int, float]]:
    """"32" or "0:32,600:10,1200:16" → [(0, 32.0), …]; ValueError when malformed."""
    periods = []
    for part in text.split(","):
        start, _, limit = part.strip().rpartition(":")
        periods.append((int(start or 0), float(limit)))
    if not periods or periods[0][0] != 0:
        raise ValueError("the first period must start at 0")
    return periods


def set_charging_profile(evse_id: int, periods: list[tuple[int, float]], *, profile_id: int = 1,
                         purpose: str = "TxDefaultProfile", stack_level: int = 0, unit: str = "A",
                         transaction_id: str | None = None, relative: bool = False,
                         now: datetime | None = None) -> dict[str, Any]:
    """A SetChargingProfileRequest payload."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}")
    schedule: dict[str, Any] = {"id": profile_id, "chargingRateUnit": unit, "chargingSchedulePeriod": [
        {"startPeriod": start, "limit": limit} for start, limit in periods]}
    profile: dict[str, Any] = {"id": profile_id, "stackLevel": stack_level, "chargingProfilePurpose": purpose,
                               "chargingProfileKind": "Relative" if relative else "Absolute",
                               "chargingSchedule": [schedule]}
    if not relative:
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        schedule["startSchedule"] = moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    return {"evseId": evse_id, "chargingProfile": profile}
