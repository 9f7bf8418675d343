"""The OCPP 2.0.1 transaction state machine per EVSE (functional block E, with C and F where they meet it).

Plain code: no bus, no network, no clock of its own. Inputs are evse_io's durable session stream, tokens
and their authorization results, CSMS requests and responses, meter samples and the time; outputs are
TransactionEventRequest payloads (handed to the queue inside the SQLite transaction that stores their seqNo)
and evse_io commands (`TxOutput`). model.py states the start/stop-point rules, core.py the moves, sessions.py,
tokens.py, remote.py and timers.py the inputs (composed here).

Restarts. Every EVSE's record lives in SQLite, so a restart of ocpp_client resumes where it was. When
evse_io restarts alone it reports `evse_io_started`: its sessions are gone and power is off, the transaction
goes on — REON re-authorizes the EVSE from the record (and re-applies a 0 A hold), an EV unplugged meanwhile
is handled as unplugged. When the *station* restarted (the glue passes the OS boot id; a new one means a
reboot), OCPP 2.0.1 has no transaction resumption (TxResumptionTimeout / TxResumed arrive with 2.1), so a
transaction that was open is ended at the first `evse_io_started` of the new boot (or by `end_interrupted`
if evse_io does not report): eventType Ended, triggerReason AbnormalCondition, stoppedReason `lost_reason`
(PowerLoss after an unexpected power-up, Reboot after a watchdog or software restart — the glue decides
from its boot reason), no idToken, the last meter sample persisted before the loss as Transaction.End
(samples are persisted at most every `sample_persist_s` while a transaction is open, and the first one read
during it at once) and as timestamp the last moment the transaction is known to have been alive.
A Transaction.End value is always a reading taken during the transaction (core.py `read_during`: not before
its start, not below its Begin register); without one, Ended carries none.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from services.ocpp_client.meter_values.sampling import energy_wh
from services.ocpp_client.transactions.core import Enqueue, TxCore, read_during
from services.ocpp_client.transactions.events import UPDATED, EvseCommand, TxOutput, with_offline
from services.ocpp_client.transactions.model import PARKING, TxSettings
from services.ocpp_client.transactions.remote import RemoteRequests, RemoteStartResult
from services.ocpp_client.transactions.sessions import SessionInputs
from services.ocpp_client.transactions.timers import TxTimers
from services.ocpp_client.transactions.tokens import TokenInputs, TokenStep

__all__ = ["EvseCommand", "RemoteStartResult", "TokenStep", "TransactionManager", "TxOutput", "TxSettings",
           "with_offline"]


class TransactionManager:
    """Transactions of every EVSE of the station. Public inputs return a `TxOutput`.

    One `TxCore` (records, moves) shared by the input handlers it is composed of: `sessions` (evse_io's
    stream, restarts), `tokens` (authorization verdicts), `remote` (CSMS requests) and `timers` (time)."""

    def __init__(self, conn: sqlite3.Connection, evses: Mapping[int, int], settings: Callable[[], TxSettings],
                 enqueue: Enqueue, *, boot_id: str | None = None, lost_reason: str = "PowerLoss",
                 new_transaction_id: Callable[[], str] | None = None, sample_persist_s: float = 15.0,
                 max_sample_age_s: float = 60.0) -> None:
        self.core = TxCore(conn, evses, settings, enqueue, new_transaction_id=new_transaction_id,
                           sample_persist_s=sample_persist_s, max_sample_age_s=max_sample_age_s)
        self.sessions = SessionInputs(self.core, boot_id=boot_id, lost_reason=lost_reason)
        self.tokens = TokenInputs(self.core)
        self.remote = RemoteRequests(self.core)
        self.timers = TxTimers(self.core)
        core, sessions, tokens, remote, timers = self.core, self.sessions, self.tokens, self.remote, self.timers
        # the public inputs and reads, by name (see each handler for what it does)
        self.evses = core.evses
        self.samples = core.samples
        self.record, self.sample_for = core.record, core.sample_for
        self.evse_of, self.open_transactions = core.evse_of, core.open_transactions
        self.on_session_entry, self.end_interrupted = sessions.on_session_entry, sessions.end_interrupted
        self.present_token, self.on_authorization = tokens.present_token, tokens.on_authorization
        self.on_authorize_refused, self.on_id_token_info = tokens.on_authorize_refused, tokens.on_id_token_info
        self.request_start, self.request_stop = remote.request_start, remote.request_stop
        self.get_transaction_status = remote.get_transaction_status
        self.trigger_transaction_event, self.stop_transactions = remote.trigger_transaction_event, \
            remote.stop_transactions
        self.tick, self.next_deadline = timers.tick, timers.next_deadline

    @property
    def enqueue(self) -> Enqueue:
        """Where TransactionEvents go (inside the unit of work's SQLite transaction)."""
        return self.core.enqueue

    @enqueue.setter
    def enqueue(self, enqueue: Enqueue) -> None:
        self.core.enqueue = enqueue

    # ----- other inputs ----------------------------------------------------------------------------------

    def on_meter_sample(self, evse_id: int, sample: Mapping[str, Any], now: float) -> TxOutput:
        """A meter sample of the EVSE (meter.state / meter.evt.sample): cached, persisted now and then while a
        transaction is open, and checked against a MaxEnergyOnInvalidId limit."""
        out = TxOutput()
        if evse_id not in self.core.evses or not isinstance(sample, Mapping):
            return out
        self.core.samples[evse_id] = dict(sample)
        rec = self.core.record(evse_id)
        energy = energy_wh(sample)
        limit_hit = rec.authorized and rec.energy_limit_wh is not None and energy is not None \
            and energy >= rec.energy_limit_wh
        # the first reading taken during the transaction is persisted at once: until then the persisted one is
        # the Begin reading, which may never stand for the end after a restart (read_during)
        first_during = rec.tx is not None and read_during(sample, rec.tx) \
            and not (rec.last_sample and read_during(rec.last_sample, rec.tx))
        persist = rec.tx is not None and (rec.last_sample_saved_at is None or first_during
                                          or now - rec.last_sample_saved_at >= self.core.sample_persist_s)
        if limit_hit or persist:
            with self.core.step(evse_id, now, out) as st:
                if persist:
                    st.rec.last_sample, st.rec.last_sample_saved_at = dict(sample), now
                if limit_hit:
                    self.core.suspend(st, "EnergyLimitReached")
        return out

    def on_evse_state(self, evse_id: int, state: Mapping[str, Any], now: float) -> TxOutput:
        """evse_io's `evse.<n>` state: its charging_state (a pause hint) and the cable's PP ampacity."""
        out = TxOutput()
        if evse_id not in self.core.evses:
            return out
        hint = state.get("charging_state")
        cable = state.get("pp_ampacity_a")
        cable = float(cable) if isinstance(cable, (int, float)) and not isinstance(cable, bool) else None
        rec = self.core.record(evse_id)
        if hint == rec.hint and cable == rec.cable_max_current_a:
            return out
        with self.core.step(evse_id, now, out) as st:
            if hint != st.rec.hint:
                st.rec.hint, st.rec.hint_since = hint, now
            st.rec.cable_max_current_a = cable
        return out

    def reconcile_evse_io(self, evse_id: int, state: Mapping[str, Any]) -> TxOutput:
        """Commands that bring evse_io in line with the record, from its `evse.<n>` state — for the first
        state after ocpp_client starts, in case a command was lost between a commit and the call."""
        out = TxOutput()
        if evse_id not in self.core.evses:
            return out
        rec = self.core.record(evse_id)
        session = state.get("session") if isinstance(state.get("session"), Mapping) else None
        evse_io_authorized = bool(session and session.get("authorized"))
        if rec.authorized and not evse_io_authorized and rec.id_token:
            out.commands.append(EvseCommand("authorize", evse_id, {
                "allowed": True, "max_current_a": rec.max_current_a,
                "id_token": {"idToken": rec.id_token.get("idToken", ""), "type": rec.id_token.get("type", "")}}))
        elif not rec.authorized and evse_io_authorized:
            out.commands.append(EvseCommand("stop", evse_id, {"reason": rec.stop_reason or "Other"}))
        limit = state.get("current_limit_a")
        if rec.suspended and rec.authorized and limit != 0:
            out.commands.append(EvseCommand("set_current_limit", evse_id, {"amps": 0.0}))
        elif not rec.suspended and limit == 0:
            out.commands.append(EvseCommand("set_current_limit", evse_id, {"amps": None}))
        return out

    def on_parking_bay(self, evse_id: int, occupied: bool, now: float) -> TxOutput:
        """A parking bay sensor (REON has none; for TxStartPoint/TxStopPoint ParkingBayOccupancy)."""
        out = TxOutput()
        if evse_id not in self.core.evses:
            return out
        with self.core.step(evse_id, now, out) as st:
            rec = st.rec
            if occupied and not rec.bay_occupied:
                rec.bay_occupied = True
                self.core.start_if_due(st, "EVDetected")
            elif not occupied and rec.bay_occupied:
                rec.bay_occupied = False
                if rec.tx is not None and PARKING in st.s.stop_points:
                    self.core.end_tx(st, "EVDeparted", rec.stop_reason or "Local")
                elif rec.tx is not None:
                    self.core.emit(st, UPDATED, "EVDeparted")
        return out

