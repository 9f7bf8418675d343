"""Authorization (C01, C09–C16, D01, D02) on the bus: the glue around authorization.Authorizer.

A card at an EVSE's reader (`evse_io.evt.token`): the transaction state machine looks first (the token of
the authorization in force stops it, E07); otherwise the local decision (local list, cache, offline rules);
when that says ask the CSMS, AuthorizeRequest goes out directly — no answer (offline, timeout, CALLERROR)
means the offline rules apply — and its idTokenInfo goes into the cache; the verdict goes to the state
machine. Tokens of one EVSE are handled one at a time, in the order presented. RequestStartTransaction with
AuthorizeRemoteStart authorizes its idToken the same way.
Also: SendLocalList, GetLocalListVersion, ClearCache and the device model's LocalAuthListCtrlr.Entries /
Storage and AuthCacheCtrlr.Storage.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from bus.envelope import Envelope
from services.ocpp_client.authorization.decisions import Action, Authorizer, AuthSettings, accepted_for_evse
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.link.gate import CallGate

log = logging.getLogger("reon.ocpp.authorization")


class TokenInputs(Protocol):
    """What this block hands tokens and verdicts to (transactions/manager.py `TransactionManager`)."""

    def present_token(self, evse_id: int, id_token: Mapping[str, Any], now: float) -> Any: ...

    def on_authorization(self, evse_id: int, id_token: Mapping[str, Any], accepted: bool,
                         id_token_info: Mapping[str, Any] | None, now: float) -> Any: ...


class AuthService:
    """Cards and remote-start tokens to verdicts; the local list and cache requests (AuthCache of activity.py)."""

    def __init__(self, db: sqlite3.Connection, dm: DeviceModel, gate: CallGate, evse_ids: list[int],
                 machine: TokenInputs, *, apply: Callable[[Any], None], now: Callable[[], float],
                 subscribe: Callable[..., Any]) -> None:
        """`machine`: the transaction state machine; `apply(output)` hands what it produced to the transactions
        block's runners; `now()`: the station's OCPP clock; `subscribe(prefix, callback)`: the bus."""
        self.gate = gate
        self.machine = machine
        self.apply = apply
        self.now = now
        self._subscribe = subscribe
        self.authorizer = Authorizer(db, lambda: AuthSettings.from_device_model(dm))
        self._locks = {evse_id: asyncio.Lock() for evse_id in evse_ids}
        gate.register("SendLocalList", self.send_local_list)
        gate.register("GetLocalListVersion", self.get_local_list_version)
        a = self.authorizer
        dm.set_reader("LocalAuthListCtrlr", "Entries", lambda: str(a.local_list_entries()))
        dm.set_reader("LocalAuthListCtrlr", "Storage", lambda: str(a.local_list_storage_bytes()))
        dm.set_reader("AuthCacheCtrlr", "Storage", lambda: str(a.cache_storage_bytes()))

    def start(self) -> None:
        self._subscribe("evse_io.evt.token", self._on_token)

    # ---- tokens -----------------------------------------------------------------------------------

    async def _on_token(self, topic: str, env: Envelope) -> None:
        body = env.body if isinstance(env.body, dict) else {}
        evse_id, id_token = body.get("evse"), body.get("id_token")
        if evse_id not in self._locks or not isinstance(id_token, dict) or not id_token.get("idToken"):
            log.warning("token event %r not understood: skipped", body)
            return
        await self.present(evse_id, {"idToken": str(id_token["idToken"]), "type": str(id_token.get("type", ""))})

    async def present(self, evse_id: int, id_token: dict[str, Any]) -> None:
        """A token presented at the EVSE: stop, or authorize and hand the verdict to the state machine."""
        tx = self.machine
        async with self._locks[evse_id]:
            step = tx.present_token(evse_id, id_token, self.now())
            self.apply(step.output)
            if step.handled:
                log.info("EVSE %d: card %s ends its own authorization", evse_id, id_token["idToken"])
                return
            accepted, info = await self.authorize(evse_id, id_token)
            self.apply(tx.on_authorization(evse_id, id_token, accepted, info, self.now()))

    async def authorize_remote_start(self, evse_id: int, id_token: dict[str, Any]) -> None:
        """RequestStartTransaction with AuthorizeRemoteStart: authorize its idToken like a card (F02)."""
        async with self._locks[evse_id]:
            accepted, info = await self.authorize(evse_id, id_token)
            self.apply(self.machine.on_authorization(evse_id, id_token, accepted, info, self.now()))

    async def authorize(self, evse_id: int, id_token: Mapping[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        """(accepted at this EVSE, idTokenInfo or None): local decision, else AuthorizeRequest, else offline."""
        online = self.gate.connected and self.gate.accepted
        decision = self.authorizer.decide_local(id_token, online=online, now=self.now(), evse_id=evse_id)
        if decision.action is Action.ASK_CSMS:
            response = await self.gate.send("Authorize", {"idToken": dict(id_token)})
            if response is not None:
                info = dict(response["idTokenInfo"])
                self.authorizer.on_csms_result(id_token, info, self.now())
                accepted = accepted_for_evse(info, evse_id)
                log.info("EVSE %d: card %s %s by the CSMS (%s)", evse_id, id_token.get("idToken"),
                         "accepted" if accepted else "refused", info.get("status"))
                return accepted, info
            decision = self.authorizer.decide_local(id_token, online=False, now=self.now(), evse_id=evse_id)
            log.info("EVSE %d: no answer to Authorize: offline rules apply", evse_id)
        log.info("EVSE %d: card %s %s (%s)", evse_id, id_token.get("idToken"),
                 "accepted" if decision.accepted else "refused", decision.source)
        return decision.accepted, decision.id_token_info

    # ---- CSMS requests ----------------------------------------------------------------------------

    async def send_local_list(self, request: dict[str, Any]) -> dict[str, Any]:
        response = self.authorizer.send_local_list(request)
        log.info("SendLocalList %s version %s (%d entries): %s", request.get("updateType"),
                 request.get("versionNumber"), len(request.get("localAuthorizationList") or []), response["status"])
        return response

    async def get_local_list_version(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.authorizer.get_local_list_version()

    async def clear_cache(self) -> bool:
        """ClearCache (provisioning/remote.py answers Rejected itself while the cache is disabled)."""
        return self.authorizer.clear_cache()["status"] == "Accepted"
