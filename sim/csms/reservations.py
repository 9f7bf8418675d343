"""Reservations as the development CSMS makes them (`reonctl csms reserve` / `cancel-reservation`): the
ReserveNowRequest for a card on an EVSE (or any EVSE) for some minutes, with a fresh reservation id."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

_ids = itertools.count(int(time.time()) % 1_000_000)  # distinct across CSMS restarts in one day of tests


def reserve_now_request(id_token: str, *, evse_id: int | None = None, minutes: float = 15.0,
                        reservation_id: int | None = None, token_type: str = "ISO14443",
                        group_id: str | None = None, connector_type: str | None = None) -> dict[str, Any]:
    """A ReserveNowRequest payload; the expiryDateTime is `minutes` from now (UTC)."""
    expiry = datetime.now(UTC) + timedelta(minutes=minutes)
    payload: dict[str, Any] = {
        "id": reservation_id if reservation_id is not None else next(_ids),
        "expiryDateTime": expiry.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "idToken": {"idToken": id_token, "type": token_type},
    }
    if evse_id is not None:
        payload["evseId"] = evse_id
    if group_id:
        payload["groupIdToken"] = {"idToken": group_id, "type": "Central"}
    if connector_type:
        payload["connectorType"] = connector_type
    return payload
