"""Reservations with the real evse_io, meter and simulated hardware against the development CSMS: who may
start on a reserved EVSE (H03; TC_H_01, TC_H_02, TC_H_08, TC_H_15), the reservationId in the transaction,
customer information about a real card (TC_N_27, TC_N_28) and the manual's availability switch while a
transaction runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.services.ocpp_client.tx_world import *  # noqa: F403
from tests.services.ocpp_client.tx_world import CARD, calls, wait_call

OTHER = {"idToken": "0BADCAFE", "type": "ISO14443"}
FLEET = {"idToken": "FLEET-7", "type": "Central"}


def reserve_now(reservation_id: int, evse_id: int | None = 1, token: dict = CARD, **fields: Any) -> dict:
    expiry = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    payload = {"id": reservation_id, "expiryDateTime": expiry, "idToken": token, **fields}
    if evse_id is not None:
        payload["evseId"] = evse_id
    return payload


async def call(csms, station, action: str, payload: dict) -> dict:
    return await csms.call(station.station.id, action, payload)


async def status_of(probe, evse_id: int, connector_status: str) -> None:
    await probe.wait_for(f"evse_io.state.evse.{evse_id}", lambda e: e.body["connector_status"] == connector_status,
                         5.0)


def with_token(drive, token: dict, since: int) -> list[dict]:
    return [e for e in drive.events(since=since) if (e.get("idToken") or {}).get("idToken") == token["idToken"]]


async def test_the_reserving_card_starts_and_the_transaction_carries_the_reservation_id_tc_h_01(
        ocpp, csms, station, drive, probe) -> None:
    assert await call(csms, station, "ReserveNow", reserve_now(11)) == {"status": "Accepted"}
    await status_of(probe, 1, "Reserved")
    since = drive.mark()
    await drive.swipe(CARD["idToken"], evse=1)  # authorized before the EV arrives
    await status_of(probe, 1, "Available")  # the reservation is used: Reserved → Available (TC_H_01 step 2)
    await drive.plug(1)
    event = await drive.event(lambda e: e.get("idToken") == CARD, since)
    assert event["reservationId"] == 11  # H03.FR.10
    await drive.event(lambda e: e["transactionInfo"].get("chargingState") == "Charging", since)
    assert sum("reservationId" in e for e in drive.events(since=since)) == 1
    assert ocpp.reservation.reservations.all() == []


async def test_another_card_does_not_charge_on_a_reserved_evse_tc_h_02(ocpp, csms, station, drive, probe) -> None:
    assert await call(csms, station, "ReserveNow", reserve_now(12)) == {"status": "Accepted"}
    await status_of(probe, 1, "Reserved")
    since = drive.mark()
    await drive.plug(1)
    await drive.swipe(OTHER["idToken"], evse=1)
    await drive.swipe(CARD["idToken"], evse=1)  # handled after OTHER's (one EVSE's tokens in order)
    await drive.event(lambda e: e.get("idToken") == CARD, since)
    assert with_token(drive, OTHER, since) == []  # Main A: no authorization, no Charging for the other card
    assert not [r for r in calls(csms, station, "TransactionEvent", since)
                if r.payload.get("idToken") == OTHER]


async def test_remote_start_for_another_token_on_a_reserved_evse_is_rejected_tc_h_02(ocpp, csms, station,
                                                                                   probe) -> None:
    assert await call(csms, station, "ReserveNow", reserve_now(13)) == {"status": "Accepted"}
    reply = await call(csms, station, "RequestStartTransaction", {"idToken": OTHER, "remoteStartId": 1, "evseId": 1})
    assert reply["status"] == "Rejected"  # Main B
    reply = await call(csms, station, "RequestStartTransaction", {"idToken": OTHER, "remoteStartId": 2})
    assert reply["status"] == "Accepted"  # without evseId: the free EVSE 2
    await probe.wait_for("ocpp.state.transaction.2", lambda e: e.body["authorized"], 5.0)


async def test_a_card_of_the_reservation_group_may_start(ocpp, csms, station, drive, probe) -> None:
    csms.set_token(OTHER["idToken"], "Accepted", group_id=FLEET["idToken"])
    assert await call(csms, station, "ReserveNow", reserve_now(14, groupIdToken=FLEET)) == {"status": "Accepted"}
    since = drive.mark()
    await drive.swipe(OTHER["idToken"], evse=1)
    await drive.plug(1)
    event = await drive.event(lambda e: e.get("idToken") == OTHER, since)
    assert event["reservationId"] == 14  # H03.FR.04


async def test_a_reservation_without_evse_keeps_one_free_tc_h_08(ocpp, csms, station, drive, probe) -> None:
    assert await call(csms, station, "ReserveNow", reserve_now(15, evse_id=None)) == {"status": "Accepted"}
    since = drive.mark()
    await drive.plug(1)
    await drive.swipe(OTHER["idToken"], evse=1)  # another card: EVSE 2 stays free for the reservation
    await drive.event(lambda e: e.get("idToken") == OTHER, since)
    await status_of(probe, 2, "Reserved")  # the last free EVSE shows Reserved (H01.FR.20)
    reply = await call(csms, station, "RequestStartTransaction", {"idToken": OTHER, "remoteStartId": 3, "evseId": 2})
    assert reply["status"] == "Rejected"
    reply = await call(csms, station, "ReserveNow", reserve_now(16, evse_id=None, connectorType="sType2"))
    assert reply["status"] == "Occupied"  # no EVSE left for a second one (TC_H_16)


async def test_customer_information_reports_a_real_card_then_clears_it_tc_n_27_tc_n_28(
        ocpp, csms, station, drive, probe) -> None:
    since = drive.mark()
    await drive.swipe(CARD["idToken"], evse=1)  # Authorize → the card is in the authorization cache
    await probe.wait_for("ocpp.state.transaction.1", lambda e: e.body["authorized"], 5.0)
    assert await call(csms, station, "ReserveNow", reserve_now(17, evse_id=2)) == {"status": "Accepted"}
    request = {"requestId": 5, "report": True, "clear": False, "idToken": CARD}
    assert await call(csms, station, "CustomerInformation", request) == {"status": "Accepted"}
    page = await wait_call(csms, station, "NotifyCustomerInformation", since=since)
    assert page.payload["requestId"] == 5 and page.payload["tbc"] is False
    assert "AuthorizationCache ISO14443:04A1B2C3" in page.payload["data"]
    assert "Reservation 17" in page.payload["data"]
    # clear: cache entry and reservation go (ReservationStatusUpdate Removed), nothing else
    since = drive.mark()
    request = {"requestId": 6, "report": False, "clear": True, "idToken": CARD}
    assert await call(csms, station, "CustomerInformation", request) == {"status": "Accepted"}
    page = await wait_call(csms, station, "NotifyCustomerInformation", since=since)
    assert "authorization cache entry" in page.payload["data"] and "1 reservation(s)" in page.payload["data"]
    update = await wait_call(csms, station, "ReservationStatusUpdate", since=since)
    assert update.payload == {"reservationId": 17, "reservationUpdateStatus": "Removed"}
    since = drive.mark()
    await call(csms, station, "CustomerInformation", {"requestId": 7, "report": True, "clear": False,
                                                     "idToken": OTHER})
    page = await wait_call(csms, station, "NotifyCustomerInformation", since=since)
    assert page.payload["data"].startswith("No data found") and page.payload["tbc"] is False  # TC_N_28


async def test_availability_switch_while_charging_is_scheduled_then_unavailable(ocpp, csms, station, drive,
                                                                                probe) -> None:
    transaction_id = await drive.charging(1)
    write = {"setVariableData": [{"component": {"name": "EVSE", "evse": {"id": 1}},
                                  "variable": {"name": "AvailabilityStatus"}, "attributeValue": "Unavailable"}]}
    reply = await call(csms, station, "SetVariables", write)
    assert reply["setVariableResult"][0]["attributeStatus"] == "Accepted"  # Scheduled: after the transaction
    read = {"getVariableData": [{"component": {"name": "EVSE", "evse": {"id": 1}},
                                 "variable": {"name": "AvailabilityStatus"}}]}
    assert (await call(csms, station, "GetVariables", read))["getVariableResult"][0]["attributeValue"] == \
        "Unavailable"
    since = drive.mark()
    await drive.unplug(1)
    await drive.event(lambda e: e["eventType"] == "Ended" and e["transactionInfo"]["transactionId"] == transaction_id,
                      since)
    await status_of(probe, 1, "Unavailable")  # evse_io took it once the transaction was over
    status = await wait_call(csms, station, "StatusNotification", since=since)
    while status.payload["connectorStatus"] != "Unavailable":
        status = await wait_call(csms, station, "StatusNotification", since=status.index + 1)
    assert status.payload["evseId"] == 1
    # the ChangeAvailability path reads back the same state, and brings it back
    reply = await call(csms, station, "ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 1}})
    assert reply == {"status": "Accepted"}
    assert (await call(csms, station, "GetVariables", read))["getVariableResult"][0]["attributeValue"] == \
        "Available"
    bad = {"setVariableData": [{**write["setVariableData"][0], "attributeValue": "Broken"}]}
    assert (await call(csms, station, "SetVariables", bad))["setVariableResult"][0]["attributeStatus"] == \
        "Rejected"
