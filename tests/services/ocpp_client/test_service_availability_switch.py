"""The manual's availability switch in the running service: SetVariables on EVSE.AvailabilityStatus ends in
the same state as ChangeAvailability (evse_io told, StatusNotification after the response, persisted across a
restart of the service), and GetVariables reads it back."""

from __future__ import annotations

from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import mark, start_ocpp, wait_call, wait_statuses


def _write(evse_id: int, value: str) -> dict:
    return {"setVariableData": [{"component": {"name": "EVSE", "evse": {"id": evse_id}},
                                 "variable": {"name": "AvailabilityStatus"}, "attributeValue": value}]}


def _read(evse_id: int) -> dict:
    return {"getVariableData": [{"component": {"name": "EVSE", "evse": {"id": evse_id}},
                                 "variable": {"name": "AvailabilityStatus"}}]}


async def test_switch_to_unavailable_is_change_availability_and_survives_a_restart(station, csms, evse_io, modem,
                                                                                   probe) -> None:
    async with start_ocpp(station):
        await wait_call(csms, station, "SecurityEventNotification")
        since = mark(csms, station)
        reply = await csms.call(station.station.id, "SetVariables", _write(2, "Unavailable"))
        assert reply["setVariableResult"][0]["attributeStatus"] == "Accepted"
        assert ("set_availability", {"evse": 2, "availability": "Inoperative"}) in evse_io.calls
        status = await wait_call(csms, station, "StatusNotification", since=since)
        assert (status.payload["evseId"], status.payload["connectorStatus"]) == (2, "Unavailable")
        result = next(r for r in csms.messages(station.station.id, "SetVariables", since) if r.kind == "result")
        assert status.index > result.index  # the status follows the SetVariablesResponse
    since = mark(csms, station)
    async with start_ocpp(station):
        statuses = await wait_statuses(csms, station, count=2, since=since)
        assert {s["evseId"]: s["connectorStatus"] for s in statuses} == {1: "Available", 2: "Unavailable"}
        reply = await csms.call(station.station.id, "GetVariables", _read(2))
        assert reply["getVariableResult"][0]["attributeValue"] == "Unavailable"
        reply = await csms.call(station.station.id, "ChangeAvailability",
                                {"operationalStatus": "Operative", "evse": {"id": 2}})
        assert reply == {"status": "Accepted"}
        reply = await csms.call(station.station.id, "GetVariables", _read(2))
        assert reply["getVariableResult"][0]["attributeValue"] == "Available"


async def test_switch_rejects_a_value_it_does_not_know_and_changes_nothing(ocpp, csms, station, evse_io) -> None:
    calls_before = list(evse_io.calls)
    reply = await csms.call(station.station.id, "SetVariables", _write(1, "OutOfOrder"))
    assert reply["setVariableResult"][0]["attributeStatus"] == "Rejected"
    assert evse_io.calls == calls_before
    reply = await csms.call(station.station.id, "SetVariables", _write(9, "Unavailable"))
    assert reply["setVariableResult"][0]["attributeStatus"] == "UnknownComponent"
    reply = await csms.call(station.station.id, "SetVariables", {"setVariableData": [
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"},
         "attributeValue": "Unavailable"}]})
    assert reply["setVariableResult"][0]["attributeStatus"] == "Rejected"  # the standardized one: ReadOnly
