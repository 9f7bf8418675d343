"""Transactions (E, F01–F03, F06, E14, B12) on the bus: the glue around transactions.TransactionManager.

Inputs, each handled as one SQLite unit of work on ocpp.db (the TransactionEvents it causes are put in the
durable outbound queue in the same transaction, so seqNo never skips or repeats across restarts):
- evse_io's durable `session` stream (DurableConsumer over the kinds evse_io's contract declares, each entry
  checked against its declaration; cursor committed with the effect; the handler never suspends while the
  consumer's transaction is open);
- `evse_io.state.evse.<n>` (pause hints, cable ampacity) and, once per start when the stream has been caught
  up, a reconciliation of evse_io with the record (a command lost between a commit and the call);
- tokens, meter samples: authorization/service.py and meter_values/service.py;
- CSMS requests: RequestStartTransaction, RequestStopTransaction, GetTransactionStatus, TriggerMessage
  and Reset (TransactionActivity, activity.py); TransactionEventResponse.idTokenInfo (event_queue.py);
- time: `tick()` at `next_deadline()` (periodic / clock-aligned values, EVConnectionTimeOut).
Outputs: evse_io commands, run one at a time in order by one task AFTER the commit; `ocpp.state.transaction.<n>`.
Times given to the state machine are the station's OCPP clock (system time + the CSMS offset); evse_io's and
the meter's timestamps are shifted by the same offset.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bus.client import BusClient
from bus.durable import DurableConsumer
from bus.envelope import Envelope
from bus.rpc import RpcError
from services.ocpp_client.authorization.service import AuthService
from services.ocpp_client.clock import StationClock
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.link.gate import CallGate
from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.link.rpc import Reply
from services.ocpp_client.meter_values.sampling import energy_wh, parse_utc, utc_text
from services.ocpp_client.meter_values.service import MeterService
from services.ocpp_client.peers import Peers
from services.ocpp_client.transactions.activity import ReservationUse, TriggerWork
from services.ocpp_client.transactions.event_queue import StatusOrder, TransactionEventQueue, TxCounts
from services.ocpp_client.transactions.manager import (
    EvseCommand,
    TransactionManager,
    TxOutput,
    TxSettings,
)
from services.ocpp_client.transactions.remote import ProfileCheck
from services.ocpp_client.transactions.sessions import lost_reason
from services.ocpp_client.transactions.timers import on_deadline_change

log = logging.getLogger("reon.ocpp.transactions")

PRODUCER, STREAM, CONSUMER = "evse_io", "session", "ocpp"
EVSE_IO_DEADLINE_S = 3.0
TIMER_MAX_WAIT_S = 5.0  # a deadline variable's change wakes the timers at once; this bounds a clock step's delay
TIMER_MIN_WAIT_S = 0.05
EVSE_IO_REPORT_WAIT_S = 60.0  # after a reboot, end what was open if evse_io has not reported by then
STREAM_CATCH_UP_WAIT_S = 5.0  # at start, the timers wait at most this long for the session stream to catch up
CACHE_PURGE_S = 3600.0
_REJECTED_PENDING = {"status": "Rejected"}  # BootNotification not Accepted yet (B02.FR.08)


class TransactionService:
    """Owns the TransactionManager, the evse_io session consumer and the evse_io command runner, and the
    authorization and meter-value blocks that feed it (`auth`, `meter`). Implements TransactionActivity
    (activity.py) for availability, reset, trigger and the remote commands."""

    def __init__(self, *, db: sqlite3.Connection, dm: DeviceModel, clock: StationClock, gate: CallGate,
                 queue: OutboundQueue, bus: BusClient, peers: Peers, evses: Mapping[int, int],
                 subscribe: Callable[..., Any], publish_state: Callable[[str, Any], Awaitable[None]],
                 boot_id: str, start_reason: str, evse_available: Callable[[int], bool],
                 room_for_records: Callable[[], bool] = lambda: True) -> None:
        """`evses`: EVSE id → its connector id; `bus` and `db`: evse_io's session stream consumer (cursor in
        `db`); `peers`: evse_io commands; `boot_id` / `start_reason`: the OS boot and why this process
        started (a transaction a station restart cut ends with `lost_reason(start_reason)`);
        `room_for_records()`: False while the disk is too full to record a new transaction."""
        self.db = db
        self.clock = clock
        self.gate = gate
        self.peers = peers
        self.subscribe = subscribe
        self.publish_state = publish_state
        self._evse_available = evse_available
        self.counts = TxCounts()  # published in ocpp.state.transactions
        self.events = TransactionEventQueue(queue, self.counts, self._on_id_token_info)
        self.tx = TransactionManager(db, evses, lambda: TxSettings.from_device_model(dm), self.events.enqueue,
                                     boot_id=boot_id, lost_reason=lost_reason(start_reason))
        self.auth = AuthService(db, dm, gate, sorted(self.tx.evses), self.tx, apply=self.apply, now=self.now,
                                subscribe=subscribe, on_verdict=self.counts.authorized,
                                room_for_records=room_for_records)
        self.meter = MeterService(dm, gate.send, self.tx, apply=self.apply, now=self.now,
                                  station_time=self.station_time, subscribe=subscribe,
                                  offered_current_a=lambda evse: self._evse_io.get(evse, {}).get("offered_current_a"))
        # one handler per kind the transaction machine moves on; DurableConsumer refuses a map that differs
        # from the kinds evse_io's contract declares (ValueError at start, not an entry skipped later)
        self.consumer = DurableConsumer(bus, db, PRODUCER, STREAM, CONSUMER,
                                        dict.fromkeys(self.tx.sessions.KINDS, self._on_session_entry))
        self._commands: asyncio.Queue[EvseCommand] = asyncio.Queue()
        self._changed = asyncio.Event()  # publish the transaction states
        self._open_now: dict[int, str] = {}  # as last published: a sample moves only these EVSEs' states
        self._timer_wake = asyncio.Event()
        on_deadline_change(dm, self._timer_wake.set)
        self._evse_io: dict[int, dict[str, Any]] = {}
        self._stream_head: int | None = None
        self._reconciled: set[int] = set()
        self._caught_up = asyncio.Event()  # the session stream was caught up once since this start
        self._activity = asyncio.Event()  # a transaction started or ended
        self._listeners: list[Callable[[], None]] = []
        self._profile_check: ProfileCheck | None = None  # smart charging (use_charging_profiles)
        gate.register("RequestStartTransaction", self.request_start)
        gate.register("RequestStopTransaction", self.request_stop)
        gate.register("GetTransactionStatus", self.get_transaction_status)

    # ---- life -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Publish every EVSE's transaction state, subscribe, start the session consumer."""
        for evse_id in self.tx.evses:
            await self.publish_state(f"transaction.{evse_id}", self.state_of(evse_id))
        self.subscribe("evse_io.state.evse.", self._on_evse_state)
        self.subscribe(f"{PRODUCER}.state.stream.{STREAM}", self._on_stream_head)
        self.auth.start()
        self.meter.start()
        self.consumer.start()

    def use_status_order(self, status_order: StatusOrder) -> None:
        """A TransactionEvent an evse_io fact caused leaves after the status change of that fact (E02/E03)."""
        self.events.status_order = status_order

    def use_reservations(self, reservations: ReservationUse) -> None:
        """Tokens on a reserved EVSE: only the reserving one or its group starts (H03); the reservation ends
        with the authorization's commit and its id goes in the TransactionEvent."""
        self.tx.core.reservations = reservations

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """The tasks service.run() keeps running: evse_io commands, timers, state."""
        return {"tx_commands": self._run_commands, "tx_timers": self._run_timers, "tx_state": self._publish_states}

    async def stop(self) -> None:
        await self.consumer.stop()

    def now(self) -> float:
        """UTC seconds on the station's OCPP clock."""
        return self.clock.timestamp()

    def station_time(self, system_s: float) -> float:
        """A timestamp of another service (system clock) on the station's OCPP clock."""
        return system_s + self.clock.offset_s

    # ---- outputs ----------------------------------------------------------------------------------

    def apply(self, out: TxOutput, *, recheck_timers: bool = True, sample_of: int | None = None) -> None:
        """Hand what an input produced to the runners right after the input (the commit follows before they
        run: other tasks). `recheck_timers=False`: no deadline moved (a tick, a sample). `sample_of`: a sample
        of that EVSE (no transaction there and no output: no state to publish again)."""
        for command in out.commands:
            self._commands.put_nowait(command)
        if out.meter_values:
            self.meter.send(out.meter_values)
        if sample_of is None or sample_of in self._open_now or out.events or out.commands or out.meter_values:
            self._changed.set()
        if recheck_timers:
            self._timer_wake.set()

    async def _run_commands(self) -> None:
        """evse_io commands, one at a time, in the order the state machine produced them."""
        while True:
            command = await self._commands.get()
            await self._execute(command)

    async def _execute(self, command: EvseCommand) -> None:
        if not self.peers.running(PRODUCER):
            log.warning("evse_io is not running: %s %s not carried out (its restart re-authorizes from the"
                        " record)", command.command, command.call_args())
            return
        try:
            await self.peers.call(PRODUCER, command.command, command.call_args(), deadline_s=EVSE_IO_DEADLINE_S)
        except RpcError as exc:
            log.warning("evse_io %s %s failed: %s", command.command, command.call_args(), exc)
            if command.command == "authorize" and exc.code == "rejected":
                self.apply(self.tx.on_authorize_refused(command.evse, self.now()))

    # ---- evse_io ----------------------------------------------------------------------------------

    async def _on_session_entry(self, entry: dict[str, Any], conn: sqlite3.Connection) -> None:
        """DurableConsumer handler: runs inside the transaction that moves the cursor; never suspends."""
        entry = self._on_station_clock(entry)
        self.events.from_session = True
        try:
            out = self.tx.on_session_entry(entry, self.now())
        finally:
            self.events.from_session = False
        self.apply(out)
        asyncio.get_running_loop().call_soon(self._maybe_reconcile)  # after the commit

    def _on_station_clock(self, entry: dict[str, Any]) -> dict[str, Any]:
        data = entry.get("data")
        offset = self.clock.offset_s
        if not offset or not isinstance(data, Mapping) or not isinstance(data.get("at"), str):
            return entry
        try:
            at = parse_utc(data["at"])
        except ValueError:
            return entry
        return {**entry, "data": {**data, "at": utc_text(self.station_time(at))}}

    async def _on_evse_state(self, topic: str, env: Envelope) -> None:
        body = env.body
        if not isinstance(body, dict) or body.get("evse_id") not in self.tx.evses:
            return
        self._evse_io[body["evse_id"]] = body
        self.apply(self.tx.on_evse_state(body["evse_id"], body, self.now()))
        self._maybe_reconcile()

    async def _on_stream_head(self, topic: str, env: Envelope) -> None:
        last = env.body.get("last_seq") if isinstance(env.body, dict) else None
        if isinstance(last, int):
            self._stream_head = max(self._stream_head or 0, last)
            self._maybe_reconcile()

    def _maybe_reconcile(self) -> None:
        """Once per start and EVSE, when the session stream is caught up: bring evse_io in line with the
        record (a command may have been lost between a commit and the call when this service died).
        Not for a record that waits for evse_io's restart report (the station rebooted: it ends)."""
        if self._stream_head is None or self.consumer.cursor < self._stream_head:
            return
        self._caught_up.set()
        for evse_id, body in self._evse_io.items():
            if evse_id in self._reconciled:
                continue
            self._reconciled.add(evse_id)
            rec = self.tx.record(evse_id)
            if not (rec.awaiting_evse_io_start or rec.ignore_until_evse_io_start):
                self.apply(self.tx.reconcile_evse_io(evse_id, body))

    # ---- outbound queue ---------------------------------------------------------------------------

    def _on_id_token_info(self, sent: Mapping[str, Any], info: Mapping[str, Any], transaction_id: str) -> None:
        """TransactionEventResponse.idTokenInfo: into the cache and to the state machine (E05, C10)."""
        now = self.now()
        self.auth.authorizer.on_csms_result(sent, info, now)
        self.apply(self.tx.on_id_token_info(transaction_id, sent, info, now))

    # ---- CSMS requests ----------------------------------------------------------------------------

    async def request_start(self, request: dict[str, Any]) -> dict[str, Any] | Reply:
        """RequestStartTransaction (F01/F02); Rejected unless the boot is Accepted (B02.FR.08)."""
        if not self.gate.accepted:
            return _REJECTED_PENDING
        result = self.tx.request_start(request, self.now(), evse_available=self._evse_available,
                                       charging_profile=self._profile_check)
        self.apply(result.output)
        log.info("RequestStartTransaction for EVSE %s: %s", request.get("evseId", "any"), result.response["status"])
        if result.authorize is None:
            return result.response
        evse_id, id_token = result.authorize
        return Reply(result.response, after_sent=lambda: self.auth.authorize_remote_start(evse_id, id_token))

    async def request_stop(self, request: dict[str, Any]) -> dict[str, Any]:
        """RequestStopTransaction (F03)."""
        if not self.gate.accepted:
            return _REJECTED_PENDING
        response, out = self.tx.request_stop(request, self.now())
        self.apply(out)
        log.info("RequestStopTransaction %s: %s", request.get("transactionId"), response["status"])
        return response

    async def get_transaction_status(self, request: dict[str, Any]) -> dict[str, Any]:
        """GetTransactionStatus (E14): ongoing, and whether the queue still holds its messages."""
        transaction_id = request.get("transactionId")
        return self.tx.get_transaction_status(transaction_id, self.events.pending(transaction_id))

    # ---- smart charging (smart_charging/service.py) -------------------------------------------------

    def use_charging_profiles(self, check: ProfileCheck) -> None:
        """RequestStartTransaction's chargingProfile goes to `check` (else such a request is Rejected)."""
        self._profile_check = check

    def open_transaction_starts(self) -> dict[int, tuple[str, float]]:
        """EVSE id → (transaction id, started at UTC s) of every open transaction."""
        found = {}
        for evse_id in self.tx.evses:
            tx = self.tx.record(evse_id).tx
            if tx is not None:
                found[evse_id] = (tx.transaction_id, tx.started_at)
        return found

    def remote_start_waiting(self, evse_id: int) -> bool:
        """An authorization is in force on the EVSE or a remote start waits for its token's authorization."""
        rec = self.tx.record(evse_id)
        return rec.authorized or rec.pending_remote is not None

    # ---- TransactionActivity (activity.py) -----------------------------------------------------------

    def active_transactions(self, evse_id: int | None = None) -> int:
        return sum(1 for evse in self.tx.open_transactions() if evse_id is None or evse == evse_id)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each transaction start or end (availability re-checks what it scheduled)."""
        self._listeners.append(listener)

    def transactions_changed(self) -> None:
        """A transaction started or ended: wake `wait_until_idle` and the listeners."""
        self._activity.set()
        for listener in list(self._listeners):
            listener()

    async def wait_until_idle(self, evse_id: int | None = None) -> None:
        """Return once no transaction is ongoing (on that EVSE, or anywhere)."""
        while self.active_transactions(evse_id) > 0:
            self._activity.clear()
            await self._activity.wait()

    async def end_transactions(self, evse_id: int | None, stopped_reason: str) -> None:
        """Reset Immediate: Ended (ResetCommand) queued and committed for every open transaction in scope."""
        self.apply(self.tx.stop_transactions(evse_id, self.now(), stopped_reason=stopped_reason,
                                             trigger="ResetCommand"))

    def trigger_transaction_event(self, evse_id: int | None) -> TriggerWork | None:
        """TriggerMessage TransactionEvent: Rejected without an ongoing transaction in scope."""
        if self.active_transactions(evse_id) == 0:
            return None

        async def send() -> None:
            self.apply(self.tx.trigger_transaction_event(evse_id, self.now()))

        return send

    # ---- time and state ---------------------------------------------------------------------------

    async def _run_timers(self) -> None:
        """tick() at every next_deadline(); end what a reboot cut if evse_io never reports. The first tick waits
        for the session stream to catch up (at most STREAM_CATCH_UP_WAIT_S): an unplug evse_io journaled while
        this service was down ends the transaction before a periodic value that fell due meanwhile is sent."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(STREAM_CATCH_UP_WAIT_S):
                await self._caught_up.wait()
        except TimeoutError:
            log.warning("evse_io's session stream not caught up within %g s of this start: timers run anyway",
                        STREAM_CATCH_UP_WAIT_S)
        interrupted_checked = False
        purged_at = 0.0
        while True:
            self._timer_wake.clear()
            now = self.now()
            self.apply(self.tx.tick(now), recheck_timers=False)
            if not interrupted_checked and time.monotonic() - started >= EVSE_IO_REPORT_WAIT_S:
                interrupted_checked = True
                out = self.tx.end_interrupted(now)
                if out.events:
                    log.warning("evse_io did not report within %g s of this start: ended the transactions the"
                                " restart of the station cut", EVSE_IO_REPORT_WAIT_S)
                self.apply(out, recheck_timers=False)
            if time.monotonic() - purged_at >= CACHE_PURGE_S:
                purged_at = time.monotonic()
                self.auth.authorizer.purge_cache(now)
            deadline = self.tx.next_deadline()
            wait_s = TIMER_MAX_WAIT_S if deadline is None else min(TIMER_MAX_WAIT_S, deadline - now)
            try:
                async with asyncio.timeout(max(TIMER_MIN_WAIT_S, wait_s)):
                    await self._timer_wake.wait()
            except TimeoutError:
                pass

    def state_of(self, evse_id: int) -> dict[str, Any]:
        """`ocpp.state.transaction.<n>` (contract TRANSACTION)."""
        rec = self.tx.record(evse_id)
        tx = rec.tx
        body: dict[str, Any] = {"evse": evse_id, "transaction_id": None, "charging_state": None, "seq_no": None,
                                "id_token": None, "started_at": None, "energy_wh": None,
                                "authorized": rec.authorized}
        if tx is None:
            return body
        now_wh = energy_wh(self.tx.sample_for(rec))
        body.update(transaction_id=tx.transaction_id, charging_state=tx.charging_state, seq_no=tx.seq_no,
                    id_token=(rec.id_token or {}).get("idToken"), started_at=tx.started_at)
        if now_wh is not None and tx.energy_begin_wh is not None:
            body["energy_wh"] = round(now_wh - tx.energy_begin_wh, 3)
        return body

    async def _publish_states(self) -> None:
        """Publish each EVSE's transaction state when it changed; transactions_changed() when a
        transaction started or ended."""
        published: dict[int, dict[str, Any]] = {}
        open_before: dict[int, str] | None = None
        while True:
            self._changed.clear()
            for evse_id in self.tx.evses:
                body = self.state_of(evse_id)
                if body != published.get(evse_id):
                    await self.publish_state(f"transaction.{evse_id}", body)
                    published[evse_id] = body
            open_now = self._open_now = self.tx.open_transactions()
            if open_now != open_before:
                open_before = open_now
                self.transactions_changed()
            await self._changed.wait()
