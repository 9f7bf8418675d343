"""ChangeAvailability (G03/G04) and StatusNotification on connector status changes."""

from __future__ import annotations

from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import calls, mark, start_ocpp, wait_call, wait_statuses


def _change(status: str, evse: dict | None = None) -> dict:
    return {"operationalStatus": status, **({"evse": evse} if evse else {})}


async def _result_index(csms, station, action: str, since: int) -> int:
    """Index of the station's answer (CALLRESULT) to the CSMS's `action` call."""
    records = [r for r in csms.messages(station.station.id, action, since) if r.kind == "result"]
    assert records, f"no {action} result recorded"
    return records[0].index


async def test_status_change_on_evse_io_sends_a_status_notification(ocpp, csms, station, evse_io) -> None:
    since = mark(csms, station)
    await evse_io.publish(1, connector_status="Occupied", charging_state="EVConnected", cp_state="B")
    status = (await wait_statuses(csms, station, count=1, since=since))[0]
    assert (status["evseId"], status["connectorId"], status["connectorStatus"]) == (1, 1, "Occupied")
    assert ocpp.dm.get("Connector", "AvailabilityState", evse_id=1, connector_id=1) == "Occupied"
    await evse_io.publish(1, faults=["rcd"], connector_status="Faulted")
    status = (await wait_statuses(csms, station, count=1, since=since + 1))[0]
    assert status["connectorStatus"] == "Faulted"


async def test_evse_inoperative_is_accepted_then_reported_unavailable(ocpp, csms, station, evse_io) -> None:
    since = mark(csms, station)
    reply = await csms.call(station.station.id, "ChangeAvailability", _change("Inoperative", {"id": 1}))
    assert reply == {"status": "Accepted"}
    assert ("set_availability", {"evse": 1, "availability": "Inoperative"}) in evse_io.calls
    status_call = await wait_call(csms, station, "StatusNotification", since=since)
    assert status_call.payload["connectorStatus"] == "Unavailable" and status_call.payload["evseId"] == 1
    assert status_call.index > await _result_index(csms, station, "ChangeAvailability", since)
    reply = await csms.call(station.station.id, "ChangeAvailability", _change("Inoperative", {"id": 1}))
    assert reply == {"status": "Accepted"}  # inoperative to inoperative


async def test_availability_persists_across_a_restart(station, csms, evse_io, modem, probe) -> None:
    async with start_ocpp(station):
        await wait_call(csms, station, "SecurityEventNotification")
        reply = await csms.call(station.station.id, "ChangeAvailability", _change("Inoperative", {"id": 2}))
        assert reply == {"status": "Accepted"}
    evse_io.state[2].update(availability="Operative", availability_requested="Operative",
                            connector_status="Available")  # evse_io lost it (e.g. its database was replaced)
    await evse_io.publish(2)
    since = mark(csms, station)
    async with start_ocpp(station):
        statuses = await wait_statuses(csms, station, count=2, since=since)
        assert {s["evseId"]: s["connectorStatus"] for s in statuses} == {1: "Available", 2: "Unavailable"}
        _, env = await probe.wait_for("evse_io.state.evse.2", lambda e: e.body["availability"] == "Inoperative")
        assert env.body["connector_status"] == "Unavailable"


async def test_station_inoperative_makes_every_connector_unavailable(ocpp, csms, station, evse_io) -> None:
    since = mark(csms, station)
    reply = await csms.call(station.station.id, "ChangeAvailability", _change("Inoperative"))
    assert reply == {"status": "Accepted"}
    statuses = await wait_statuses(csms, station, count=2, since=since)
    assert {s["connectorStatus"] for s in statuses} == {"Unavailable"}
    assert ocpp.dm.get("ChargingStation", "AvailabilityState") == "Unavailable"
    since = mark(csms, station)
    assert await csms.call(station.station.id, "ChangeAvailability", _change("Operative")) == {"status": "Accepted"}
    statuses = await wait_statuses(csms, station, count=2, since=since)
    assert {s["connectorStatus"] for s in statuses} == {"Available"}


async def test_connector_inoperative_and_unknown_evse(ocpp, csms, station, evse_io) -> None:
    since = mark(csms, station)
    reply = await csms.call(station.station.id, "ChangeAvailability",
                            _change("Inoperative", {"id": 2, "connectorId": 1}))
    assert reply == {"status": "Accepted"}
    status = (await wait_statuses(csms, station, count=1, since=since))[0]
    assert (status["evseId"], status["connectorId"], status["connectorStatus"]) == (2, 1, "Unavailable")
    reply = await csms.call(station.station.id, "ChangeAvailability", _change("Inoperative", {"id": 9}))
    assert reply["status"] == "Rejected"


async def test_inoperative_during_a_transaction_is_scheduled(ocpp, csms, station, evse_io, probe) -> None:
    transactions = {1: 1}
    ocpp.transactions.active_transactions = lambda evse_id=None: (
        sum(transactions.values()) if evse_id is None else transactions.get(evse_id, 0))
    await evse_io.publish(1, connector_status="Occupied", charging_state="Charging",
                          session={"session_id": "s1", "authorized": True})
    await _status(csms, station, 1, "Occupied")
    reply = await csms.call(station.station.id, "ChangeAvailability", _change("Inoperative", {"id": 1}))
    assert reply == {"status": "Scheduled"}
    assert not any(name == "set_availability" for name, _ in evse_io.calls)  # not before the transaction ends
    since = mark(csms, station)
    transactions[1] = 0
    await evse_io.publish(1, connector_status="Available", charging_state="Idle", session=None)
    ocpp.transactions.transactions_changed()
    await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["availability"] == "Inoperative")
    await _status(csms, station, 1, "Unavailable", since=since)
    assert [c.payload["connectorStatus"] for c in calls(csms, station, "StatusNotification", since)] == [
        "Unavailable"]


async def _status(csms, station, evse_id: int, status: str, since: int = 0) -> dict:
    """The first StatusNotification of that EVSE with that status (from index since)."""
    while True:
        record = await wait_call(csms, station, "StatusNotification", since=since)
        if record.payload["evseId"] == evse_id and record.payload["connectorStatus"] == status:
            return record.payload
        since = record.index + 1


async def test_pending_firmware_install_makes_idle_evses_unavailable_until_it_is_over(
        ocpp, csms, station, evse_io, run_dir) -> None:
    from bus.client import BusClient

    firmware = BusClient(run_dir, "firmware")
    await firmware.start()
    try:
        since = mark(csms, station)
        await firmware.publish_state("install_pending", {"pending": True, "allow_new_sessions": False})
        statuses = await wait_statuses(csms, station, count=2, since=since)
        assert {s["evseId"]: s["connectorStatus"] for s in statuses} == {1: "Unavailable", 2: "Unavailable"}
        assert ("set_availability", {"evse": 1, "availability": "Inoperative"}) in evse_io.calls
        since = mark(csms, station)
        await firmware.publish_state("install_pending", {"pending": False, "allow_new_sessions": False})
        statuses = await wait_statuses(csms, station, count=2, since=since)
        assert {s["evseId"]: s["connectorStatus"] for s in statuses} == {1: "Available", 2: "Available"}
    finally:
        await firmware.close()
