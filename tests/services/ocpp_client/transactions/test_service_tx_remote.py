"""CSMS requests on transactions (F01–F03, E14, B12): RequestStart/StopTransaction, GetTransactionStatus,
Reset Immediate during a transaction."""

from __future__ import annotations

from tests.services.ocpp_client.service_harness import calls
from tests.services.ocpp_client.tx_world import *  # noqa: F403
from tests.services.ocpp_client.tx_world import CARD, Drive, wait_call


async def test_remote_start_on_a_plugged_evse_then_remote_stop(ocpp, drive: Drive, csms, station, probe) -> None:
    station_id = station.station.id
    since = drive.mark()
    await drive.plug(1)
    started = await drive.event(lambda e: e["eventType"] == "Started", since)
    transaction_id = started["transactionInfo"]["transactionId"]
    status = await csms.call(station_id, "GetTransactionStatus", {"transactionId": transaction_id})
    assert status["ongoingIndicator"] is True

    reply = await csms.call(station_id, "RequestStartTransaction", {"evseId": 1, "remoteStartId": 7,
                                                                     "idToken": CARD})
    assert reply == {"status": "Accepted", "transactionId": transaction_id}
    remote = await drive.event(lambda e: e["triggerReason"] == "RemoteStart", since)
    assert remote["transactionInfo"]["remoteStartId"] == 7 and remote["idToken"] == CARD
    await drive.event(lambda e: e["transactionInfo"].get("chargingState") == "Charging", since)
    again = await csms.call(station_id, "RequestStartTransaction", {"evseId": 1, "remoteStartId": 8,
                                                                     "idToken": CARD})
    assert again["status"] == "Rejected"  # already authorized

    reply = await csms.call(station_id, "RequestStopTransaction", {"transactionId": transaction_id})
    assert reply == {"status": "Accepted"}
    ended = await drive.event(lambda e: e["eventType"] == "Ended", since)
    assert ended["triggerReason"] == "RemoteStop" and ended["transactionInfo"]["stoppedReason"] == "Remote"
    await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["session"] is None and not e.body["relays_closed"])
    await probe.wait_for("ocpp.state.csms", lambda e: e.body["queue_depth"] == 0)
    status = await csms.call(station_id, "GetTransactionStatus", {"transactionId": transaction_id})
    assert status == {"ongoingIndicator": False, "messagesInQueue": False}
    reply = await csms.call(station_id, "RequestStopTransaction", {"transactionId": transaction_id})
    assert reply["status"] == "Rejected"


async def test_remote_start_before_plug_in_starts_the_transaction_and_the_ev_charges(ocpp, drive: Drive, csms,
                                                                                    station) -> None:
    since = drive.mark()
    reply = await csms.call(station.station.id, "RequestStartTransaction", {"remoteStartId": 3, "idToken": CARD})
    assert reply == {"status": "Accepted"}  # no evseId: the first free EVSE
    started = await drive.event(lambda e: e["eventType"] == "Started", since)
    assert started["triggerReason"] == "RemoteStart" and started["evse"]["id"] == 1
    assert started["transactionInfo"]["remoteStartId"] == 3
    await drive.plug(1)
    charging = await drive.event(lambda e: e["transactionInfo"].get("chargingState") == "Charging", since)
    assert charging["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]


async def test_immediate_reset_ends_the_transaction_before_restarting(ocpp, drive: Drive, csms, station,
                                                                      probe) -> None:
    transaction_id = await drive.charging(1)
    since = drive.mark()
    assert await csms.call(station.station.id, "Reset", {"type": "Immediate"}) == {"status": "Accepted"}
    ended = await drive.event(lambda e: e["eventType"] == "Ended", since)
    assert ended["transactionInfo"] == {**ended["transactionInfo"], "transactionId": transaction_id,
                                        "stoppedReason": "ImmediateReset"}
    assert ended["triggerReason"] == "ResetCommand"
    await ocpp.reset.restarter.wait_for("station")
    await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["session"] is None)


async def test_authorize_remote_start_asks_the_csms_first_and_a_blocked_token_starts_nothing(
        ocpp, drive: Drive, csms, station) -> None:
    station_id = station.station.id
    reply = await csms.call(station_id, "SetVariables", {"setVariableData": [{
        "component": {"name": "AuthCtrlr"}, "variable": {"name": "AuthorizeRemoteStart"}, "attributeValue": "true"}]})
    assert reply["setVariableResult"][0]["attributeStatus"] == "Accepted"
    since = drive.mark()
    await drive.plug(1)
    started = await drive.event(lambda e: e["eventType"] == "Started", since)
    reply = await csms.call(station_id, "RequestStartTransaction", {"evseId": 1, "remoteStartId": 2,
                                                                     "idToken": CARD})
    assert reply == {"status": "Accepted", "transactionId": started["transactionInfo"]["transactionId"]}
    remote = await drive.event(lambda e: e["eventType"] == "Updated", since)
    assert remote["triggerReason"] == "RemoteStart" and remote["transactionInfo"]["remoteStartId"] == 2
    assert [r.payload["idToken"] for r in calls(csms, station, "Authorize", since)] == [CARD]

    csms.set_token("0BADCAFE", "Blocked")
    blocked = {"idToken": "0BADCAFE", "type": "Central"}
    since = drive.mark()
    reply = await csms.call(station_id, "RequestStartTransaction", {"evseId": 2, "remoteStartId": 3,
                                                                     "idToken": blocked})
    assert reply == {"status": "Accepted"}
    assert (await wait_call(csms, station, "Authorize", since=since)).payload == {"idToken": blocked}
    await drive.swipe("04FFEE01", evse=2)  # handled after the remote start's authorization: the first on EVSE 2
    first = await drive.event(lambda e: e["evse"]["id"] == 2, since)
    assert (first["eventType"], first["triggerReason"]) == ("Started", "Authorized")
    assert first["idToken"]["idToken"] == "04FFEE01" and "remoteStartId" not in first["transactionInfo"]
