"""The reservation block as the service assembles it: `Reservations` on ocpp.db, its CALL handlers on the gate
(ReserveNow, CancelReservation), ReservationStatusUpdate through the durable outbound queue, the expiry timer
loop and the `reservations` state that `reonctl status` shows.

The EVSE states it reasons about come from the availability block (`evse_state(evse_id)`: the connector
status without Reserved); the availability block hears of every change (`on_change`) and shows Reserved.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from services.ocpp_client.clock import StationClock
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.link.gate import CallGate
from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.reservation.handlers import handlers
from services.ocpp_client.reservation.reservations import Reservations
from services.ocpp_client.reservation.variables import COMPONENT

log = logging.getLogger("reon.ocpp.reservation")

QUEUE_KIND = "reservation"


class ReservationBlock:
    """Reservations wired to the gate, the queue, the device model and the clock."""

    def __init__(self, db: sqlite3.Connection, dm: DeviceModel, clock: StationClock, gate: CallGate,
                 queue: OutboundQueue, evses: Mapping[int, Sequence[str]], evse_state: Callable[[int], str]) -> None:
        """`evses`: EVSE id → its connectors' types; `evse_state(evse_id)`: Available, Occupied, Faulted or
        Unavailable (reservations not counted)."""
        self._db = db
        self._queue = queue
        self._listeners: list[Callable[[], None]] = []
        self.reservations = Reservations(db, evses=evses, evse_state=evse_state,
                                         setting=lambda name: dm.get_bool(COMPONENT, name),
                                         queue_put=self._queue_put, now=clock.now, on_change=self._changed)
        for action, handler in handlers(self.reservations).items():
            gate.register(action, handler)

    def _queue_put(self, action: str, payload: dict[str, Any]) -> None:
        """Inside the reservation's own SQLite transaction: the update commits with the removal."""
        self._queue.put_nowait(action, payload, kind=QUEUE_KIND, conn=self._db, droppable=False)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener()` after each change of what is reserved."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """The expiry timer (H04): one sleep to the next expiryDateTime."""
        return {"reservations": self.reservations.run}

    def state(self) -> dict[str, Any]:
        """`ocpp.state.reservations`: every reservation, for `reonctl status`."""
        return {"reservations": [r.as_dict() for r in self.reservations.all()]}
