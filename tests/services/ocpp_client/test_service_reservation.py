"""Reservations (H01–H04) in the running ocpp service against the development CSMS, evse_io stood in on the
bus: ReserveNow / CancelReservation answered, Reserved shown (StatusNotification, evse_io `reserve`,
`ocpp.state.reservations`), expiry, Removed on a fault and on ChangeAvailability Inoperative."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bus.client import BusClient
from services.evse_io.contract import CONTRACT as EVSE_IO_CONTRACT
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import calls, evse_body, mark, wait_call, wait_statuses

TOKEN = {"idToken": "04A1B2C3", "type": "ISO14443"}


def expiry(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def reserve_now(reservation_id: int, evse_id: int | None = 1, seconds: float = 300, **fields: Any) -> dict:
    payload = {"id": reservation_id, "expiryDateTime": expiry(seconds), "idToken": TOKEN, **fields}
    if evse_id is not None:
        payload["evseId"] = evse_id
    return payload


async def wait_status(csms, station, evse_id: int, connector_status: str, since: int) -> int:
    """The index of the first StatusNotification of the EVSE with that status (at index >= since)."""
    while True:
        record = await wait_call(csms, station, "StatusNotification", since=since)
        if (record.payload["evseId"], record.payload["connectorStatus"]) == (evse_id, connector_status):
            return record.index
        since = record.index + 1


async def _reserved(csms, station, evse_io, probe, since: int) -> None:
    status = (await wait_statuses(csms, station, count=1, since=since))[0]
    assert (status["evseId"], status["connectorStatus"]) == (1, "Reserved")
    await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["connector_status"] == "Reserved")
    assert ("reserve", {"evse": 1, "reserved": True}) in evse_io.calls


async def test_reserve_now_shows_reserved_in_ocpp_and_evse_io_and_state(ocpp, csms, station, evse_io, probe) -> None:
    since = mark(csms, station)
    assert await csms.call(station.station.id, "ReserveNow", reserve_now(7)) == {"status": "Accepted"}
    await _reserved(csms, station, evse_io, probe, since)
    _, env = await probe.wait_for("ocpp.state.reservations", lambda e: e.body["reservations"])
    (held,) = env.body["reservations"]
    assert (held["reservation_id"], held["evse_id"], held["id_token"]["idToken"]) == (7, 1, "04A1B2C3")
    assert ocpp.dm.get("Connector", "AvailabilityState", evse_id=1, connector_id=1) == "Reserved"
    # a second reservation for the reserved EVSE: Occupied (H01.FR.11); an unknown EVSE: Rejected
    assert (await csms.call(station.station.id, "ReserveNow", reserve_now(8)))["status"] == "Occupied"
    assert (await csms.call(station.station.id, "ReserveNow", reserve_now(9, evse_id=5)))["status"] == "Rejected"


async def test_cancel_reservation_makes_the_evse_available_again_tc_h_17(ocpp, csms, station, evse_io, probe) -> None:
    since = mark(csms, station)
    await csms.call(station.station.id, "ReserveNow", reserve_now(7))
    await _reserved(csms, station, evse_io, probe, since)
    since = mark(csms, station)
    assert await csms.call(station.station.id, "CancelReservation", {"reservationId": 7}) == {"status": "Accepted"}
    status = (await wait_statuses(csms, station, count=1, since=since))[0]
    assert (status["evseId"], status["connectorStatus"]) == (1, "Available")
    await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["connector_status"] == "Available")
    reply = await csms.call(station.station.id, "CancelReservation", {"reservationId": 7})
    assert reply["status"] == "Rejected"  # TC_H_18: no such reservation


async def test_reservation_expires_with_status_update_and_available_tc_h_07(ocpp, csms, station, evse_io,
                                                                            probe) -> None:
    since = mark(csms, station)
    await csms.call(station.station.id, "ReserveNow", reserve_now(7, seconds=1.0))
    await _reserved(csms, station, evse_io, probe, since)
    update = await wait_call(csms, station, "ReservationStatusUpdate", since=since, timeout=4.0)
    assert update.payload == {"reservationId": 7, "reservationUpdateStatus": "Expired"}
    await wait_status(csms, station, 1, "Available", since)
    await probe.wait_for("ocpp.state.reservations", lambda e: e.body["reservations"] == [])


async def test_a_fault_on_a_reserved_evse_removes_the_reservation(ocpp, csms, station, evse_io, probe) -> None:
    since = mark(csms, station)
    await csms.call(station.station.id, "ReserveNow", reserve_now(7))
    await _reserved(csms, station, evse_io, probe, since)
    await evse_io.publish(1, faults=["rcd"], connector_status="Faulted")
    update = await wait_call(csms, station, "ReservationStatusUpdate", since=since)
    assert update.payload == {"reservationId": 7, "reservationUpdateStatus": "Removed"}
    await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["reserved"] is False)


async def test_change_availability_inoperative_removes_the_reservation(ocpp, csms, station, evse_io, probe) -> None:
    since = mark(csms, station)
    await csms.call(station.station.id, "ReserveNow", reserve_now(7))
    await _reserved(csms, station, evse_io, probe, since)
    since = mark(csms, station)
    reply = await csms.call(station.station.id, "ChangeAvailability",
                            {"operationalStatus": "Inoperative", "evse": {"id": 1}})
    assert reply == {"status": "Accepted"}
    update = await wait_call(csms, station, "ReservationStatusUpdate", since=since)
    assert update.payload["reservationUpdateStatus"] == "Removed"
    status = (await wait_statuses(csms, station, count=1, since=since))[0]
    assert status["connectorStatus"] == "Unavailable"
    # and an Inoperative EVSE cannot be reserved (H01.FR.14)
    assert (await csms.call(station.station.id, "ReserveNow", reserve_now(8)))["status"] == "Unavailable"


async def test_reservation_controller_variables_are_in_the_device_model(ocpp, csms, station) -> None:
    reply = await csms.call(station.station.id, "GetVariables", {"getVariableData": [
        {"component": {"name": "ReservationCtrlr"}, "variable": {"name": name}}
        for name in ("Available", "Enabled", "NonEvseSpecific")]})
    assert [(r["attributeStatus"], r.get("attributeValue")) for r in reply["getVariableResult"]] == \
        [("Accepted", "true")] * 3
    since = mark(csms, station)
    reply = await csms.call(station.station.id, "SetVariables", {"setVariableData": [
        {"component": {"name": "ReservationCtrlr"}, "variable": {"name": "Enabled"}, "attributeValue": "false"}]})
    assert reply["setVariableResult"][0]["attributeStatus"] == "Accepted"
    reply = await csms.call(station.station.id, "ReserveNow", reserve_now(7))
    assert reply == {"status": "Rejected", "statusInfo": {"reasonCode": "NotEnabled"}}  # H01.FR.01
    assert not calls(csms, station, "StatusNotification", since)


async def test_reserving_a_connector_type_shows_the_last_free_evse_reserved_tc_h_15(ocpp, csms, station, evse_io,
                                                                                    probe) -> None:
    await evse_io.publish(1, connector_status="Occupied", charging_state="EVConnected", cp_state="B")
    since = mark(csms, station)
    reply = await csms.call(station.station.id, "ReserveNow", reserve_now(21, evse_id=None, connectorType="sType2"))
    assert reply == {"status": "Accepted"}
    await wait_status(csms, station, 2, "Reserved", since)
    await probe.wait_for("evse_io.state.evse.2", lambda e: e.body["connector_status"] == "Reserved")
    reply = await csms.call(station.station.id, "ReserveNow", reserve_now(22, evse_id=None, connectorType="cCCS2"))
    assert reply == {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownConnectorType"}}


async def test_bad_reservations_get_the_spec_answer_and_change_nothing(ocpp, csms, station, probe) -> None:
    since = mark(csms, station)
    reply = await csms.call(station.station.id, "ReserveNow", reserve_now(31, seconds=-60))
    assert reply == {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidValue"}}  # expiry in the past
    reply = await csms.call(station.station.id, "ReserveNow", reserve_now(32, evse_id=9))
    assert reply == {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}
    assert ocpp.reservation.reservations.all() == []
    assert not calls(csms, station, "StatusNotification", since)


async def test_evse_io_restarting_does_not_end_a_reservation_but_a_lost_mcu_link_does(ocpp, csms, station, evse_io,
                                                                                       probe) -> None:
    """A new evse_io process (restart, power-up) first says Unavailable until each MCU answers: that is not an EVSE
    going out of order, so reservations stay, on that EVSE and without one (they ended with Removed before). Once
    the MCU has answered, losing it is (H01.FR.17)."""
    since = mark(csms, station)
    await csms.call(station.station.id, "ReserveNow", reserve_now(7))
    await _reserved(csms, station, evse_io, probe, since)
    assert await csms.call(station.station.id, "ReserveNow", reserve_now(8, evse_id=None)) == {"status": "Accepted"}
    restarted = BusClient(station.paths.run_dir, "evse_io", contract=EVSE_IO_CONTRACT, strict=True)  # a new session
    await restarted.start()
    try:
        since = mark(csms, station)
        starting = {e: evse_body(e, link_up=False, connector_status="Unavailable", reserved=e == 1) for e in (1, 2)}
        for evse_id in (1, 2):
            await restarted.publish_state(f"evse.{evse_id}", starting[evse_id])
        await wait_status(csms, station, 2, "Unavailable", since)
        since = mark(csms, station)
        await restarted.publish_state("evse.1", {**starting[1], "link_up": True, "connector_status": "Reserved"})
        await wait_status(csms, station, 1, "Reserved", since)  # before: Available, the reservation gone
        await restarted.publish_state("evse.2", {**starting[2], "link_up": True, "connector_status": "Available"})
        await wait_status(csms, station, 2, "Reserved", since)  # the last free EVSE, for reservation 8
        assert not calls(csms, station, "ReservationStatusUpdate")
        await restarted.publish_state("evse.1", {**starting[1], "link_up": False})  # the MCU stops answering
        update = await wait_call(csms, station, "ReservationStatusUpdate", since=since)
        assert update.payload == {"reservationId": 7, "reservationUpdateStatus": "Removed"}
    finally:
        await restarted.close()
