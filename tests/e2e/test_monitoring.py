"""Monitoring on the whole simulated station under supervisord (the CSMS in the test process):
a lock that fails in the simulated world reaches the CSMS as NotifyEvent and as Faulted, and so does its
clearing; a threshold monitor on EVSE 2's power fires when the simulated EV draws power; the monitor survives
kill -9 of the OCPP service."""

import asyncio
import os
import signal
from typing import Any

from sim.csms import DevCsms
from station.config import load_config
from tests.e2e.helpers import poll, reonctl, wait_status
from tests.stations import free_port, write_station

CARD = "04A1B2C3"
LOCK = {"name": "ConnectorPlugRetentionLock", "evse": {"id": 1, "connectorId": 1}}


def ok(config, *args: str) -> str:
    result = reonctl(config, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def events(csms: DevCsms, station_id: str) -> list[dict[str, Any]]:
    return [data for record in csms.messages(station_id, "NotifyEvent") if record.kind == "call"
            for data in record.payload["eventData"]]


def statuses(csms: DevCsms, station_id: str, evse_id: int) -> list[str]:
    return [r.payload["connectorStatus"] for r in csms.messages(station_id, "StatusNotification")
            if r.kind == "call" and r.payload["evseId"] == evse_id]


async def test_lock_fault_power_threshold_and_kill_9_reach_the_csms(tmp_path) -> None:
    config = write_station(tmp_path, sim=True)
    station = load_config(config)
    station_id = station.station.id
    csms = DevCsms(password=station.csms.password, port=free_port())
    await csms.start()
    config.write_text(config.read_text().replace(f'url = "{station.csms.url}"', f'url = "{csms.url}"'))
    try:
        up = await asyncio.to_thread(reonctl, config, "up", "--timeout", "60")
        assert up.returncode == 0, up.stdout + up.stderr
        await asyncio.to_thread(wait_status, config, lambda d: d["csms"]["registration"] == "Accepted")
        reply = await csms.call(station_id, "SetVariableMonitoring", {"setMonitoringData": [
            {"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "Power"},
             "type": "UpperThreshold", "value": 1000, "severity": 4}]})
        [result] = reply["setMonitoringResult"]
        assert result["status"] == "Accepted"

        # TC_G_20: the lock fails when the station locks the plug for the authorized session
        await asyncio.to_thread(ok, config, "sim", "fault", "1", "lock_failure")
        await asyncio.to_thread(ok, config, "sim", "plug", "1")
        await asyncio.to_thread(ok, config, "sim", "swipe", "1", CARD)
        raised = await asyncio.to_thread(
            poll, lambda: [e for e in events(csms, station_id) if e["component"] == LOCK],
            lambda found: len(found) >= 1, timeout=30, what="NotifyEvent of the lock")
        assert (raised[0]["actualValue"], raised[0]["trigger"]) == ("true", "Delta")
        await asyncio.to_thread(poll, lambda: statuses(csms, station_id, 1), lambda s: "Faulted" in s,
                                what="StatusNotification Faulted")
        await asyncio.to_thread(ok, config, "sim", "clear-fault", "1", "lock_failure")
        await asyncio.to_thread(ok, config, "sim", "unplug", "1")
        cleared = await asyncio.to_thread(
            poll, lambda: [e for e in events(csms, station_id) if e["component"] == LOCK and e.get("cleared")],
            lambda found: len(found) >= 1, timeout=30, what="NotifyEvent of the lock cleared")
        assert cleared[0]["actualValue"] == "false"
        await asyncio.to_thread(poll, lambda: statuses(csms, station_id, 1), lambda s: s[-1] == "Available",
                                what="StatusNotification Available after the fault")

        # TC_N_20 on the simulated EV: charging on EVSE 2 crosses 1000 W
        await asyncio.to_thread(ok, config, "sim", "plug", "2")
        await asyncio.to_thread(ok, config, "sim", "swipe", "2", CARD)
        alert = await asyncio.to_thread(
            poll, lambda: [e for e in events(csms, station_id) if e.get("variableMonitoringId") == result["id"]],
            lambda found: len(found) >= 1, timeout=40, what="the power threshold event")
        assert alert[0]["trigger"] == "Alerting" and float(alert[0]["actualValue"]) > 1000
        assert alert[0].get("transactionId")

        # kill -9 of the OCPP service: the monitor is still there after supervisord restarts it
        doc = await asyncio.to_thread(wait_status, config, lambda d: d["services"]["ocpp"]["pid"])
        victim = doc["services"]["ocpp"]["pid"]
        before_kill = len(csms.messages(station_id))
        os.kill(victim, signal.SIGKILL)
        await csms.wait_for_message(station_id, "BootNotification", since=before_kill, timeout_s=30)
        await asyncio.to_thread(wait_status, config, lambda d: d["services"]["ocpp"]["pid"] not in (None, victim)
                                and d["csms"]["registration"] == "Accepted" and d["csms"]["connected"])
        since = len(csms.messages(station_id))
        reply = await csms.call(station_id, "GetMonitoringReport", {"requestId": 42, "componentVariable": [
            {"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "Power"}}]})
        assert reply["status"] == "Accepted"
        page = await csms.wait_for_message(station_id, "NotifyMonitoringReport", since=since, timeout_s=10)
        reported = page.payload["monitor"][0]["variableMonitoring"]
        assert [m["id"] for m in reported] == [result["id"]] and reported[0]["value"] == 1000
    finally:
        await asyncio.to_thread(reonctl, config, "down")
        await csms.stop()
