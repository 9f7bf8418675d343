"""Reservations (H01 ReserveNow, H02 CancelReservation, H03 use of a reserved EVSE, H04 expiry).

A reservation names one EVSE, or no EVSE (ReservationCtrlr.NonEvseSpecific, H01.FR.04) and optionally a
connectorType (H01.FR.06). For the ones without an EVSE the station keeps enough EVSEs free (H01.FR.07/09):
the free EVSEs (Available and not reserved by id) must match every such reservation to its own EVSE of the
right type (a bipartite matching); an EVSE without which that matching fails is *needed* and shows Reserved,
so when as many EVSEs are free as there are reservations, all of them do (H01.FR.20).

The EVSE's own state comes from `evse_state(evse_id)`: Available, Occupied, Faulted or Unavailable, the
reservations not counted. ReservationStatusUpdate goes through the durable outbound queue (`queue_put`,
which must write through the same SQLite connection: the message commits with the reservation's removal).
Expiry: one timer to the next expiryDateTime (`run`), no polling; reservations that expired while the station
was off expire when `run` starts (H04.FR.01/02). `on_change()` is called after every change of what is
reserved, so the availability block reports Reserved / Available (StatusNotification).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ocpp_client.reservation.store import Reservation, ReservationStore
from services.ocpp_client.store import atomic

log = logging.getLogger("reon.ocpp.reservation")

EvseState = Callable[[int], str]
QueuePut = Callable[[str, dict[str, Any]], object]
BROKEN_STATES = ("Faulted", "Unavailable")


@dataclass(frozen=True)
class ReserveOutcome:
    """The ReserveNowResponse status, with a reasonCode (appendix reason codes) when there is one."""

    status: str
    reason: str | None = None

    def payload(self) -> dict[str, Any]:
        response: dict[str, Any] = {"status": self.status}
        if self.reason:
            response["statusInfo"] = {"reasonCode": self.reason}
        return response


def same_token(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """IdTokens are equal when idToken and type are (C01.FR.25; additionalInfo does not count)."""
    return (a is not None and b is not None and str(a.get("idToken")) == str(b.get("idToken"))
            and str(a.get("type")) == str(b.get("type")))


def parse_datetime(text: str) -> datetime:
    """An OCPP dateTime as an aware datetime (ValueError when it is not one, or has no time zone)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"no time zone in {text!r}")
    return moment


class Reservations:
    """The station's reservations (see the module docstring)."""

    def __init__(self, conn: sqlite3.Connection, *, evses: Mapping[int, Sequence[str]], evse_state: EvseState,
                 setting: Callable[[str], bool], queue_put: QueuePut, now: Callable[[], datetime],
                 on_change: Callable[[], None] = lambda: None) -> None:
        """`evses`: EVSE id → its connectors' types; `setting(name)`: ReservationCtrlr.<name> (Available,
        Enabled, NonEvseSpecific) as a bool."""
        self.conn = conn
        self.store = ReservationStore(conn)
        self._evses = {evse_id: tuple(types) for evse_id, types in evses.items()}
        self._evse_state = evse_state
        self._setting = setting
        self._queue_put = queue_put
        self._now = now
        self._on_change = on_change
        self._wake = asyncio.Event()

    # ---- what is reserved -------------------------------------------------------------------------

    def all(self) -> list[Reservation]:
        return self.store.all()

    def reserved(self, evse_id: int) -> bool:
        """Whether the EVSE's connectors show Reserved: reserved by id, or needed for the reservations
        without an EVSE."""
        reservations = self.store.all()
        if any(r.evse_id == evse_id for r in reservations):
            return True
        pool = self._free(reservations)
        return evse_id in pool and not self._feasible(_unplaced(reservations), pool - {evse_id})

    def reservation_on(self, evse_id: int) -> Reservation | None:
        """The reservation holding this EVSE (by id, or the oldest unplaced one it is needed for), or None."""
        reservations = self.store.all()
        held = next((r for r in reservations if r.evse_id == evse_id), None)
        if held is not None or not self.reserved(evse_id):
            return held
        return next((r for r in _unplaced(reservations) if self._fits(r, evse_id)), None)

    def for_token(self, id_token: Mapping[str, Any]) -> list[Reservation]:
        """The reservations made for this idToken (customer information, N09)."""
        return [r for r in self.store.all() if same_token(r.id_token, id_token)]

    # ---- H01 ReserveNow ---------------------------------------------------------------------------

    def reserve(self, request: Mapping[str, Any]) -> ReserveOutcome:
        """Answer a (schema-valid) ReserveNowRequest; store the reservation when Accepted."""
        if not (self._setting("Available") and self._setting("Enabled")):
            return ReserveOutcome("Rejected", "NotEnabled")  # H01.FR.01
        try:
            expires_at = parse_datetime(request["expiryDateTime"])
        except ValueError:
            return ReserveOutcome("Rejected", "InvalidValue")
        if expires_at <= self._now():
            return ReserveOutcome("Rejected", "InvalidValue")
        evse_id, connector_type = request.get("evseId"), request.get("connectorType")
        if evse_id is not None and evse_id not in self._evses:
            return ReserveOutcome("Rejected", "UnknownEvse")
        if connector_type is not None and not any(
                connector_type in self._evses[e] for e in ([evse_id] if evse_id is not None else self._evses)):
            return ReserveOutcome("Rejected", "UnknownConnectorType")
        if evse_id is None and not self._setting("NonEvseSpecific"):
            return ReserveOutcome("Rejected", "UnsupportedParam")  # H01.FR.19
        new = Reservation(int(request["id"]), evse_id, connector_type, dict(request["idToken"]),
                          dict(request["groupIdToken"]) if request.get("groupIdToken") else None, expires_at)
        others = [r for r in self.store.all() if r.reservation_id != new.reservation_id]  # H01.FR.02
        status = self._specific_status(new, others) if evse_id is not None else self._unplaced_status(new, others)
        if status != "Accepted":
            return ReserveOutcome(status)
        with atomic(self.conn):
            self.store.put(new)
        log.info("reservation %d accepted: %s for %s until %s", new.reservation_id,
                 f"EVSE {evse_id}" if evse_id is not None else "any EVSE", new.id_token.get("idToken"),
                 request["expiryDateTime"])
        self._changed()
        return ReserveOutcome("Accepted")

    def _specific_status(self, new: Reservation, others: list[Reservation]) -> str:
        assert new.evse_id is not None
        state = self._evse_state(new.evse_id)
        if state in ("Faulted", "Unavailable", "Occupied"):
            return state  # H01.FR.12, H01.FR.14, H01.FR.13
        if any(r.evse_id == new.evse_id for r in others):
            return "Occupied"  # H01.FR.11
        if not self._feasible(_unplaced(others), self._free(others) - {new.evse_id}):
            return "Occupied"  # it is the EVSE kept free for reservations without an EVSE
        return "Accepted"

    def _unplaced_status(self, new: Reservation, others: list[Reservation]) -> str:
        if self._feasible([*_unplaced(others), new], self._free(others)):
            return "Accepted"  # H01.FR.04
        states = [self._evse_state(e) for e in self._evses if self._fits(new, e)]
        if all(state == "Faulted" for state in states):
            return "Faulted"
        if all(state in BROKEN_STATES for state in states):
            return "Unavailable"  # H01.FR.14
        return "Occupied"  # H01.FR.11, H01.FR.13

    # ---- H02 CancelReservation --------------------------------------------------------------------

    def cancel(self, reservation_id: int) -> bool:
        """H02.FR.01/02: True (Accepted) when the reservation was there and is gone now."""
        with atomic(self.conn):
            gone = self.store.delete(reservation_id)
        if gone:
            log.info("reservation %d cancelled by the CSMS", reservation_id)
            self._changed()
        return gone

    # ---- H03 use of a reserved EVSE ---------------------------------------------------------------

    def may_start(self, evse_id: int, id_token: Mapping[str, Any] | None,
                  group_id_token: Mapping[str, Any] | None = None) -> bool:
        """Whether this token may start a transaction on the EVSE: on a reserved EVSE only the reserving
        idToken or one of its groupIdToken (H03.FR.01/04/08); elsewhere anyone, as long as enough EVSEs stay
        free for the reservations without an EVSE."""
        reservations = self.store.all()
        held = next((r for r in reservations if r.evse_id == evse_id), None)
        if held is not None:
            return _matches(held, id_token, group_id_token)
        unplaced = _unplaced(reservations)
        if any(_matches(r, id_token, group_id_token) and self._fits(r, evse_id) for r in unplaced):
            return True
        return self._feasible(unplaced, self._free(reservations) - {evse_id})

    def consume(self, evse_id: int, id_token: Mapping[str, Any] | None,
                group_id_token: Mapping[str, Any] | None = None) -> int | None:
        """The token starts on this EVSE: its reservation there is used (H03.FR.09) and gone; returns the
        reservationId for the TransactionEvent (H03.FR.10), or None when it used none."""
        reservations = self.store.all()
        held = next((r for r in reservations if r.evse_id == evse_id), None)
        candidates = [held] if held is not None else [r for r in _unplaced(reservations) if self._fits(r, evse_id)]
        used = next((r for r in candidates if _matches(r, id_token, None)), None) or next(
            (r for r in candidates if _matches(r, id_token, group_id_token)), None)
        if used is None:
            return None
        with atomic(self.conn):
            self.store.delete(used.reservation_id)
        log.info("reservation %d used on EVSE %d", used.reservation_id, evse_id)
        self._changed()
        return used.reservation_id

    # ---- ends: H04 expiry, Removed ----------------------------------------------------------------

    def expire_due(self) -> list[int]:
        """End every reservation whose expiryDateTime has come: ReservationStatusUpdate Expired (H04.FR.02)."""
        with atomic(self.conn):
            due = self.store.expired(self._now())
            for reservation in due:
                self._end(reservation, "Expired")
        if due:
            self._changed()
        return [r.reservation_id for r in due]

    def evse_changed(self, evse_id: int) -> list[int]:
        """The EVSE's state changed: a Faulted or Unavailable (Inoperative) EVSE ends its reservation with
        Removed (H01.FR.17); reservations without an EVSE that no longer find enough working EVSEs end too,
        newest first. Returns the ids removed."""
        reservations = self.store.all()
        ended: list[Reservation] = []
        if self._evse_state(evse_id) in BROKEN_STATES:
            ended += [r for r in reservations if r.evse_id == evse_id]
        unplaced = _unplaced(reservations)
        working = {e for e in self._evses if self._evse_state(e) not in BROKEN_STATES
                   and not any(r.evse_id == e for r in reservations if r not in ended)}
        while unplaced and not self._feasible(unplaced, working):
            ended.append(unplaced.pop())
        if not ended:
            return []
        with atomic(self.conn):
            for reservation in ended:
                self._end(reservation, "Removed")
        self._changed()
        return [r.reservation_id for r in ended]

    def remove_for_token(self, id_token: Mapping[str, Any]) -> int:
        """Customer data cleared (N10): the token's reservations end with Removed; returns how many."""
        mine = self.for_token(id_token)
        if not mine:
            return 0
        with atomic(self.conn):
            for reservation in mine:
                self._end(reservation, "Removed")
        self._changed()
        return len(mine)

    def _end(self, reservation: Reservation, status: str) -> None:
        if self.store.delete(reservation.reservation_id):
            self._queue_put("ReservationStatusUpdate", {"reservationId": reservation.reservation_id,
                                                        "reservationUpdateStatus": status})
            log.info("reservation %d %s", reservation.reservation_id, status.lower())

    async def run(self) -> None:
        """The expiry timer: sleeps until the next expiryDateTime (or a change), then expires what is due."""
        while True:
            self._wake.clear()
            self.expire_due()
            next_expiry = self.store.next_expiry()
            timeout_s = None if next_expiry is None else max(0.0, (next_expiry - self._now()).total_seconds())
            with contextlib.suppress(TimeoutError):  # not wait_for: in 3.11 it can swallow a cancel
                async with asyncio.timeout(timeout_s):
                    await self._wake.wait()

    def poke(self) -> None:
        """Look at the expiry times again now (after a change, or when the station clock was set)."""
        self._wake.set()

    def _changed(self) -> None:
        self._wake.set()
        try:
            self._on_change()
        except Exception:  # a listener's bug must not undo a committed reservation change
            log.exception("reservation change listener failed")

    # ---- matching ---------------------------------------------------------------------------------

    def _fits(self, reservation: Reservation, evse_id: int) -> bool:
        types = self._evses.get(evse_id, ())
        return reservation.connector_type is None or reservation.connector_type in types

    def _free(self, reservations: Iterable[Reservation]) -> set[int]:
        """EVSEs that are Available and not reserved by id."""
        held = {r.evse_id for r in reservations if r.evse_id is not None}
        return {e for e in self._evses if e not in held and self._evse_state(e) == "Available"}

    def _feasible(self, unplaced: Sequence[Reservation], pool: set[int]) -> bool:
        """Whether every reservation can have its own EVSE of the pool (augmenting paths, Kuhn)."""
        owner: dict[int, int] = {}

        def place(i: int, seen: set[int]) -> bool:
            for evse_id in sorted(pool):
                if evse_id in seen or not self._fits(unplaced[i], evse_id):
                    continue
                seen.add(evse_id)
                if evse_id not in owner or place(owner[evse_id], seen):
                    owner[evse_id] = i
                    return True
            return False

        return len(unplaced) <= len(pool) and all(place(i, set()) for i in range(len(unplaced)))


def _unplaced(reservations: Iterable[Reservation]) -> list[Reservation]:
    return [r for r in reservations if r.evse_id is None]


def _matches(reservation: Reservation, id_token: Mapping[str, Any] | None,
             group_id_token: Mapping[str, Any] | None) -> bool:
    """The reserving idToken, or a token of the reservation's group (H03.FR.04)."""
    return same_token(reservation.id_token, id_token) or (
        reservation.group_id_token is not None and same_token(reservation.group_id_token, group_id_token))
