"""Tokens and authorization verdicts in the transaction state machine (C01, C09, C12, C15, C16, E05, E07).

The glue's order for a token presented at an EVSE: `present_token` first (the token of the authorization in
force stops it, no AuthorizeRequest); otherwise authorization.py decides (maybe asking the CSMS) and the
verdict goes to `on_authorization`. The idTokenInfo in a TransactionEventResponse goes to
`on_id_token_info` (and to the Authorizer's cache).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.ocpp_client.authorization.decisions import accepted_for_evse, group_of, is_master_pass
from services.ocpp_client.authorization.store import same_token
from services.ocpp_client.meter_values.sampling import energy_wh
from services.ocpp_client.transactions.core import TxCore
from services.ocpp_client.transactions.events import TxOutput


@dataclass
class TokenStep:
    """Result of `present_token`: handled (the same token stopped the authorization) or authorize it first."""

    handled: bool
    output: TxOutput


class TokenInputs:
    """present_token / on_authorization / on_id_token_info / on_authorize_refused, as moves of the core."""

    def __init__(self, core: TxCore) -> None:
        self.core = core

    def present_token(self, evse_id: int, id_token: Mapping[str, Any], now: float) -> TokenStep:
        """A token presented at the EVSE. The token of the authorization in force stops it at once (E07,
        no AuthorizeRequest); any other must be authorized first, then passed to `on_authorization`."""
        out = TxOutput()
        if evse_id in self.core.evses:
            with self.core.step(evse_id, now, out) as st:
                if st.rec.authorized and same_token(st.rec.id_token, id_token):
                    self.core.end_authorization(st, "Local", "StopAuthorized", id_token=id_token)
                    return TokenStep(True, out)
        return TokenStep(False, out)

    def on_authorization(self, evse_id: int, id_token: Mapping[str, Any], accepted: bool,
                         id_token_info: Mapping[str, Any] | None, now: float) -> TxOutput:
        """The verdict on a token presented at the EVSE (or for a pending remote start).

        accepted: the local decision or `accepted_for_evse(CSMS idTokenInfo, evse)`. On an EVSE with an
        authorization in force, an accepted token of the same group stops it (C09, StopAuthorized), others
        change nothing (TC_C_04, TC_C_42). A Master Pass stops every transaction (C16) and starts none.
        """
        out = TxOutput()
        if accepted and is_master_pass(id_token_info, self.core.settings().master_pass_group_id):
            return self._master_pass(id_token, now, out)
        if evse_id not in self.core.evses:
            return out
        with self.core.step(evse_id, now, out) as st:
            rec = st.rec
            pending = rec.pending_remote
            if pending is not None and same_token(pending.get("id_token"), id_token):
                rec.pending_remote = None
            else:
                pending = None
            if rec.authorized:
                group = group_of(id_token_info)
                if accepted and (same_token(rec.id_token, id_token) or same_token(group, rec.group_id_token)):
                    self.core.end_authorization(st, "Local", "StopAuthorized", id_token=id_token)
            elif accepted:
                group = group_of(id_token_info) or (pending or {}).get("group_id_token")
                remote_start_id = pending.get("remote_start_id") if pending else None
                self.core.grant(st, id_token, group, remote_start_id, "RemoteStart" if pending else "Authorized")
        return out

    def on_authorize_refused(self, evse_id: int, now: float) -> TxOutput:
        """evse_io refused an `authorize` command (e.g. Inoperative): the authorization cannot be in force."""
        out = TxOutput()
        if evse_id in self.core.evses:
            with self.core.step(evse_id, now, out) as st:
                if st.rec.authorized:
                    self.core.end_authorization(st, "Other", "AbnormalCondition", command=False)
        return out

    def _master_pass(self, id_token: Mapping[str, Any], now: float, out: TxOutput) -> TxOutput:
        for evse_id in sorted(self.core.evses):
            with self.core.step(evse_id, now, out) as st:
                rec = st.rec
                if rec.pending_remote and same_token(rec.pending_remote.get("id_token"), id_token):
                    rec.pending_remote = None
                if rec.authorized:
                    self.core.end_authorization(st, "MasterPass", "StopAuthorized", id_token=id_token)
                if rec.tx is not None:
                    self.core.end_tx(st, "StopAuthorized", "MasterPass", id_token=id_token)
        return out

    def on_id_token_info(self, transaction_id: str, id_token: Mapping[str, Any],
                         id_token_info: Mapping[str, Any] | None, now: float) -> TxOutput:
        """The idTokenInfo of a TransactionEventResponse to a request that carried `id_token`.

        Not Accepted while that token's authorization is in force (E05, C12, C15): StopTxOnInvalidId →
        Deauthorized (DeAuthorized); else the EVSE is held at 0 A (SuspendedEVSE) at once, or once
        MaxEnergyOnInvalidId Wh have flowed in the transaction (EnergyLimitReached).
        """
        out = TxOutput()
        evse_id = self.core.evse_of(transaction_id)
        if evse_id is None or not id_token_info:
            return out
        with self.core.step(evse_id, now, out) as st:
            rec, s = st.rec, st.s
            if not rec.authorized or not same_token(rec.id_token, id_token) or rec.tx is None:
                return out
            if accepted_for_evse(id_token_info, evse_id):
                rec.group_id_token = group_of(id_token_info) or rec.group_id_token
            elif s.stop_tx_on_invalid_id:
                self.core.end_authorization(st, "DeAuthorized", "Deauthorized")
            elif rec.suspended or rec.energy_limit_wh is not None:
                pass  # a verdict already taken for this authorization
            else:
                limit = s.max_energy_on_invalid_id_wh
                now_wh = energy_wh(self.core.sample_for(rec))
                base = rec.tx.energy_begin_wh if rec.tx.energy_begin_wh is not None else now_wh
                if limit > 0 and base is not None and (now_wh is None or now_wh - base < limit):
                    rec.energy_limit_wh = base + limit
                else:
                    self.core.suspend(st, "ChargingStateChanged")
        return out

