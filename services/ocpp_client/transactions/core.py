"""The transaction state machine's building blocks: one unit of work per input, and the moves it makes.

Every input runs as a `Step` inside `atomic(conn)`: the EVSE's record is read from SQLite, changed, and
written back together with every TransactionEvent it caused (handed to `enqueue(conn, payload)` in the same
transaction), so a crash loses all of a step or none of it and seqNo never skips or repeats. Nothing is kept
between inputs except the latest meter sample per EVSE (a cache of the meter's published state).
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from services.ocpp_client.meter_values.sampling import (
    SAMPLE_PERIODIC,
    TRANSACTION_BEGIN,
    TRANSACTION_END,
    energy_wh,
    meter_value,
    next_aligned_at,
    next_periodic_at,
    phases_in_use,
)
from services.ocpp_client.store import atomic
from services.ocpp_client.transactions.events import ENDED, STARTED, UPDATED, EvseCommand, TxOutput, transaction_event
from services.ocpp_client.transactions.model import (
    CHARGING,
    EV_CONNECTED_STATE,
    IDLE,
    EvseRecord,
    Tx,
    TxSettings,
    charging_state,
    ends_when_authorization_ends,
    should_start,
)
from services.ocpp_client.transactions.store import TransactionStore

log = logging.getLogger("reon.ocpp.transactions")

Enqueue = Callable[[sqlite3.Connection, dict[str, Any]], None]


@dataclass
class Step:
    """One input being handled for one EVSE: its record, what it produced, the settings, the fact's time."""

    rec: EvseRecord
    out: TxOutput
    s: TxSettings
    now: float


class TxCore:
    """Persistence, the reads of the records, and the elementary moves (start, emit, end, grant / end
    authorization) that the input handlers (sessions, tokens, remote, timers) share."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        evses: Mapping[int, int],
        settings: Callable[[], TxSettings],
        enqueue: Enqueue,
        *,
        new_transaction_id: Callable[[], str] | None = None,
        sample_persist_s: float = 15.0,
        max_sample_age_s: float = 60.0,
    ) -> None:
        """`evses`: EVSE id → its connector id. `enqueue(conn, payload)` stores a TransactionEventRequest in
        the outbound queue using `conn` (inside the caller's transaction: it must not commit)."""
        self.conn = conn
        self.evses = dict(evses)
        self.settings = settings
        self.enqueue = enqueue
        self.new_transaction_id = new_transaction_id or (lambda: str(uuid.uuid4()))
        self.sample_persist_s = sample_persist_s
        self.max_sample_age_s = max_sample_age_s
        self.samples: dict[int, dict[str, Any]] = {}
        with atomic(conn):
            self.store = TransactionStore(conn)

    # ----- units of work ---------------------------------------------------------------------------------

    @contextmanager
    def step(self, evse_id: int, now: float, out: TxOutput | None = None) -> Iterator[Step]:
        """Load the EVSE's record, yield it, then save it — all in one SQLite (sub)transaction."""
        with atomic(self.conn):
            rec = self.store.load(evse_id) or EvseRecord(evse_id, self.evses.get(evse_id, 1))
            st = Step(rec, out if out is not None else TxOutput(), self.settings(), now)
            yield st
            rec.last_fact_at = max(rec.last_fact_at, now)
            self.store.save(rec)

    def record(self, evse_id: int) -> EvseRecord:
        """The EVSE's record as stored (read only)."""
        return self.store.load(evse_id) or EvseRecord(evse_id, self.evses.get(evse_id, 1))

    def evse_of(self, transaction_id: str) -> int | None:
        """The EVSE on which this transaction is open, or None."""
        known = self.store.history(transaction_id)
        if known is None or known[2] is not None:
            return None
        rec = self.record(known[0])
        return rec.evse_id if rec.tx is not None and rec.tx.transaction_id == transaction_id else None

    def open_transactions(self) -> dict[int, str]:
        """EVSE id → id of its open transaction."""
        found = {}
        for evse_id in self.evses:
            tx = self.record(evse_id).tx
            if tx is not None:
                found[evse_id] = tx.transaction_id
        return found

    def targets(self, evse_id: int | None) -> list[int]:
        """The EVSE (every EVSE without evse_id) that has an open transaction."""
        ids = sorted(self.evses) if evse_id is None else [evse_id] if evse_id in self.evses else []
        return [target for target in ids if self.record(target).tx is not None]

    def sample_for(self, rec: EvseRecord) -> dict[str, Any] | None:
        """The latest meter sample of the EVSE: this process's, else the one persisted."""
        return self.samples.get(rec.evse_id) or rec.last_sample

    def end_sample(self, rec: EvseRecord, given: Mapping[str, Any] | None = None) -> Mapping[str, Any] | None:
        """The Transaction.End reading: `given`, else the latest of this process's sample and the persisted one,
        among those read during the open transaction (`read_during`); None when there is none."""
        tx = rec.tx
        candidates = [given] if given is not None else [self.samples.get(rec.evse_id), rec.last_sample]
        during = [c for c in candidates if c and tx is not None and read_during(c, tx)]
        return max(during, key=lambda c: c["read_at"], default=None)

    # ----- elementary moves ------------------------------------------------------------------------------

    def emit(self, st: Step, event_type: str, trigger: str, *, stopped_reason: str | None = None,
             meter_values: list[dict[str, Any]] | None = None, id_token: Mapping[str, Any] | None = None,
             state: str | None = None) -> None:
        """Build the next TransactionEvent of the EVSE's transaction, give it its seqNo and enqueue it."""
        rec, tx = st.rec, st.rec.tx
        assert tx is not None
        state = state or charging_state(rec, st.now)
        remote_start_id = None
        if rec.auth_unreported and rec.authorized:
            id_token = id_token or rec.id_token
            remote_start_id = rec.auth_remote_start_id
            if remote_start_id is not None and event_type != ENDED:
                trigger = "RemoteStart"  # the first event after RequestStartTransaction says so (Part 6 §2.1)
            rec.auth_unreported = False
        sample = self.sample_for(rec)
        phases = phases_in_use(sample) if state == CHARGING else None
        if phases is not None and (phases == 0 or phases == tx.phases_reported):
            phases = None
        cable = round(rec.cable_max_current_a) if rec.cable_max_current_a is not None else None
        if cable is not None and cable == tx.cable_max_reported:
            cable = None
        # a fact of evse_io that reached us after a later event (a periodic value) is dated at that event
        at = max(st.now, tx.last_event_at)
        payload = transaction_event(
            event_type=event_type, at=at, trigger_reason=trigger, seq_no=tx.seq_no,
            transaction_id=tx.transaction_id, charging_state=state, stopped_reason=stopped_reason,
            remote_start_id=remote_start_id, time_spent_charging_s=self.time_charging(tx, st.now),
            evse_id=rec.evse_id, connector_id=rec.connector_id, id_token=id_token,
            meter_values=meter_values or [], number_of_phases_used=phases, cable_max_current_a=cable)
        tx.seq_no += 1
        tx.charging_state = state
        tx.last_event_at = at
        if phases is not None:
            tx.phases_reported = phases
        if cable is not None:
            tx.cable_max_reported = cable
        self.enqueue(self.conn, payload)
        st.out.events.append(payload)

    @staticmethod
    def time_charging(tx: Tx, now: float) -> float:
        running = now - tx.charging_since if tx.charging_since is not None else 0.0
        return tx.time_charging_s + max(0.0, running)

    def start_tx(self, st: Step, trigger: str) -> None:
        """Open a transaction now and send Started with the Transaction.Begin meter value (J02.FR.01)."""
        rec, s = st.rec, st.s
        tx = Tx(transaction_id=self.new_transaction_id(), started_at=st.now)
        sample = self.sample_for(rec)
        tx.energy_begin_wh = energy_wh(sample)
        if sample:  # the Begin value stays the last known one until a later sample is persisted
            rec.last_sample, rec.last_sample_saved_at = dict(sample), st.now
        if rec.power_on:
            tx.charging_since = st.now
        sampling = s.sampling
        tx.next_periodic_at = next_periodic_at(st.now, sampling.tx_updated_interval_s, st.now)
        tx.next_ended_sample_at = next_periodic_at(st.now, sampling.tx_ended_interval_s, st.now)
        tx.next_aligned_ended_at = next_aligned_at(sampling.aligned_tx_ended_interval_s, st.now)
        rec.tx = tx
        self.store.open_history(tx.transaction_id, rec.evse_id, st.now)
        begin = None
        if sampling.sampled_enabled:
            begin = meter_value(sample, sampling.tx_started_measurands, TRANSACTION_BEGIN,
                                register_values_without_phases=sampling.register_values_without_phases)
        self.emit(st, STARTED, trigger, meter_values=[begin] if begin else None)
        log.info("EVSE %d: transaction %s started (%s), meter %s Wh", rec.evse_id, tx.transaction_id, trigger,
                 tx.energy_begin_wh)

    def start_if_due(self, st: Step, trigger: str) -> None:
        """After a positive event: report it in the open transaction, or start one when a start point holds."""
        if st.rec.tx is not None:
            self.emit(st, UPDATED, trigger)
        elif should_start(st.rec, st.s.start_points):
            self.start_tx(st, trigger)

    def end_tx(self, st: Step, trigger: str, stopped_reason: str | None, *,
               id_token: Mapping[str, Any] | None = None, sample: Mapping[str, Any] | None = None) -> None:
        """Send Ended (collected samples + Transaction.End) and close the transaction and its authorization.
        `sample`: the reading to end with ({}: none is known), else the latest one taken during the transaction."""
        rec, tx, sampling = st.rec, st.rec.tx, st.s.sampling
        assert tx is not None
        if tx.charging_since is not None:
            tx.time_charging_s = self.time_charging(tx, st.now)
            tx.charging_since = None
        values = self.store.meter_values(tx.transaction_id) if sampling.sampled_enabled or tx.ended_samples else []
        final = self.end_sample(rec, sample)
        if sampling.sampled_enabled:
            end = meter_value(final, sampling.tx_ended_measurands, TRANSACTION_END,
                              register_values_without_phases=sampling.register_values_without_phases)
            if end:
                values.append(end)
        values.sort(key=lambda value: value["timestamp"])
        state = EV_CONNECTED_STATE if rec.ev_connected else IDLE  # energy stops with the transaction
        self.emit(st, ENDED, trigger, stopped_reason=stopped_reason, meter_values=values, id_token=id_token,
                  state=state)
        self.store.close_history(tx.transaction_id, st.now)
        log.info("EVSE %d: transaction %s ended (%s, %s), meter %s Wh", rec.evse_id, tx.transaction_id, trigger,
                 stopped_reason, energy_wh(final))
        self.store.drop_meter_values(tx.transaction_id)
        rec.tx = None
        if rec.authorized:  # the authorization ends with the transaction (errata 2025-01, C 1.6)
            rec.authorized = False
            rec.connect_deadline = None
            st.out.commands.append(EvseCommand("stop", rec.evse_id, {"reason": stopped_reason or "Local"}))
        self.lift_suspension(st)
        rec.stop_reason = None

    def grant(self, st: Step, id_token: Mapping[str, Any], group_id_token: Mapping[str, Any] | None,
              remote_start_id: int | None, trigger: str) -> None:
        """An authorization starts: evse_io may offer power; report it (or start the transaction)."""
        rec = st.rec
        rec.authorized = True
        rec.id_token = dict(id_token)
        rec.group_id_token = dict(group_id_token) if group_id_token else None
        rec.auth_unreported = True
        rec.auth_remote_start_id = remote_start_id
        rec.charged_since_auth = False
        rec.stop_reason = None
        rec.suspended = False
        rec.energy_limit_wh = None
        timeout = st.s.ev_connection_timeout_s
        rec.connect_deadline = st.now + timeout if not rec.ev_connected and timeout > 0 else None
        st.out.commands.append(EvseCommand("authorize", rec.evse_id,
                                           {"allowed": True, "max_current_a": rec.max_current_a,
                                            "id_token": _plain_token(id_token)}))
        rec.evse_io_auth_session = rec.session_id if rec.ev_connected else None
        self.start_if_due(st, trigger)

    def end_authorization(self, st: Step, reason: str, trigger: str, *,
                          id_token: Mapping[str, Any] | None = None, command: bool = True) -> None:
        """The authorization ends (stop, deauthorization, timeout): power off; end or update the transaction."""
        rec = st.rec
        rec.authorized = False
        rec.stop_reason = reason
        rec.connect_deadline = None
        rec.auth_unreported = False
        if command:
            st.out.commands.append(EvseCommand("stop", rec.evse_id, {"reason": reason}))
        if rec.tx is not None:
            if ends_when_authorization_ends(rec, st.s.stop_points):
                self.end_tx(st, trigger, reason, id_token=id_token)
            else:
                self.emit(st, UPDATED, trigger, id_token=id_token)
        self.lift_suspension(st)

    def suspend(self, st: Step, trigger: str) -> None:
        """Hold the EVSE at 0 A (E05: idToken not accepted, StopTxOnInvalidId false) and report SuspendedEVSE."""
        rec = st.rec
        rec.suspended = True
        rec.energy_limit_wh = None
        st.out.commands.append(EvseCommand("set_current_limit", rec.evse_id, {"amps": 0.0}))
        if rec.tx is not None:
            self.emit(st, UPDATED, trigger)

    def lift_suspension(self, st: Step) -> None:
        if st.rec.suspended:
            st.rec.suspended = False
            st.out.commands.append(EvseCommand("set_current_limit", st.rec.evse_id, {"amps": None}))
        st.rec.energy_limit_wh = None

    def refresh_state(self, st: Step, trigger: str = "ChargingStateChanged") -> None:
        """Report a changed chargingState of the open transaction."""
        tx = st.rec.tx
        if tx is not None and charging_state(st.rec, st.now) != tx.charging_state:
            self.emit(st, UPDATED, trigger)

    def add_ended_sample(self, st: Step, value: dict[str, Any] | None) -> None:
        tx = st.rec.tx
        if tx is not None and value:
            self.store.add_meter_value(tx.transaction_id, tx.ended_samples, value)
            tx.ended_samples += 1

    def periodic_value(self, st: Step) -> dict[str, Any] | None:
        sampling = st.s.sampling
        if not sampling.sampled_enabled:
            return None
        return meter_value(self.sample_for(st.rec), sampling.tx_updated_measurands, SAMPLE_PERIODIC,
                           register_values_without_phases=sampling.register_values_without_phases)


def read_during(sample: Mapping[str, Any], tx: Tx) -> bool:
    """Whether a meter reading may stand for the transaction's end: read at or after its start, and its import
    register not below the Begin value (a reading from before the start, or of a reset or replaced meter, is not
    the end of this transaction)."""
    read_at = sample.get("read_at")
    if isinstance(read_at, bool) or not isinstance(read_at, (int, float)) or read_at < tx.started_at:
        return False
    energy = energy_wh(sample)
    return energy is None or tx.energy_begin_wh is None or energy >= tx.energy_begin_wh


def _plain_token(id_token: Mapping[str, Any]) -> dict[str, Any]:
    """{idToken, type}: what evse_io records as authorized_by."""
    return {"idToken": str(id_token.get("idToken", "")), "type": str(id_token.get("type", ""))}
