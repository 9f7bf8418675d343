"""The OCPP 2.0.1 transaction state machine per EVSE (functional block E, with C and F where they meet it).

Plain code: no bus, no network, no clock of its own. Inputs are evse_io's durable session stream, tokens
and their authorization results, CSMS requests and responses, meter samples and the time; outputs are
TransactionEventRequest payloads (handed to the queue inside the SQLite transaction that stores their seqNo)
and evse_io commands (`TxOutput`). tx_model.py states the start/stop-point rules, tx_core.py the moves,
tx_remote.py the CSMS requests.

Restarts. Every EVSE's record lives in SQLite, so a restart of ocpp_client resumes where it was. When
evse_io restarts alone it reports `evse_io_started`: its sessions are gone and power is off, the transaction
goes on — REON re-authorizes the EVSE from the record (and re-applies a 0 A hold), an EV unplugged meanwhile
is handled as unplugged. When the *station* restarted (the glue passes the OS boot id; a new one means a
reboot), OCPP 2.0.1 has no transaction resumption (TxResumptionTimeout / TxResumed arrive with 2.1), so a
transaction that was open is ended at the first `evse_io_started` of the new boot (or by `end_interrupted`
if evse_io does not report): eventType Ended, triggerReason AbnormalCondition, stoppedReason `lost_reason`
(PowerLoss after an unexpected power-up, Reboot after a watchdog or software restart — the glue decides
from its boot reason), no idToken, the last meter sample persisted before the loss as Transaction.End
(samples are persisted at most every `sample_persist_s` while a transaction is open) and as timestamp the
last moment the transaction is known to have been alive.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from services.ocpp_client.meter_values.sampling import energy_wh, parse_utc
from services.ocpp_client.store import atomic
from services.ocpp_client.transactions.core import Enqueue, Step
from services.ocpp_client.transactions.events import UPDATED, EvseCommand, TxOutput, with_offline
from services.ocpp_client.transactions.model import (
    PARKING,
    EvseRecord,
    TxSettings,
    ends_when_power_off,
    ends_when_unplugged,
    should_start,
)
from services.ocpp_client.transactions.remote import RemoteStartResult
from services.ocpp_client.transactions.tokens import TokenInputs, TokenStep

__all__ = ["EvseCommand", "RemoteStartResult", "TokenStep", "TransactionManager", "TxOutput", "TxSettings",
           "with_offline"]

log = logging.getLogger(__name__)

_KEEP_ON_RESET = ("evse_id", "connector_id", "last_fact_at", "cable_max_current_a")


class TransactionManager(TokenInputs):
    """Transactions of every EVSE of the station. Public inputs return a `TxOutput`."""

    def __init__(self, conn: sqlite3.Connection, evses: Mapping[int, int], settings: Callable[[], TxSettings],
                 enqueue: Enqueue, *, boot_id: str | None = None, lost_reason: str = "PowerLoss",
                 new_transaction_id: Callable[[], str] | None = None, sample_persist_s: float = 15.0,
                 max_sample_age_s: float = 60.0) -> None:
        super().__init__(conn, evses, settings, enqueue, new_transaction_id=new_transaction_id,
                         sample_persist_s=sample_persist_s, max_sample_age_s=max_sample_age_s)
        self.lost_reason = lost_reason
        if boot_id:
            self._note_boot(boot_id)

    def _note_boot(self, boot_id: str) -> None:
        with atomic(self.conn):
            if self.store.meta("boot_id") == boot_id:
                return
            for evse_id in self.evses:
                rec = self.store.load(evse_id)
                if rec is not None and (rec.tx or rec.authorized or rec.ev_connected or rec.power_on):
                    rec.awaiting_evse_io_start = True
                    self.store.save(rec)
            self.store.set_meta("boot_id", boot_id)

    # ----- evse_io session stream ------------------------------------------------------------------------

    def on_session_entry(self, entry: Mapping[str, Any], now: float) -> TxOutput:
        """One entry of evse_io's `session` stream (the stream ENTRY or its data), in stream order."""
        data = entry.get("data") if isinstance(entry.get("data"), Mapping) else entry
        name, evse_id = data.get("name"), data.get("evse_id")
        handler = self._HANDLERS.get(name) if isinstance(name, str) else None
        if handler is None or evse_id not in self.evses:
            log.warning("session entry %r for EVSE %r ignored (unknown name or EVSE)", name, evse_id)
            return TxOutput()
        at = now
        if isinstance(data.get("at"), str):
            try:
                at = parse_utc(data["at"])
            except ValueError:
                log.warning("session entry %s: bad time %r, using now", name, data["at"])
        with self.step(evse_id, at) as st:
            if name == "evse_io_started" or not st.rec.ignore_until_evse_io_start:
                handler(self, st, data)
        return st.out

    def _on_plugged_in(self, st: Step, data: Mapping[str, Any]) -> None:
        rec = st.rec
        rec.session_id = data.get("session_id") or rec.session_id
        was_connected = rec.ev_connected
        rec.ev_connected = True
        rec.connect_deadline = None
        self._reauthorize(st)
        if not was_connected:
            rec.hint = rec.hint_since = None
            rec.charged_since_auth = False  # a new connection is EVConnected until the EV draws (TC_E_26)
            self.start_if_due(st, "CablePluggedIn")

    def _on_authorized(self, st: Step, data: Mapping[str, Any]) -> None:
        st.rec.session_id = data.get("session_id") or st.rec.session_id
        st.rec.evse_io_auth_session = data.get("session_id")

    def _on_power_on(self, st: Step, data: Mapping[str, Any]) -> None:
        rec = st.rec
        if rec.power_on:
            return
        rec.power_on = rec.charged_since_auth = True
        if rec.tx is not None:
            rec.tx.charging_since = st.now
            self.refresh_state(st)
        elif should_start(rec, st.s.start_points):
            self.start_tx(st, "ChargingStateChanged")

    def _on_power_off(self, st: Step, data: Mapping[str, Any]) -> None:
        rec = st.rec
        if not rec.power_on:
            return
        self._relays_opened(st)
        if rec.tx is not None:
            if ends_when_power_off(rec, st.s.stop_points):
                self.end_tx(st, "ChargingStateChanged", rec.stop_reason or "Local")
            else:
                self.refresh_state(st)

    def _relays_opened(self, st: Step) -> None:
        st.rec.power_on = False
        tx = st.rec.tx
        if tx is not None and tx.charging_since is not None:
            tx.time_charging_s = self.time_charging(tx, st.now)
            tx.charging_since = None

    def _on_unplugged(self, st: Step, data: Mapping[str, Any]) -> None:
        rec, s = st.rec, st.s
        if not rec.ev_connected:
            return
        if rec.power_on:
            self._relays_opened(st)
        rec.ev_connected = False
        rec.hint = rec.hint_since = None
        rec.session_id = rec.evse_io_auth_session = None  # evse_io ends its session at unplug
        if rec.authorized:
            if s.stop_tx_on_ev_side_disconnect:  # E09: deauthorize
                rec.authorized = rec.auth_unreported = False
                rec.stop_reason = "EVDisconnected"
                rec.connect_deadline = None
                self.lift_suspension(st)
            elif s.ev_connection_timeout_s > 0:  # E10: suspend; the EV may come back in time
                rec.connect_deadline = st.now + s.ev_connection_timeout_s
        if rec.tx is not None:
            if ends_when_unplugged(rec, s.stop_points):
                self.end_tx(st, "EVCommunicationLost", rec.stop_reason or "EVDisconnected")
            else:
                self.emit(st, UPDATED, "EVCommunicationLost")

    def _on_session_ended(self, st: Step, data: Mapping[str, Any]) -> None:
        session_id = data.get("session_id")
        if session_id and session_id == st.rec.evse_io_auth_session:
            st.rec.evse_io_auth_session = None
        if session_id and session_id == st.rec.session_id and not st.rec.ev_connected:
            st.rec.session_id = None

    def _on_evse_io_started(self, st: Step, data: Mapping[str, Any]) -> None:
        rec = st.rec
        plugged = bool(data.get("ev_plugged"))
        if rec.awaiting_evse_io_start or rec.ignore_until_evse_io_start:
            if rec.awaiting_evse_io_start:
                self._end_lost(st, plugged)
            self._reset(rec)  # the plugged_in that follows opens the next session
            return
        if rec.power_on:
            self._on_power_off(st, data)
        if rec.ev_connected and not plugged:
            self._on_unplugged(st, data)
        rec.session_id = data.get("session_id")
        rec.evse_io_auth_session = None
        self._reauthorize(st)
        if rec.suspended:
            st.out.commands.append(EvseCommand("set_current_limit", rec.evse_id, {"amps": 0.0}))

    def _reauthorize(self, st: Step) -> None:
        """Authorize evse_io's current session when OCPP's authorization outlived the one evse_io knew."""
        rec = st.rec
        if rec.authorized and rec.id_token and (rec.session_id is None or rec.evse_io_auth_session != rec.session_id):
            st.out.commands.append(EvseCommand("authorize", rec.evse_id, {
                "allowed": True, "max_current_a": rec.max_current_a,
                "id_token": {"idToken": rec.id_token.get("idToken", ""), "type": rec.id_token.get("type", "")}}))
            rec.evse_io_auth_session = rec.session_id

    _HANDLERS: dict[str, Callable[[TransactionManager, Step, Mapping[str, Any]], None]] = {
        "plugged_in": _on_plugged_in,
        "authorized": _on_authorized,
        "power_on": _on_power_on,
        "power_off": _on_power_off,
        "unplugged": _on_unplugged,
        "session_ended": _on_session_ended,
        "evse_io_started": _on_evse_io_started,
    }

    # ----- restart of the station ------------------------------------------------------------------------

    def end_interrupted(self, now: float) -> TxOutput:
        """End now what was open when the station went down (for when evse_io has not reported yet)."""
        out = TxOutput()
        for evse_id in sorted(self.evses):
            if not self.record(evse_id).awaiting_evse_io_start:
                continue
            with self.step(evse_id, now, out) as st:
                self._end_lost(st, st.rec.ev_connected)
                self._reset(st.rec)
                st.rec.ignore_until_evse_io_start = True
        return out

    def _end_lost(self, st: Step, ev_plugged: bool) -> None:
        rec, tx = st.rec, st.rec.tx
        if tx is None:
            return
        sample = rec.last_sample or self.samples.get(rec.evse_id)
        read_at = sample.get("read_at") if sample else None
        st.now = max(rec.last_fact_at, tx.started_at, read_at if isinstance(read_at, (int, float)) else 0.0)
        self._relays_opened(st)
        rec.ev_connected = ev_plugged
        rec.authorized = False  # evse_io has no session to stop
        self.end_tx(st, "AbnormalCondition", self.lost_reason, sample=sample)

    @staticmethod
    def _reset(rec: EvseRecord) -> None:
        fresh = EvseRecord(rec.evse_id, rec.connector_id)
        for item in fields(EvseRecord):
            if item.name not in _KEEP_ON_RESET:
                setattr(rec, item.name, getattr(fresh, item.name))

    # ----- other inputs ----------------------------------------------------------------------------------

    def on_meter_sample(self, evse_id: int, sample: Mapping[str, Any], now: float) -> TxOutput:
        """A meter sample of the EVSE (meter.state / meter.evt.sample): cached, persisted now and then while a
        transaction is open, and checked against a MaxEnergyOnInvalidId limit."""
        out = TxOutput()
        if evse_id not in self.evses or not isinstance(sample, Mapping):
            return out
        self.samples[evse_id] = dict(sample)
        rec = self.record(evse_id)
        energy = energy_wh(sample)
        limit_hit = rec.authorized and rec.energy_limit_wh is not None and energy is not None \
            and energy >= rec.energy_limit_wh
        persist = rec.tx is not None and (rec.last_sample_saved_at is None
                                          or now - rec.last_sample_saved_at >= self.sample_persist_s)
        if limit_hit or persist:
            with self.step(evse_id, now, out) as st:
                if persist:
                    st.rec.last_sample, st.rec.last_sample_saved_at = dict(sample), now
                if limit_hit:
                    self.suspend(st, "EnergyLimitReached")
        return out

    def on_evse_state(self, evse_id: int, state: Mapping[str, Any], now: float) -> TxOutput:
        """evse_io's `evse.<n>` state: its charging_state (a pause hint) and the cable's PP ampacity."""
        out = TxOutput()
        if evse_id not in self.evses:
            return out
        hint = state.get("charging_state")
        cable = state.get("pp_ampacity_a")
        cable = float(cable) if isinstance(cable, (int, float)) and not isinstance(cable, bool) else None
        rec = self.record(evse_id)
        if hint == rec.hint and cable == rec.cable_max_current_a:
            return out
        with self.step(evse_id, now, out) as st:
            if hint != st.rec.hint:
                st.rec.hint, st.rec.hint_since = hint, now
            st.rec.cable_max_current_a = cable
        return out

    def reconcile_evse_io(self, evse_id: int, state: Mapping[str, Any]) -> TxOutput:
        """Commands that bring evse_io in line with the record, from its `evse.<n>` state — for the first
        state after ocpp_client starts, in case a command was lost between a commit and the call."""
        out = TxOutput()
        if evse_id not in self.evses:
            return out
        rec = self.record(evse_id)
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
        if evse_id not in self.evses:
            return out
        with self.step(evse_id, now, out) as st:
            rec = st.rec
            if occupied and not rec.bay_occupied:
                rec.bay_occupied = True
                self.start_if_due(st, "EVDetected")
            elif not occupied and rec.bay_occupied:
                rec.bay_occupied = False
                if rec.tx is not None and PARKING in st.s.stop_points:
                    self.end_tx(st, "EVDeparted", rec.stop_reason or "Local")
                elif rec.tx is not None:
                    self.emit(st, UPDATED, "EVDeparted")
        return out

