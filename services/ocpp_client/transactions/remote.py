"""CSMS requests on transactions: RequestStartTransaction (F01/F02), RequestStopTransaction (F03),
GetTransactionStatus (E14), TriggerMessage(TransactionEvent) (F06) and stopping for a reset (B12).

RequestStartTransaction: a chargingProfile goes to `charging_profile(evse_id, profile)` (smart charging,
K05/F01.FR.08–12: None = go ahead, else the statusInfo of a Rejected), checked last, after the EVSE is chosen;
without that callback it is refused. An unknown EVSE, or one already authorized or waiting for a remote start,
is refused. Without evseId REON picks the EVSE
with an EV plugged in and no authorization, else an idle one. With AuthCtrlr.AuthorizeRemoteStart (and an
idToken other than NoAuthorization) the token must first be authorized like a presented card: the result
says so and the glue calls `on_authorization` when it knows; otherwise the authorization is in force at
once. The first TransactionEvent after it has triggerReason RemoteStart and the remoteStartId (TC_E_13);
EVConnectionTimeOut runs until the EV is plugged in (TC_F_04). When a transaction is already open on the
EVSE (TxStartPoint EVConnected), the response names it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.ocpp_client.meter_values.sampling import TRIGGER, meter_value
from services.ocpp_client.transactions.core import TxCore
from services.ocpp_client.transactions.events import UPDATED, EvseCommand, TxOutput
from services.ocpp_client.transactions.model import ends_when_authorization_ends

NO_AUTHORIZATION = "NoAuthorization"
#: smart charging's check of a RequestStartTransaction chargingProfile: None = go ahead, else a statusInfo.
ProfileCheck = Callable[[int, dict[str, Any]], dict[str, Any] | None]


@dataclass
class RemoteStartResult:
    """The RequestStartTransactionResponse, what it caused, and a token the glue must authorize first."""

    response: dict[str, Any]
    output: TxOutput = field(default_factory=TxOutput)
    authorize: tuple[int, dict[str, Any]] | None = None  # (evse, idToken): call on_authorization after


def _rejected(reason_code: str, detail: str | None = None) -> RemoteStartResult:
    info: dict[str, Any] = {"reasonCode": reason_code}
    if detail:
        info["additionalInfo"] = detail
    return RemoteStartResult({"status": "Rejected", "statusInfo": info})


class RemoteRequests:
    """The CSMS-initiated operations on transactions, as moves of the core."""

    def __init__(self, core: TxCore) -> None:
        self.core = core

    def request_start(self, request: Mapping[str, Any], now: float, *,
                      evse_available: Callable[[int], bool] | None = None,
                      charging_profile: ProfileCheck | None = None) -> RemoteStartResult:
        """Handle a (schema-valid) RequestStartTransactionRequest."""
        profile = request.get("chargingProfile")
        if profile is not None and charging_profile is None:
            return _rejected("UnsupportedParam", "chargingProfile: smart charging is not supported")
        id_token, group = dict(request["idToken"]), request.get("groupIdToken")
        reservations = self.core.reservations

        def available(evse_id: int) -> bool:  # and not reserved for another idToken (H03, TC_H_02)
            return (evse_available is None or evse_available(evse_id)) and reservations.may_start(
                evse_id, id_token, group)

        evse_id = request.get("evseId")
        if evse_id is None:
            evse_id = self._pick_evse(available)
            if evse_id is None:
                return _rejected("TxInProgress", "no EVSE is free")
        if evse_id not in self.core.evses:
            return _rejected("UnknownEvse")
        if not available(evse_id):
            return _rejected("InvalidValue", f"EVSE {evse_id} is not available (or reserved for another)")
        remote_start_id = request.get("remoteStartId")
        before = self.core.record(evse_id)
        if before.authorized or before.pending_remote is not None:
            return _rejected("TxInProgress")
        if profile is not None and charging_profile is not None:
            refused = charging_profile(evse_id, dict(profile))
            if refused is not None:
                return RemoteStartResult({"status": "Rejected", "statusInfo": refused})
        result = RemoteStartResult({"status": "Accepted"})
        with self.core.step(evse_id, now, result.output) as st:
            rec = st.rec
            if rec.authorized or rec.pending_remote is not None:
                return _rejected("TxInProgress")
            if rec.tx is not None:
                result.response["transactionId"] = rec.tx.transaction_id
            if st.s.authorize_remote_start and id_token.get("type") != NO_AUTHORIZATION:
                rec.pending_remote = {"remote_start_id": remote_start_id, "id_token": id_token,
                                      "group_id_token": dict(group) if group else None}
                result.authorize = (evse_id, id_token)
            else:
                self.core.grant(st, id_token, group, remote_start_id, "RemoteStart")
        return result

    def _pick_evse(self, available: Callable[[int], bool]) -> int | None:
        records = [self.core.record(evse_id) for evse_id in sorted(self.core.evses) if available(evse_id)]
        free = [rec for rec in records if not rec.authorized and rec.pending_remote is None]
        plugged = [rec for rec in free if rec.ev_connected]
        idle = [rec for rec in free if not rec.ev_connected and rec.tx is None]
        for candidates in (plugged, idle):
            if candidates:
                return candidates[0].evse_id
        return None

    def request_stop(self, request: Mapping[str, Any], now: float) -> tuple[dict[str, Any], TxOutput]:
        """Handle a RequestStopTransactionRequest: Accepted for an open transaction (F03), else Rejected."""
        out = TxOutput()
        evse_id = self.core.evse_of(str(request.get("transactionId", "")))
        if evse_id is None:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownTxId"}}, out
        with self.core.step(evse_id, now, out) as st:
            if st.rec.authorized:
                self.core.end_authorization(st, "Remote", "RemoteStop")
            else:
                st.rec.stop_reason = "Remote"
                st.out.commands.append(EvseCommand("stop", evse_id, {"reason": "Remote"}))
                if ends_when_authorization_ends(st.rec, st.s.stop_points):
                    self.core.end_tx(st, "RemoteStop", "Remote")
                else:
                    self.core.emit(st, UPDATED, "RemoteStop")
        return {"status": "Accepted"}, out

    def get_transaction_status(self, transaction_id: str | None, messages_in_queue: bool) -> dict[str, Any]:
        """GetTransactionStatusResponse; `messages_in_queue`: the queue holds messages of that transaction
        (of any, without transactionId). An unknown id is not ongoing and has nothing queued (E14.FR.01)."""
        if transaction_id is None:
            return {"messagesInQueue": bool(messages_in_queue)}
        known = self.core.store.history(transaction_id)
        if known is None:
            return {"ongoingIndicator": False, "messagesInQueue": False}
        return {"ongoingIndicator": known[2] is None, "messagesInQueue": bool(messages_in_queue)}

    def trigger_transaction_event(self, evse_id: int | None, now: float) -> TxOutput:
        """TriggerMessage(TransactionEvent): Updated, triggerReason Trigger, a Trigger meter value (TC_F_13/14)
        for the EVSE's open transaction (every EVSE's without evse_id). Nothing when there is none."""
        out = TxOutput()
        for target in self.core.targets(evse_id):
            with self.core.step(target, now, out) as st:
                sampling = st.s.sampling
                value = meter_value(self.core.sample_for(st.rec), sampling.tx_updated_measurands, TRIGGER,
                                    register_values_without_phases=sampling.register_values_without_phases)
                self.core.emit(st, UPDATED, "Trigger", meter_values=[value] if value else None)
        return out

    def stop_transactions(self, evse_id: int | None, now: float, *, stopped_reason: str = "ImmediateReset",
                          trigger: str = "ResetCommand") -> TxOutput:
        """End the open transaction of the EVSE (every EVSE's without evse_id) at once, without idToken:
        Reset Immediate (B12.FR.02, TC_B_22: ResetCommand / ImmediateReset), emergency stop, …"""
        out = TxOutput()
        for target in self.core.targets(evse_id):
            with self.core.step(target, now, out) as st:
                st.rec.authorized = False
                st.rec.connect_deadline = None
                st.out.commands.append(EvseCommand("stop", target, {"reason": stopped_reason}))
                self.core.end_tx(st, trigger, stopped_reason)
        return out
