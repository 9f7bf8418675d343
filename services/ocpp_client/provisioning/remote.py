"""Remote commands without a block of their own: UnlockConnector (F05), DataTransfer (P01), ClearCache (C11).

- UnlockConnector: an unknown EVSE/connector → UnknownConnector (F05.FR.03); a transaction on the EVSE (the
  transaction module's count, or evse_io's session authorized) → OngoingAuthorizedTransaction (F05.FR.02);
  else evse_io `unlock`: done → Unlocked, refused or no answer → UnlockFailed.
- DataTransfer: vendors registered with `register_vendor(vendor_id, handler)`; any other → UnknownVendorId.
- ClearCache: Rejected while AuthCacheCtrlr.Enabled is false (C11.FR.04), else the authorization module's
  hook empties the cache (no hook: nothing is cached) → Accepted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bus.rpc import RpcError
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.link.gate import CallGate
from services.ocpp_client.peers import Connectors, Peers
from services.ocpp_client.transactions.activity import AuthCache, TransactionActivity

log = logging.getLogger("reon.ocpp.remote")

EVSE_IO_DEADLINE_S = 3.0
VendorHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class RemoteCommands:
    def __init__(self, dm: DeviceModel, gate: CallGate, connectors: Connectors, peers: Peers,
                 transactions: TransactionActivity, auth_cache: AuthCache,
                 evse_state: Callable[[int], dict[str, Any] | None]) -> None:
        self.dm = dm
        self.connectors = connectors
        self.peers = peers
        self.transactions = transactions
        self.auth_cache = auth_cache
        self._evse_state = evse_state
        self._vendors: dict[str, VendorHandler] = {}
        gate.register("UnlockConnector", self.unlock_connector)
        gate.register("DataTransfer", self.data_transfer)
        gate.register("ClearCache", self.clear_cache)

    def register_vendor(self, vendor_id: str, handler: VendorHandler) -> None:
        """Answer DataTransfer for this vendorId with handler(request) -> DataTransferResponse payload."""
        self._vendors[vendor_id] = handler

    async def unlock_connector(self, request: dict[str, Any]) -> dict[str, Any]:
        evse_id, connector_id = request["evseId"], request["connectorId"]
        if not self.connectors.has(evse_id, connector_id):
            return {"status": "UnknownConnector"}
        session = (self._evse_state(evse_id) or {}).get("session") or {}
        if self.transactions.active_transactions(evse_id) > 0 or session.get("authorized"):
            return {"status": "OngoingAuthorizedTransaction"}
        if not self.peers.running("evse_io"):
            return _failed("evse_io is not running")
        try:
            await self.peers.call("evse_io", "unlock", {"evse": evse_id}, deadline_s=EVSE_IO_DEADLINE_S)
        except RpcError as exc:
            log.warning("unlock of EVSE %d failed: %s", evse_id, exc)
            return _failed(exc.message or exc.code)
        return {"status": "Unlocked"}

    async def data_transfer(self, request: dict[str, Any]) -> dict[str, Any]:
        handler = self._vendors.get(request["vendorId"])
        if handler is None:
            return {"status": "UnknownVendorId"}
        return await handler(request)

    async def clear_cache(self, request: dict[str, Any]) -> dict[str, Any]:
        if not self.dm.get_bool("AuthCacheCtrlr", "Enabled"):
            return {"status": "Rejected", "statusInfo": {"reasonCode": "NotEnabled"}}
        if not await self.auth_cache.clear_cache():
            return {"status": "Rejected"}
        return {"status": "Accepted"}


def _failed(why: str) -> dict[str, Any]:
    return {"status": "UnlockFailed", "statusInfo": {"reasonCode": "Unspecified", "additionalInfo": why[:512]}}
