"""Availability (G03/G04 ChangeAvailability) and connector status (B04, G01 StatusNotification).

OCPP availability has three levels: station, EVSE, connector, each Operative or Inoperative (levels.py, persisted).
evse_io has one availability per EVSE: it gets Inoperative when the station, the EVSE or all of the EVSE's connectors
are Inoperative. While a transaction runs on an EVSE (hooks.active_transactions), an Inoperative is answered Scheduled
and handed to evse_io only once the transaction is over; evse_io itself also schedules while its session is authorized
or powered.

The status of a connector is evse_io's `connector_status`, shown Unavailable while it would be Available or Reserved
but the connector is Inoperative at some level; no evse_io state yet → Unavailable. Reserved comes from the reservation
block (`use_reservations`): shown while the EVSE is reserved and would be Available, and evse_io is told (`reserve`) so
that its state agrees; the reservation block hears of every EVSE state change (`evse_changed`: a Faulted or Inoperative
EVSE ends its reservation, H01.FR.17; evse_io's start-up Unavailable does not, `reservation_status`).
StatusNotification goes for every connector after boot Accepted, for every connector whose status differs from the one
last delivered (a change, or a change while offline: B04.FR.02), and for all after an offline period longer than
OfflineThreshold (B04.FR.01). The device model's AvailabilityState follows.

Order with TransactionEvents (E02/E03, TC_E_02_CS, TC_E_03_CS, reusable state EVDisconnected): a status change goes to
the CSMS before the TransactionEvent that the same evse_io fact caused (plug-in: Occupied, then CablePluggedIn; unplug:
Available, then Ended). evse_io journals the fact and only then publishes its changed state, so the outbound queue asks
`status_first(evse_id, at)` before such an event leaves: it waits (at most STATUS_FIRST_WAIT_S) for evse_io's state
published at or after the fact, and reports the change first. A reported change is dated when evse_io published it (its
state's time on the station clock), or at the fact when it follows that fact within STATUS_FIRST_WAIT_S, so the times
of what leaves never run backwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from bus.envelope import Envelope
from bus.rpc import RpcError
from services.ocpp_client.availability.levels import STATION, AvailabilityLevels, scope_name
from services.ocpp_client.clock import StationClock
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.device_model.values import InvalidValueError
from services.ocpp_client.link.gate import CallGate
from services.ocpp_client.link.rpc import Reply
from services.ocpp_client.meter_values.sampling import parse_utc, utc_text
from services.ocpp_client.peers import Connectors, Peers
from services.ocpp_client.transactions.activity import TransactionActivity

log = logging.getLogger("reon.ocpp.availability")

EVSE_IO_WAIT_S = 2.0  # at boot Accepted, wait this long for evse_io's state with every MCU link up
HOLD_MAX_S = 5.0  # StatusNotifications wait for the ChangeAvailabilityResponse at most this long
EVSE_IO_DEADLINE_S = 3.0
STATUS_FIRST_WAIT_S = 0.5  # a TransactionEvent waits at most this long for evse_io's state after its fact


class Availability:
    """ChangeAvailability, the status of every connector and its StatusNotifications."""

    def __init__(self, db: sqlite3.Connection, dm: DeviceModel, clock: StationClock, gate: CallGate,
                 connectors: Connectors, peers: Peers, transactions: TransactionActivity) -> None:
        """`gate`: CALLs in and out and the registration status; `transactions`: how many are ongoing, and a
        change listener (a ChangeAvailability scheduled until they end)."""
        self.levels = AvailabilityLevels(db)
        self.dm, self.clock, self.gate, self.peers = dm, clock, gate, peers
        self.connectors, self.transactions = connectors, transactions
        self._io: dict[int, dict[str, Any]] = {}
        self._io_seen = asyncio.Event()
        self._io_at: dict[int, float] = {}  # time of evse_io's latest state per EVSE (station clock)
        self._link_seen: dict[int, str] = {}  # EVSE → the evse_io session in which its MCU answered
        self._io_session: dict[int, str] = {}  # EVSE → the evse_io session of its latest state
        self._io_changed = asyncio.Condition()
        self._seen: dict[tuple[int, int], str] = {}  # status per connector as last computed ...
        self._changed_at: dict[tuple[int, int], float] = {}  # ... and since when (station clock)
        self._fact_at: dict[int, float] = {}  # time of evse_io's latest session fact per EVSE (station clock)
        self._reported: dict[tuple[int, int], str] = {}
        self._dirty = asyncio.Event()
        self._hold_until = 0.0
        self._report_lock = asyncio.Lock()
        self._syncing: set[int] = set()
        self._reserving: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.firmware_hold = False
        self._reserved: Callable[[int], bool] = lambda _evse_id: False
        self._evse_changed: Callable[[int], object] = lambda _evse_id: None
        gate.register("ChangeAvailability", self.change_availability)
        transactions.on_change(self._transactions_changed)

    # ---- levels -----------------------------------------------------------------------------------

    def connector_operative(self, evse_id: int, connector_id: int) -> bool:
        if self.firmware_hold:
            return False
        return self.levels.all_operative(evse_id, connector_id)

    def set_firmware_hold(self, hold: bool) -> None:
        """A firmware install waits for the running transactions (L01.FR.07): meanwhile idle EVSEs are
        Unavailable, EVSEs still charging become so when their transaction ends (the scheduled rule)."""
        if hold == self.firmware_hold:
            return
        log.info("firmware install pending: %s", "idle EVSEs Unavailable" if hold else "EVSEs back to their state")
        self.firmware_hold = hold
        self._transactions_changed()
        self._dirty.set()

    def evse_operative(self, evse_id: int) -> bool:
        """What evse_io should have: Inoperative when no connector of the EVSE is operative."""
        return any(self.connector_operative(e, c) for e, c in self.connectors if e == evse_id)

    def status(self, evse_id: int, connector_id: int) -> str:
        base = self._unreserved_status(evse_id, connector_id)
        return "Reserved" if base == "Available" and self._reserved(evse_id) else base

    def _unreserved_status(self, evse_id: int, connector_id: int) -> str:
        io = self._io.get(evse_id)
        base = io["connector_status"] if io else "Unavailable"
        if base in ("Available", "Reserved") and not self.connector_operative(evse_id, connector_id):
            return "Unavailable"
        return "Available" if base == "Reserved" else base

    def base_status(self, evse_id: int) -> str:
        """The EVSE's state for the reservation block, reservations not counted: Occupied, Available, Faulted
        or Unavailable (the first that one of its connectors has, in that order)."""
        statuses = {self._unreserved_status(e, c) for e, c in self.connectors if e == evse_id}
        return next((s for s in ("Occupied", "Available", "Faulted") if s in statuses), "Unavailable")

    def reservation_status(self, evse_id: int) -> str:
        """`base_status`, but "Unknown" (not out of order, not free) while evse_io has not heard the EVSE's MCU
        since it started: a power-up or an evse_io restart ends no reservation (H01.FR.17 is a fault)."""
        status, body = self.base_status(evse_id), self._io.get(evse_id) or {}
        starting = not body.get("link_up") and self._link_seen.get(evse_id) != self._io_session.get(evse_id)
        return "Unknown" if status == "Unavailable" and body and starting else status

    def evse_level_operative(self, evse_id: int) -> bool:
        """The EVSE's own level as set by ChangeAvailability (or the availability switch)."""
        return self.levels.operative(evse_id, 0)

    # ---- reservations -----------------------------------------------------------------------------

    def use_reservations(self, reserved: Callable[[int], bool], evse_changed: Callable[[int], object]) -> None:
        """`reserved(evse_id)`: the EVSE shows Reserved; `evse_changed(evse_id)`: its state changed."""
        self._reserved = reserved
        self._evse_changed = evse_changed

    def reservations_changed(self) -> None:
        """What is reserved changed: report the statuses, bring evse_io's `reserved` in line."""
        for evse_id in self.connectors.evse_ids:
            self._update_device_model(evse_id)
            self._sync_reserved(evse_id)
        self._dirty.set()

    def _sync_reserved(self, evse_id: int) -> None:
        io = self._io.get(evse_id)
        if io is not None and bool(io.get("reserved")) != self._reserved(evse_id) and evse_id not in self._reserving:
            self._spawn(self._reserve_evse_io(evse_id))

    async def _reserve_evse_io(self, evse_id: int) -> None:
        if not self.peers.running("evse_io"):
            return
        self._reserving.add(evse_id)
        try:
            wanted = self._reserved(evse_id)
            reply = await self.peers.call("evse_io", "reserve", {"evse": evse_id, "reserved": wanted},
                                          deadline_s=EVSE_IO_DEADLINE_S)
        except RpcError as exc:
            log.warning("evse_io reserve(%d) failed: %s", evse_id, exc)
            return
        finally:
            self._reserving.discard(evse_id)
        if isinstance(reply, dict) and bool(reply.get("reserved")) != self._reserved(evse_id):
            self._sync_reserved(evse_id)  # changed again meanwhile

    # ---- evse_io ----------------------------------------------------------------------------------

    def evse_state(self, evse_id: int) -> dict[str, Any] | None:
        """evse_io's last published state of an EVSE (`evse_io.state.evse.<n>`), or None."""
        return self._io.get(evse_id)

    async def on_evse_io_state(self, topic: str, env: Envelope) -> None:
        """Subscription callback of `evse_io.state.evse.`."""
        body = env.body
        if not isinstance(body, dict) or not isinstance(body.get("evse_id"), int):
            return
        evse_id = body["evse_id"]
        if not self.connectors.has(evse_id):
            return
        self._io[evse_id] = body
        self._io_at[evse_id] = env.ts + self.clock.offset_s
        self._note_changes(evse_id, self._io_at[evse_id])
        async with self._io_changed:
            self._io_changed.notify_all()
        self._io_session[evse_id] = env.session
        if body.get("link_up"):
            self._link_seen[evse_id] = env.session
        self._evse_changed(evse_id)
        self._sync_reserved(evse_id)
        if all(self._io.get(evse_id, {}).get("link_up") for evse_id in self.connectors.evse_ids):
            self._io_seen.set()  # every MCU answers: evse_io's status is not just its start-up Unavailable
        self._update_device_model(evse_id)
        self._dirty.set()
        if body.get("availability_requested") != self._wanted(evse_id) and evse_id not in self._syncing:
            self._spawn(self._sync_evse_io(evse_id))

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _wanted(self, evse_id: int) -> str:
        if self.evse_operative(evse_id):
            return "Operative"
        if self.transactions.active_transactions(evse_id) > 0:
            io = self._io.get(evse_id) or {}
            return str(io.get("availability_requested", "Operative"))  # scheduled: leave evse_io as it is
        return "Inoperative"

    async def _sync_evse_io(self, evse_id: int) -> dict[str, Any] | None:
        """Tell evse_io the availability it should have; its reply (EVSE state) or None."""
        wanted = self._wanted(evse_id)
        if not self.peers.running("evse_io"):
            return None
        self._syncing.add(evse_id)
        try:
            reply = await self.peers.call("evse_io", "set_availability",
                                         {"evse": evse_id, "availability": wanted},
                                         deadline_s=EVSE_IO_DEADLINE_S)
        except RpcError as exc:
            log.warning("evse_io set_availability(%d, %s) failed: %s", evse_id, wanted, exc)
            return None
        finally:
            self._syncing.discard(evse_id)
        return reply if isinstance(reply, dict) else None

    def _transactions_changed(self) -> None:
        for evse_id in self.connectors.evse_ids:
            io = self._io.get(evse_id)
            if io is not None and io.get("availability_requested") != self._wanted(evse_id):
                self._spawn(self._sync_evse_io(evse_id))

    # ---- ChangeAvailability -----------------------------------------------------------------------

    async def change_availability(self, request: dict[str, Any]) -> Reply:
        operative = request["operationalStatus"] == "Operative"
        evse = request.get("evse")
        if evse is None or evse.get("id", 0) == 0:
            scope, evse_ids = STATION, self.connectors.evse_ids
        else:
            connector_id = evse.get("connectorId")
            if not self.connectors.has(evse["id"], connector_id):
                return Reply({"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}})
            scope, evse_ids = (evse["id"], connector_id or 0), [evse["id"]]
        self._hold_until = time.monotonic() + HOLD_MAX_S
        self.levels.set(scope, operative)
        log.info("availability of %s set to %s", scope_name(scope), request["operationalStatus"])
        scheduled = False
        for evse_id in evse_ids:
            busy = self.transactions.active_transactions(evse_id) > 0
            io = self._io.get(evse_id)
            if io is None or io.get("availability_requested") != self._wanted(evse_id):
                reply = await self._sync_evse_io(evse_id)
            else:
                reply = io
            if not operative and (busy or (reply is not None and reply.get("availability") != "Inoperative"
                                           and not self.evse_operative(evse_id))):
                scheduled = True
            if reply is not None:
                self._io[evse_id] = reply
            self._update_device_model(evse_id)
            self._evse_changed(evse_id)  # Inoperative ends a reservation (Removed)
        self._update_station_model()
        return Reply({"status": "Scheduled" if scheduled else "Accepted"}, after_sent=self._release_hold)

    async def _release_hold(self) -> None:
        self._hold_until = 0.0
        self._dirty.set()

    def poke(self) -> None:
        """Look for status changes to report now (after the boot report)."""
        self._dirty.set()

    # ---- StatusNotification -----------------------------------------------------------------------

    async def run(self) -> None:
        """Report changed statuses (one task)."""
        self._update_station_model()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            hold_s = self._hold_until - time.monotonic()
            if hold_s > 0:
                await asyncio.sleep(min(hold_s, 0.05))
                self._dirty.set()
                continue
            if self.gate.connected and self.gate.accepted and not self.gate.queue_held:
                await self.report(only_changed=True)

    async def report(self, *, only_changed: bool) -> None:
        """StatusNotification for every connector (or only those whose status differs from the delivered one)."""
        async with self._report_lock:
            for evse_id, connector_id in self.connectors:
                if only_changed and self._reported.get((evse_id, connector_id)) == self.status(evse_id, connector_id):
                    continue
                await self.send_status(evse_id, connector_id)

    async def report_after_boot(self) -> None:
        """Boot Accepted: every connector, once evse_io reports every MCU link up (at most EVSE_IO_WAIT_S)."""
        try:
            async with asyncio.timeout(EVSE_IO_WAIT_S):
                await self._io_seen.wait()
        except TimeoutError:
            log.warning("evse_io has not reported every EVSE with its MCU link up within %g s: reporting what"
                        " is known (no state: Unavailable)", EVSE_IO_WAIT_S)
        await self.report(only_changed=False)

    async def report_after_offline(self, offline_s: float) -> None:
        threshold_s = self.dm.get_int("OCPPCommCtrlr", "OfflineThreshold")
        log.info("back online after %.1f s offline (OfflineThreshold %d s): reporting %s connectors", offline_s,
                 threshold_s, "all" if offline_s > threshold_s else "changed")
        await self.report(only_changed=offline_s <= threshold_s)

    async def send_status(self, evse_id: int, connector_id: int, *, in_pending: bool = False) -> bool:
        """StatusNotification of the connector, dated when its status changed (now, after a boot or an offline
        period longer than OfflineThreshold: then report() sends every connector)."""
        status = self.status(evse_id, connector_id)
        changed_at = self._changed_at.get((evse_id, connector_id))
        at = changed_at if changed_at is not None and self._seen.get((evse_id, connector_id)) == status \
            and self._reported.get((evse_id, connector_id)) not in (None, status) else None
        timestamp = utc_text(at) if at is not None else self.clock.now_text()
        payload = {"timestamp": timestamp, "connectorStatus": status, "evseId": evse_id,
                   "connectorId": connector_id}
        if await self.gate.send("StatusNotification", payload, in_pending=in_pending) is None:
            return False
        self._reported[(evse_id, connector_id)] = status
        return True

    async def on_session_fact(self, topic: str, env: Envelope) -> None:
        """Subscription callback of `evse_io.evt.session` (only its time: the transactions block consumes the
        stream): evse_io publishes the state showing the fact's effect right after it, and a status change
        there happened at the fact."""
        entry = env.body if isinstance(env.body, dict) else {}
        data = entry.get("data") if isinstance(entry.get("data"), dict) else entry
        evse_id, at = data.get("evse_id"), data.get("at")
        if isinstance(evse_id, int) and isinstance(at, str):
            with contextlib.suppress(ValueError):
                self._fact_at[evse_id] = parse_utc(at) + self.clock.offset_s

    def _note_changes(self, evse_id: int, state_at_s: float) -> None:
        """Remember when each connector of the EVSE took the status it has now: at the fact that caused it when
        evse_io published the state within STATUS_FIRST_WAIT_S of a fact, else when it published the state."""
        fact_at = self._fact_at.get(evse_id)
        near = fact_at is not None and state_at_s - STATUS_FIRST_WAIT_S <= fact_at <= state_at_s
        at_s = fact_at if near and fact_at is not None else state_at_s
        for e, c in self.connectors:
            if e == evse_id and self._seen.get((e, c)) != (status := self.status(e, c)):
                self._seen[(e, c)] = status
                self._changed_at[(e, c)] = at_s

    async def status_first(self, evse_id: int, at_s: float) -> None:
        """Before a TransactionEvent caused by an evse_io fact of the EVSE at `at_s` (station clock) leaves:
        wait for evse_io's state published after that fact, then report the status change it brought first,
        dated at the fact (see the module docstring)."""
        if not self.connectors.has(evse_id):
            return
        try:
            async with asyncio.timeout(STATUS_FIRST_WAIT_S), self._io_changed:
                await self._io_changed.wait_for(lambda: self._io_at.get(evse_id, float("-inf")) >= at_s)
        except TimeoutError:
            log.info("EVSE %d: no evse_io state after its fact within %g s: the TransactionEvent goes first",
                     evse_id, STATUS_FIRST_WAIT_S)
            return
        for e, c in self.connectors:
            changed_at = self._changed_at.get((e, c))
            if e == evse_id and changed_at is not None and at_s < changed_at <= at_s + STATUS_FIRST_WAIT_S:
                self._changed_at[(e, c)] = at_s  # the fact changed it: the same moment
        if time.monotonic() >= self._hold_until and self.gate.connected and self.gate.accepted:
            await self.report(only_changed=True)

    # ---- device model -----------------------------------------------------------------------------

    def _update_device_model(self, evse_id: int) -> None:
        statuses = []
        for e, c in self.connectors:
            if e == evse_id:
                statuses.append(self.status(e, c))
                self._set_model("Connector", statuses[-1], evse_id=e, connector_id=c)
        if not self.levels.operative(*STATION) or not self.levels.operative(evse_id, 0):
            evse_status = "Unavailable"
        else:
            evse_status = next((s for s in ("Occupied", "Available") if s in statuses), statuses[0])
        self._set_model("EVSE", evse_status, evse_id=evse_id)

    def _update_station_model(self) -> None:
        self._set_model("ChargingStation", "Available" if self.levels.operative(*STATION) else "Unavailable")

    def _set_model(self, component: str, status: str, **where: int) -> None:
        try:
            self.dm.set(component, "AvailabilityState", status, **where)  # type: ignore[arg-type]
        except InvalidValueError as exc:
            log.warning("%s AvailabilityState %s not taken: %s", component, status, exc.message)
