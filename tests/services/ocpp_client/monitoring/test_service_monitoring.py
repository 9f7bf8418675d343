"""The monitoring block inside the running OCPP service, against the development CSMS with bus stand-ins:
a lock fault reaches the CSMS as NotifyEvent and as Faulted (and its clearing too), a threshold monitor on the
meter's power fires, monitors and event ids survive a restart of the service, REWATT Health answers.

The service is the real OcppService (service_harness.TestOcppService only records resets).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bus.client import BusClient
from bus.harness import Probe
from bus.runtime import running
from sim.csms import DevCsms
from station.config import StationConfig
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import EvseIoStandIn, TestOcppService, mark, wait_call

LOCK = {"name": "ConnectorPlugRetentionLock", "evse": {"id": 1, "connectorId": 1}}


@contextlib.asynccontextmanager
async def monitored_service(station: StationConfig, csms: DevCsms, probe: Probe
                            ) -> AsyncIterator[TestOcppService]:
    async with running(TestOcppService, station) as service:
        await wait_call(csms, station, "SecurityEventNotification")
        await probe.wait_for("ocpp.state.csms", lambda e: e.body["registration"] == "Accepted"
                             and e.body["queue_depth"] == 0)
        yield service


@pytest.fixture
async def meter(station: StationConfig, probe: Probe) -> AsyncIterator[BusClient]:
    client = BusClient(station.paths.run_dir, "meter")
    await client.start()
    yield client
    await client.close()


async def _event(csms: DevCsms, station: StationConfig, since: int, predicate) -> dict[str, Any]:
    """The first eventData sent at or after `since` that matches."""
    index = since
    while True:
        record = await wait_call(csms, station, "NotifyEvent", since=index)
        for data in record.payload["eventData"]:
            if predicate(data):
                return data
        index = record.index + 1


async def test_a_lock_fault_reaches_the_csms_as_notify_event_and_faulted_and_so_does_its_clearing(
        station, csms, evse_io: EvseIoStandIn, modem, meter, probe) -> None:
    """TC_G_20 end to end: evse_io reports lock_failed (Faulted) → NotifyEvent on
    ConnectorPlugRetentionLock.Problem "true" (Delta) and StatusNotification Faulted; cleared → both back."""
    async with monitored_service(station, csms, probe):
        since = mark(csms, station)
        await evse_io.publish(1, connector_status="Faulted", faults=["lock_failed"])
        raised = await _event(csms, station, since, lambda d: d["component"] == LOCK)
        assert (raised["trigger"], raised["actualValue"], raised["variable"]) == ("Delta", "true", {"name": "Problem"})
        status = await wait_call(csms, station, "StatusNotification", since=since)
        assert status.payload["connectorStatus"] == "Faulted" and status.payload["evseId"] == 1
        since = mark(csms, station)
        await evse_io.publish(1, connector_status="Available", faults=[])
        cleared = await _event(csms, station, since, lambda d: d["component"] == LOCK)
        assert (cleared["actualValue"], cleared["cleared"]) == ("false", True)
        status = await wait_call(csms, station, "StatusNotification", since=since)
        assert status.payload["connectorStatus"] == "Available"
        got = await csms.call(station.station.id, "GetVariables", {"getVariableData": [
            {"component": LOCK, "variable": {"name": "Problem"}}]})
        assert got["getVariableResult"][0]["attributeValue"] == "false"


async def test_a_power_threshold_set_by_the_csms_fires_when_the_meter_crosses_it(
        station, csms, evse_io, modem, meter: BusClient, probe) -> None:
    """TC_N_20 on the bus: UpperThreshold 3000 W on EVSE 1 Power; samples 1000 W then 7000 W → Alerting."""
    async with monitored_service(station, csms, probe):
        response = await csms.call(station.station.id, "SetVariableMonitoring", {"setMonitoringData": [
            {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
             "type": "UpperThreshold", "value": 3000, "severity": 4}]})
        [result] = response["setMonitoringResult"]
        assert result["status"] == "Accepted"
        since = mark(csms, station)
        for power_w in (1000.0, 7000.0):
            await meter.publish_event("sample.1", {"evse": 1, "energy_import_wh": 10.0, "power_w": power_w,
                                                   "read_at": 1.0})
        event = await _event(csms, station, since, lambda d: d.get("variableMonitoringId") == result["id"])
        assert (event["trigger"], event["actualValue"]) == ("Alerting", "7000")
        got = await csms.call(station.station.id, "GetVariables", {"getVariableData": [
            {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}}]})
        assert got["getVariableResult"][0]["attributeValue"] == "7000"


async def test_monitors_and_event_ids_survive_a_restart_of_the_service(
        station, csms, evse_io, modem, meter, probe) -> None:
    async with monitored_service(station, csms, probe):
        response = await csms.call(station.station.id, "SetVariableMonitoring", {"setMonitoringData": [
            {"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "Power"},
             "type": "Delta", "value": 500, "severity": 6}]})
        monitor_id = response["setMonitoringResult"][0]["id"]
        since = mark(csms, station)
        await evse_io.publish(2, connector_status="Faulted", faults=["rcd_triggered"])
        first = await _event(csms, station, since, lambda d: d["component"]["name"] == "RCD")
    since = mark(csms, station)
    await evse_io.publish(2, connector_status="Available", faults=[])  # cleared while the service is down
    async with monitored_service(station, csms, probe):
        cleared = await _event(csms, station, since, lambda d: d["component"]["name"] == "RCD" and d.get("cleared"))
        assert cleared["actualValue"] == "false" and cleared["eventId"] > first["eventId"]
        report_since = mark(csms, station)
        assert await csms.call(station.station.id, "GetMonitoringReport", {"requestId": 5, "componentVariable": [
            {"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "Power"}}]}) == {
            "status": "Accepted"}
        page = await wait_call(csms, station, "NotifyMonitoringReport", since=report_since)
        assert page.payload["monitor"][0]["variableMonitoring"][0]["id"] == monitor_id


async def test_rewatt_health_and_other_vendors_over_the_link(station, csms, evse_io, modem, meter, probe) -> None:
    async with monitored_service(station, csms, probe):
        reply = await csms.call(station.station.id, "DataTransfer", {"vendorId": "REWATT", "messageId": "Health"})
        assert reply["status"] == "Accepted"
        assert reply["data"]["csms"]["registration"] == "Accepted"
        assert reply["data"]["evses"]["1"]["connector_status"] == "Available"
        assert await csms.call(station.station.id, "DataTransfer", {"vendorId": "REWATT", "messageId": "Nope"}) == {
            "status": "UnknownMessageId"}
        assert await csms.call(station.station.id, "DataTransfer", {"vendorId": "ACME"}) == {
            "status": "UnknownVendorId"}


async def test_live_hardware_state_can_be_read_and_monitored(station, csms, evse_io, modem, meter, probe) -> None:
    """Delta on PowerContactor.Active of EVSE 1: the relays closing (evse_io) → NotifyEvent "true"."""
    async with monitored_service(station, csms, probe):
        contactor = {"component": {"name": "PowerContactor", "evse": {"id": 1}}, "variable": {"name": "Active"}}
        got = await csms.call(station.station.id, "GetVariables", {"getVariableData": [
            contactor, {"component": {"name": "CPPWMController", "evse": {"id": 1}}, "variable": {"name": "State"}}]})
        assert [r["attributeValue"] for r in got["getVariableResult"]] == ["false", "A"]
        response = await csms.call(station.station.id, "SetVariableMonitoring", {"setMonitoringData": [
            {**contactor, "type": "Delta", "value": 1, "severity": 5}]})
        monitor_id = response["setMonitoringResult"][0]["id"]
        since = mark(csms, station)
        await evse_io.publish(1, relays_closed=True, cp_state="C", connector_status="Occupied",
                              charging_state="Charging")
        event = await _event(csms, station, since, lambda d: d.get("variableMonitoringId") == monitor_id)
        assert (event["trigger"], event["actualValue"]) == ("Delta", "true")
