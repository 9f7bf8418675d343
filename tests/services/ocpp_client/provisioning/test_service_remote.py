"""UnlockConnector (F05), DataTransfer (P01), ClearCache (C11)."""

from __future__ import annotations

import pytest

from sim.csms import CsmsCallError
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import mark, wait_call


async def _unlock(csms, station, evse_id: int, connector_id: int = 1) -> dict:
    return await csms.call(station.station.id, "UnlockConnector", {"evseId": evse_id, "connectorId": connector_id})


async def test_unlock_without_transaction_unlocks_through_evse_io(ocpp, csms, station, evse_io) -> None:
    assert await _unlock(csms, station, 1) == {"status": "Unlocked"}
    assert ("unlock", {"evse": 1}) in evse_io.calls


async def test_unlock_of_an_unknown_connector(ocpp, csms, station) -> None:
    assert await _unlock(csms, station, 1, 999) == {"status": "UnknownConnector"}


async def test_unlock_during_an_authorized_session_is_refused(ocpp, csms, station, evse_io) -> None:
    since = mark(csms, station)
    await evse_io.publish(1, connector_status="Occupied", session={"session_id": "s", "authorized": True})
    await wait_call(csms, station, "StatusNotification", since=since)  # the service has seen the session
    assert await _unlock(csms, station, 1) == {"status": "OngoingAuthorizedTransaction"}
    ocpp.transactions.active_transactions = lambda evse_id=None: 1
    assert await _unlock(csms, station, 2) == {"status": "OngoingAuthorizedTransaction"}


async def test_unlock_refused_by_evse_io_is_unlock_failed(ocpp, csms, station, evse_io) -> None:
    evse_io.unlock_fails = True
    reply = await _unlock(csms, station, 2)
    assert reply["status"] == "UnlockFailed" and "relays" in reply["statusInfo"]["additionalInfo"]


async def test_data_transfer_of_an_unknown_vendor(ocpp, csms, station) -> None:
    reply = await csms.call(station.station.id, "DataTransfer", {"vendorId": "org.openchargealliance.octt",
                                                                 "messageId": "x"})
    assert reply == {"status": "UnknownVendorId"}


async def test_data_transfer_of_a_registered_vendor(ocpp, csms, station) -> None:
    async def echo(request):
        return {"status": "Accepted", "data": request.get("data")}

    ocpp.remote.register_vendor("com.rewatt", echo)
    reply = await csms.call(station.station.id, "DataTransfer", {"vendorId": "com.rewatt", "data": {"a": 1}})
    assert reply == {"status": "Accepted", "data": {"a": 1}}


async def test_clear_cache_accepted_and_rejected_when_the_cache_is_disabled(ocpp, csms, station) -> None:
    cleared = []

    async def clear() -> bool:
        cleared.append(True)
        return True

    ocpp.transactions.auth.clear_cache = clear
    assert await csms.call(station.station.id, "ClearCache", {}) == {"status": "Accepted"}
    assert cleared == [True]
    ocpp.dm.set("AuthCacheCtrlr", "Enabled", False)
    reply = await csms.call(station.station.id, "ClearCache", {})
    assert reply["status"] == "Rejected" and cleared == [True]


async def test_an_action_nobody_handles_is_not_supported(ocpp, csms, station) -> None:
    with pytest.raises(CsmsCallError) as refused:
        await csms.call(station.station.id, "ClearChargingProfile", {})
    assert refused.value.code == "NotSupported"
