"""evse_io's durable session stream into the transaction state machine, and the end of what a restart of the
station cut (the restart rules: manager.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from bus.durable import declared_stream
from services.ocpp_client.meter_values.sampling import parse_utc
from services.ocpp_client.store import atomic
from services.ocpp_client.transactions.core import Step, TxCore
from services.ocpp_client.transactions.events import UPDATED, EvseCommand, TxOutput
from services.ocpp_client.transactions.model import (
    EvseRecord,
    ends_when_power_off,
    ends_when_unplugged,
    should_start,
)

log = logging.getLogger("reon.ocpp.transactions")

_KEEP_ON_RESET = ("evse_id", "connector_id", "last_fact_at", "cable_max_current_a")

# The kinds of entry of evse_io's `session` stream, as evse_io's contract declares them (no import of evse_io).
SessionKind = declared_stream("evse_io", "session").enum()


def lost_reason(start_reason: str) -> str:
    """stoppedReason of a transaction cut by a restart of the station: PowerLoss after a power-up, else Reboot."""
    return "PowerLoss" if start_reason == "PowerUp" else "Reboot"


class SessionInputs:
    """on_session_entry / end_interrupted, as moves of the core."""

    def __init__(self, core: TxCore, *, boot_id: str | None, lost_reason: str) -> None:
        self.core = core
        self.lost_reason = lost_reason
        if boot_id:
            self._note_boot(boot_id)

    def _note_boot(self, boot_id: str) -> None:
        with atomic(self.core.conn):
            if self.core.store.meta("boot_id") == boot_id:
                return
            for evse_id in self.core.evses:
                rec = self.core.store.load(evse_id)
                if rec is not None and (rec.tx or rec.authorized or rec.ev_connected or rec.power_on):
                    rec.awaiting_evse_io_start = True
                    self.core.store.save(rec)
            self.core.store.set_meta("boot_id", boot_id)

    # ----- evse_io session stream ------------------------------------------------------------------------

    def on_session_entry(self, entry: Mapping[str, Any], now: float) -> TxOutput:
        """One entry of evse_io's `session` stream (the stream ENTRY or its data), in stream order."""
        data = entry.get("data") if isinstance(entry.get("data"), Mapping) else entry
        name, evse_id = data.get("name"), data.get("evse_id")
        handler = self._HANDLERS.get(name) if isinstance(name, str) else None
        if handler is None or evse_id not in self.core.evses:
            log.warning("session entry %r for EVSE %r ignored (unknown name or EVSE)", name, evse_id)
            return TxOutput()
        at = now
        if isinstance(data.get("at"), str):
            try:
                at = parse_utc(data["at"])
            except ValueError:
                log.warning("session entry %s: bad time %r, using now", name, data["at"])
        with self.core.step(evse_id, at) as st:
            if name == SessionKind.EVSE_IO_STARTED or not st.rec.ignore_until_evse_io_start:
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
            self.core.start_if_due(st, "CablePluggedIn")

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
            self.core.refresh_state(st)
        elif should_start(rec, st.s.start_points):
            self.core.start_tx(st, "ChargingStateChanged")

    def _on_power_off(self, st: Step, data: Mapping[str, Any]) -> None:
        rec = st.rec
        if not rec.power_on:
            return
        self._relays_opened(st)
        if rec.tx is not None:
            if ends_when_power_off(rec, st.s.stop_points):
                self.core.end_tx(st, "ChargingStateChanged", rec.stop_reason or "Local")
            else:
                self.core.refresh_state(st)

    def _relays_opened(self, st: Step) -> None:
        st.rec.power_on = False
        tx = st.rec.tx
        if tx is not None and tx.charging_since is not None:
            tx.time_charging_s = self.core.time_charging(tx, st.now)
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
                self.core.lift_suspension(st)
            elif s.ev_connection_timeout_s > 0:  # E10: suspend; the EV may come back in time
                rec.connect_deadline = st.now + s.ev_connection_timeout_s
        if rec.tx is not None:
            if ends_when_unplugged(rec, s.stop_points):
                self.core.end_tx(st, "EVCommunicationLost", rec.stop_reason or "EVDisconnected")
            else:
                self.core.emit(st, UPDATED, "EVCommunicationLost")

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

    # One move per declared kind; the session consumer (service.py) is built over these keys, so a kind evse_io
    # declares and this map misses (or the reverse) stops the service at start.
    _HANDLERS: dict[str, Callable[[SessionInputs, Step, Mapping[str, Any]], None]] = {
        SessionKind.PLUGGED_IN: _on_plugged_in,
        SessionKind.AUTHORIZED: _on_authorized,
        SessionKind.POWER_ON: _on_power_on,
        SessionKind.POWER_OFF: _on_power_off,
        SessionKind.UNPLUGGED: _on_unplugged,
        SessionKind.SESSION_ENDED: _on_session_ended,
        SessionKind.EVSE_IO_STARTED: _on_evse_io_started,
    }
    KINDS = frozenset(_HANDLERS)

    # ----- restart of the station ------------------------------------------------------------------------

    def end_interrupted(self, now: float) -> TxOutput:
        """End now what was open when the station went down (for when evse_io has not reported yet)."""
        out = TxOutput()
        for evse_id in sorted(self.core.evses):
            if not self.core.record(evse_id).awaiting_evse_io_start:
                continue
            with self.core.step(evse_id, now, out) as st:
                self._end_lost(st, st.rec.ev_connected)
                self._reset(st.rec)
                st.rec.ignore_until_evse_io_start = True
        return out

    def _end_lost(self, st: Step, ev_plugged: bool) -> None:
        rec, tx = st.rec, st.rec.tx
        if tx is None:
            return
        # the last reading persisted before the loss ({}: none), if taken during the transaction (core.read_during)
        sample = self.core.end_sample(rec, rec.last_sample or self.core.samples.get(rec.evse_id) or {}) or {}
        read_at = sample.get("read_at")
        st.now = max(rec.last_fact_at, tx.started_at, read_at if isinstance(read_at, (int, float)) else 0.0)
        self._relays_opened(st)
        rec.ev_connected = ev_plugged
        rec.authorized = False  # evse_io has no session to stop
        self.core.end_tx(st, "AbnormalCondition", self.lost_reason, sample=sample)

    @staticmethod
    def _reset(rec: EvseRecord) -> None:
        fresh = EvseRecord(rec.evse_id, rec.connector_id)
        for item in fields(EvseRecord):
            if item.name not in _KEEP_ON_RESET:
                setattr(rec, item.name, getattr(fresh, item.name))
