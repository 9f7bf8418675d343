"""The device model on the CSMS link: Get/SetVariables, reports, values fed by the bus and by the CSMS."""

from __future__ import annotations

import asyncio

import pytest

from bus.harness import wait_until
from sim.csms import CsmsCallError
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import ICCID, IMSI, calls, mark, start_ocpp, wait_call

OCPP_COMM = {"name": "OCPPCommCtrlr"}


def _get(component: dict, variable: str, **extra) -> dict:
    return {"component": component, "variable": {"name": variable}, **extra}


async def test_get_variables_answers_each_status(ocpp, csms, station) -> None:
    reply = await csms.call(station.station.id, "GetVariables", {"getVariableData": [
        _get(OCPP_COMM, "OfflineThreshold"),
        _get({"name": "UnknownComponent"}, "OfflineThreshold"),
        _get(OCPP_COMM, "UnknownVariable"),
        _get(OCPP_COMM, "OfflineThreshold", attributeType="Target"),
        _get({"name": "SecurityCtrlr"}, "BasicAuthPassword"),
        _get({"name": "DataLink"}, "ICCID"),
        _get({"name": "Connector", "evse": {"id": 2, "connectorId": 1}}, "AvailabilityState"),
    ]})
    statuses = [(r["attributeStatus"], r.get("attributeValue")) for r in reply["getVariableResult"]]
    assert statuses == [("Accepted", "300"), ("UnknownComponent", None), ("UnknownVariable", None),
                        ("NotSupportedAttributeType", None), ("Rejected", None), ("Accepted", ICCID),
                        ("Accepted", "Available")]


async def test_too_many_get_variables_is_an_occurrence_constraint_violation(ocpp, csms, station) -> None:
    ocpp_limit = ocpp.dm.get_int("DeviceDataCtrlr", "ItemsPerMessage", variable_instance="GetVariables")
    data = [_get(OCPP_COMM, "OfflineThreshold")] * (ocpp_limit + 1)
    with pytest.raises(CsmsCallError) as refused:
        await csms.call(station.station.id, "GetVariables", {"getVariableData": data})
    assert refused.value.code == "OccurrenceConstraintViolation"


async def test_set_variables_persists_and_refuses_read_only_and_out_of_range(station, csms, evse_io, modem,
                                                                             probe) -> None:
    sid = station.station.id
    async with start_ocpp(station):
        await wait_call(csms, station, "SecurityEventNotification")
        reply = await csms.call(sid, "SetVariables", {"setVariableData": [
            {**_get(OCPP_COMM, "OfflineThreshold"), "attributeValue": "120"},
            {**_get(OCPP_COMM, "FileTransferProtocols"), "attributeValue": "HTTP"},
            {**_get(OCPP_COMM, "HeartbeatInterval"), "attributeValue": "0"},
        ]})
        assert [(r["attributeStatus"], r.get("attributeStatusInfo", {}).get("reasonCode"))
                for r in reply["setVariableResult"]] == [("Accepted", None), ("Rejected", "ReadOnly"),
                                                         ("Rejected", "ValueOutOfRange")]
    async with start_ocpp(station) as service:
        assert service.dm.get_int("OCPPCommCtrlr", "OfflineThreshold") == 120


async def test_get_base_report_pages_follow_the_response(ocpp, csms, station) -> None:
    ocpp.dm.set("DeviceDataCtrlr", "ItemsPerMessage", 20, variable_instance="GetReport")
    since = mark(csms, station)
    reply = await csms.call(station.station.id, "GetBaseReport", {"requestId": 42, "reportBase": "FullInventory"})
    assert reply == {"status": "Accepted"}
    pages = []
    while not pages or pages[-1]["tbc"]:
        record = await wait_call(csms, station, "NotifyReport", since=since)
        pages.append(record.payload)
        since = record.index + 1
    assert [p["seqNo"] for p in pages] == list(range(len(pages))) and len(pages) > 3
    assert all(len(p["reportData"]) <= 20 and p["requestId"] == 42 for p in pages)
    reported = {(d["component"]["name"], d["variable"]["name"]): d for p in pages for d in p["reportData"]}
    assert reported[("DataLink", "IMSI")]["variableAttribute"][0]["value"] == IMSI
    assert "value" not in reported[("SecurityCtrlr", "BasicAuthPassword")]["variableAttribute"][0]


async def test_get_report_by_component_criteria(ocpp, csms, station) -> None:
    since = mark(csms, station)
    reply = await csms.call(station.station.id, "GetReport", {"requestId": 5, "componentVariable": [
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"}}]})
    assert reply == {"status": "Accepted"}
    page = (await wait_call(csms, station, "NotifyReport", since=since)).payload
    assert page["tbc"] is False and len(page["reportData"]) == 1
    assert page["reportData"][0]["variableAttribute"][0]["value"] == "Available"


async def test_new_basic_auth_password_reconnects_with_it(ocpp, csms, station) -> None:
    new_password = "a-brand-new-password-42"
    csms.set_password(station.csms.password, new_password)
    reply = await csms.call(station.station.id, "SetVariables", {"setVariableData": [
        {**_get({"name": "SecurityCtrlr"}, "BasicAuthPassword"), "attributeValue": new_password}]})
    assert reply["setVariableResult"][0]["attributeStatus"] == "Accepted"
    await wait_until(lambda: ocpp.link.connection.stats.connects == 2)  # no bus event for a quick reconnect
    assert ocpp.link.connection.settings.basic_auth_password == new_password
    assert ocpp.dm.get("SecurityCtrlr", "BasicAuthPassword") == new_password


async def test_refused_new_password_falls_back_to_the_old_one(ocpp, csms, station) -> None:
    old = station.csms.password
    reply = await csms.call(station.station.id, "SetVariables", {"setVariableData": [
        {**_get({"name": "SecurityCtrlr"}, "BasicAuthPassword"), "attributeValue": "not-known-to-the-csms"}]})
    assert reply["setVariableResult"][0]["attributeStatus"] == "Accepted"
    await wait_until(lambda: ocpp.link.connection.stats.connects == 2)
    assert ocpp.link.connection.settings.basic_auth_password == old
    assert ocpp.dm.get("SecurityCtrlr", "BasicAuthPassword") == old


async def test_short_password_is_rejected_and_the_link_stays(ocpp, csms, station) -> None:
    reply = await csms.call(station.station.id, "SetVariables", {"setVariableData": [
        {**_get({"name": "SecurityCtrlr"}, "BasicAuthPassword"), "attributeValue": "short"}]})
    assert reply["setVariableResult"][0]["attributeStatus"] == "Rejected"
    await ocpp.boot.heartbeat()
    assert ocpp.link.connection.stats.connects == 1


async def test_modem_signal_feeds_the_data_link_component(ocpp, modem) -> None:
    changed = asyncio.get_running_loop().create_future()
    ocpp.dm.on_change("DataLink", "SignalStrength", lambda c: changed.done() or changed.set_result(c.new_value))
    await modem.publish_state("modem", {"iccid": ICCID, "imsi": IMSI, "signal_dbm": -95, "link": "ok"})
    assert await asyncio.wait_for(changed, 3) == "-95"


async def test_websocket_ping_interval_set_by_the_csms_reaches_the_link(ocpp, csms, station) -> None:
    await csms.call(station.station.id, "SetVariables", {"setVariableData": [
        {**_get(OCPP_COMM, "WebSocketPingInterval"), "attributeValue": "7"},
        {**_get(OCPP_COMM, "RetryBackOffWaitMinimum"), "attributeValue": "3"}]})
    assert ocpp.link.connection._ping_interval_s == 7
    assert ocpp.link.connection.back_off.wait_minimum_s == 3
    assert not calls(csms, station, "BootNotification", since=1)
