"""The ocpp service's boot (B01–B04) and heartbeat against the development CSMS."""

from __future__ import annotations

import logging

import pytest

from sim.csms import CsmsCallError
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import (
    ICCID,
    IMSI,
    calls,
    mark,
    start_ocpp,
    wait_call,
    wait_statuses,
)


async def test_boot_accepted_sends_identity_modem_and_every_connector_status(ocpp, csms, station) -> None:
    boot = calls(csms, station, "BootNotification")[0].payload
    assert boot["reason"] == "PowerUp"
    assert boot["chargingStation"] == {"model": "REON", "vendorName": "REWATT",
                                       "serialNumber": station.station.serial_number,
                                       "firmwareVersion": "0.1.1", "modem": {"iccid": ICCID, "imsi": IMSI}}
    statuses = [c.payload for c in calls(csms, station, "StatusNotification")]
    assert {(s["evseId"], s["connectorId"], s["connectorStatus"]) for s in statuses} == {
        (1, 1, "Available"), (2, 1, "Available")}
    startup = await wait_call(csms, station, "SecurityEventNotification")
    assert startup.payload["type"] == "StartupOfTheDevice"
    assert startup.index > max(c.index for c in calls(csms, station, "StatusNotification"))


async def test_boot_is_logged_like_the_manual_and_the_state_shows_accepted(
        caplog, station, csms, evse_io, modem, probe) -> None:
    caplog.set_level(logging.INFO, logger="reon.ocpp.boot")
    async with start_ocpp(station):
        _, env = await probe.wait_for("ocpp.state.csms", lambda e: e.body["registration"] == "Accepted"
                                      and e.body["queue_depth"] == 0)  # StartupOfTheDevice delivered
    assert env.body["connected"] and env.body["security_profile"] == 1 and env.body["dead_letters"] == 0
    assert env.body["url"].endswith(f"/{station.station.id}") and env.body["last_message_at"] > 0
    assert "BootNotificationRequest shifted from queue and send reason: 'PowerUp'" in caplog.messages


async def test_firmware_version_file_and_persisted_reason_are_used_once(
        station, csms, evse_io, modem, probe) -> None:
    station.paths.data_dir.mkdir(parents=True, exist_ok=True)
    (station.paths.data_dir / "firmware_version").write_text("0.2.0\n")
    async with start_ocpp(station):
        await wait_statuses(csms, station, count=2)
        assert await probe.call("ocpp", "set_boot_reason", {"reason": "FirmwareUpdate"}) == {
            "reason": "FirmwareUpdate"}
    since = mark(csms, station)
    async with start_ocpp(station) as service:
        boot = (await wait_call(csms, station, "BootNotification", since=since)).payload
        assert boot["reason"] == "FirmwareUpdate" and boot["chargingStation"]["firmwareVersion"] == "0.2.0"
        assert service.dm.get("ChargingStation", "FirmwareVersion") == "0.2.0"
        await wait_statuses(csms, station, count=2, since=since)
    since = mark(csms, station)
    async with start_ocpp(station):
        boot = (await wait_call(csms, station, "BootNotification", since=since)).payload
        assert boot["reason"] == "PowerUp"


async def test_without_modem_state_the_modem_field_is_left_out(station, csms, evse_io, probe, monkeypatch) -> None:
    monkeypatch.setattr("services.ocpp_client.provisioning.boot.MODEM_WAIT_S", 0.05)
    async with start_ocpp(station):
        boot = (await wait_call(csms, station, "BootNotification")).payload
        assert "modem" not in boot["chargingStation"]


async def test_pending_retries_after_interval_and_answers_device_model_requests(
        station, csms, evse_io, modem, probe) -> None:
    csms.set_boot_response("Pending", 1)
    sid = station.station.id
    async with start_ocpp(station):
        first = await wait_call(csms, station, "BootNotification")
        await _registration(probe, "Pending")
        threshold = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}}
        set_reply = await csms.call(sid, "SetVariables", {"setVariableData": [{**threshold, "attributeValue": "300"}]})
        assert set_reply["setVariableResult"][0]["attributeStatus"] == "Accepted"
        get_reply = await csms.call(sid, "GetVariables", {"getVariableData": [threshold]})
        assert get_reply["getVariableResult"][0]["attributeValue"] == "300"
        report = await csms.call(sid, "GetBaseReport", {"requestId": 7, "reportBase": "SummaryInventory"})
        assert report == {"status": "Accepted"}
        page = await wait_call(csms, station, "NotifyReport")
        assert page.payload["requestId"] == 7
        csms.set_boot_response("Accepted", 300)
        second = await wait_call(csms, station, "BootNotification", since=first.index + 1)
        assert second.time - first.time >= 1.0
        await wait_statuses(csms, station, count=2, since=second.index)
        before = [c.action for c in calls(csms, station) if c.index < second.index]
        assert set(before) == {"BootNotification", "NotifyReport"}  # nothing else while Pending


async def test_pending_trigger_boot_sends_at_once_with_reason_triggered(station, csms, evse_io, modem,
                                                                         probe) -> None:
    csms.set_boot_response("Pending", 60)
    async with start_ocpp(station):
        first = await wait_call(csms, station, "BootNotification")
        await _registration(probe, "Pending")
        csms.set_boot_response("Accepted", 300)
        reply = await csms.call(station.station.id, "TriggerMessage", {"requestedMessage": "BootNotification"})
        assert reply["status"] == "Accepted"
        second = await wait_call(csms, station, "BootNotification", since=first.index + 1)
        assert second.payload["reason"] == "Triggered"
        await wait_statuses(csms, station, count=2, since=second.index)


async def test_rejected_answers_security_error_and_sends_nothing_but_boot(station, csms, evse_io, modem,
                                                                          probe) -> None:
    csms.set_boot_response("Rejected", 1)
    sid = station.station.id
    async with start_ocpp(station):
        first = await wait_call(csms, station, "BootNotification")
        await _registration(probe, "Rejected")
        with pytest.raises(CsmsCallError) as refused:
            await csms.call(sid, "GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"})
        assert refused.value.code == "SecurityError"
        with pytest.raises(CsmsCallError, match="SecurityError"):
            await csms.call(sid, "TriggerMessage", {"requestedMessage": "Heartbeat"})
        with pytest.raises(CsmsCallError, match="SecurityError"):  # not supported at all, still SecurityError
            await csms.call(sid, "ClearChargingProfile", {})
        csms.set_boot_response("Accepted", 300)
        second = await wait_call(csms, station, "BootNotification", since=first.index + 1)
        assert second.time - first.time >= 1.0
        assert {c.action for c in calls(csms, station) if c.index < second.index} == {"BootNotification"}
        await wait_statuses(csms, station, count=2, since=second.index)


async def test_heartbeat_follows_the_interval_of_the_boot_response(station, csms, evse_io, modem) -> None:
    csms.set_boot_response("Accepted", 1)
    async with start_ocpp(station) as service:
        boot = await wait_call(csms, station, "BootNotification")
        beat = await wait_call(csms, station, "Heartbeat", timeout=3)
        assert beat.time - boot.time >= 1.0
        assert service.dm.get_int("OCPPCommCtrlr", "HeartbeatInterval") == 1


async def test_reconnect_sends_no_new_boot_and_reports_only_changed_connectors(ocpp, csms, station, evse_io,
                                                                            probe) -> None:
    await probe.call("ocpp", "disconnect")
    await evse_io.publish(2, connector_status="Occupied", charging_state="EVConnected", cp_state="B")
    since = mark(csms, station)
    await probe.call("ocpp", "connect")
    status = (await wait_statuses(csms, station, count=1, since=since))[0]
    assert (status["evseId"], status["connectorStatus"]) == (2, "Occupied")
    await ocpp.boot.heartbeat()  # one more round trip: nothing else was sent before it
    assert [c.action for c in calls(csms, station, since=since)] == ["StatusNotification", "Heartbeat"]


async def test_reconnect_after_more_than_offline_threshold_reports_every_connector(ocpp, csms, station,
                                                                                  probe) -> None:
    ocpp.dm.set("OCPPCommCtrlr", "OfflineThreshold", 0)
    await probe.call("ocpp", "disconnect")
    since = mark(csms, station)
    await probe.call("ocpp", "connect")
    statuses = await wait_statuses(csms, station, count=2, since=since)
    assert {s["evseId"] for s in statuses} == {1, 2}
    assert not calls(csms, station, "BootNotification", since=since)


async def test_changed_modem_iccid_means_a_new_boot_at_once(ocpp, csms, station, modem, probe) -> None:
    since = mark(csms, station)
    await modem.publish_state("modem", {"iccid": "8970199170219599999", "imsi": IMSI, "link": "ok"})
    boot = (await wait_call(csms, station, "BootNotification", since=since)).payload
    assert boot["reason"] == "Unknown"
    assert boot["chargingStation"]["modem"]["iccid"] == "8970199170219599999"
    assert ocpp.dm.get("DataLink", "ICCID") == "8970199170219599999"


async def _registration(probe, status: str) -> None:
    await probe.wait_for("ocpp.state.csms", lambda e: e.body["registration"] == status)


async def test_new_sim_is_a_security_event_and_a_new_boot_notification(ocpp, csms, station, modem) -> None:
    since = len(csms.messages(station.station.id))
    new_iccid = "8970199170219500099"
    await modem.publish_event("sim_changed", {"old_iccid": ICCID, "new_iccid": new_iccid})
    await modem.publish_state("modem", {"iccid": new_iccid, "imsi": IMSI, "imei": "356938035643809",
                                        "operator": "REWATT Mobile", "registration": "home", "signal_dbm": -71,
                                        "link": "ok"})
    event = await wait_call(csms, station, "SecurityEventNotification", since=since)
    assert event.payload["type"] == "SimCardChanged" and new_iccid in event.payload["techInfo"]
    boot = await wait_call(csms, station, "BootNotification", since=since)
    assert boot.payload["chargingStation"]["modem"] == {"iccid": new_iccid, "imsi": IMSI}
