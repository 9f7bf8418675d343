"""The CSMS's reservation CALLs: ReserveNow (H01) and CancelReservation (H02), answered from `Reservations`.

The StatusNotification that follows (Reserved, or Available again) is the availability block's: it hears of
the change through the `on_change` callable that `Reservations` was given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.ocpp_client.reservation.reservations import Reservations

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def handlers(reservations: Reservations) -> dict[str, Handler]:
    """Action → handler of a schema-valid request payload, returning the response payload."""

    async def reserve_now(request: dict[str, Any]) -> dict[str, Any]:
        return reservations.reserve(request).payload()

    async def cancel_reservation(request: dict[str, Any]) -> dict[str, Any]:
        if reservations.cancel(int(request["reservationId"])):
            return {"status": "Accepted"}  # H02.FR.02
        return {"status": "Rejected", "statusInfo": {"reasonCode": "NotFound"}}  # H02.FR.01

    return {"ReserveNow": reserve_now, "CancelReservation": cancel_reservation}
