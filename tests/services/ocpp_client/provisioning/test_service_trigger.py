"""TriggerMessage (F06): the response goes out before the triggered message."""

from __future__ import annotations

from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import mark, wait_call


async def _trigger(csms, station, message: str, evse: dict | None = None) -> tuple[dict, int]:
    since = mark(csms, station)
    payload = {"requestedMessage": message, **({"evse": evse} if evse else {})}
    reply = await csms.call(station.station.id, "TriggerMessage", payload)
    return reply, since


def _result_index(csms, station, since: int) -> int:
    return next(r.index for r in csms.messages(station.station.id, "TriggerMessage", since) if r.kind == "result")


async def test_triggered_heartbeat_follows_the_response(ocpp, csms, station) -> None:
    reply, since = await _trigger(csms, station, "Heartbeat")
    assert reply == {"status": "Accepted"}
    beat = await wait_call(csms, station, "Heartbeat", since=since)
    assert beat.index > _result_index(csms, station, since)


async def test_triggered_status_notification_for_one_connector(ocpp, csms, station, evse_io) -> None:
    await evse_io.publish(2, connector_status="Occupied", charging_state="EVConnected", cp_state="B")
    await wait_call(csms, station, "StatusNotification", since=mark(csms, station) - 1)
    reply, since = await _trigger(csms, station, "StatusNotification", {"id": 2, "connectorId": 1})
    assert reply == {"status": "Accepted"}
    record = await wait_call(csms, station, "StatusNotification", since=since)
    assert record.index > _result_index(csms, station, since)
    assert (record.payload["evseId"], record.payload["connectorStatus"]) == (2, "Occupied")


async def test_boot_notification_trigger_is_rejected_once_accepted(ocpp, csms, station) -> None:
    reply, _ = await _trigger(csms, station, "BootNotification")
    assert reply == {"status": "Rejected"}


async def test_unknown_evse_is_rejected_and_unsupported_messages_not_implemented(ocpp, csms, station) -> None:
    reply, _ = await _trigger(csms, station, "StatusNotification", {"id": 5, "connectorId": 1})
    assert reply["status"] == "Rejected"
    reply, _ = await _trigger(csms, station, "SignCombinedCertificate")
    assert reply == {"status": "NotImplemented"}
    reply, _ = await _trigger(csms, station, "MeterValues")  # no meter has sent a sample
    assert reply == {"status": "Rejected"}


async def test_meter_values_trigger_runs_the_hook_after_the_response(ocpp, csms, station) -> None:
    asked: list[int | None] = []

    def trigger_meter_values(evse_id):
        asked.append(evse_id)

        async def send() -> None:
            await ocpp.gate.send("MeterValues", {"evseId": evse_id, "meterValue": [{
                "timestamp": ocpp.clock.now_text(), "sampledValue": [{"value": 1234.0, "context": "Trigger"}]}]})
        return send

    ocpp.transactions.meter.trigger_meter_values = trigger_meter_values
    reply, since = await _trigger(csms, station, "MeterValues", {"id": 1})
    assert reply == {"status": "Accepted"} and asked == [1]
    record = await wait_call(csms, station, "MeterValues", since=since)
    assert record.index > _result_index(csms, station, since)
    ocpp.transactions.meter.trigger_meter_values = lambda evse_id: None  # e.g. no meter on that EVSE
    reply, _ = await _trigger(csms, station, "MeterValues", {"id": 1})
    assert reply == {"status": "Rejected"}


async def test_firmware_status_is_idle_without_the_firmware_service(ocpp, csms, station) -> None:
    reply, since = await _trigger(csms, station, "FirmwareStatusNotification", {"id": 1})
    assert reply == {"status": "Accepted"}
    record = await wait_call(csms, station, "FirmwareStatusNotification", since=since)
    assert record.payload == {"status": "Idle"}


async def test_log_status_comes_from_the_firmware_service(ocpp, csms, station, probe) -> None:
    async def status(args):
        return {"firmware": {"status": "Downloading", "request_id": 3}, "log": {"status": "Uploading",
                                                                                "request_id": 9}}

    async def unused(args):
        raise AssertionError("not called by this test")

    from services.firmware.contract import CONTRACT as FIRMWARE

    await probe.implement("firmware", {**{c.name: unused for c in FIRMWARE.commands}, "status": status})
    reply, since = await _trigger(csms, station, "LogStatusNotification")
    assert reply == {"status": "Accepted"}
    record = await wait_call(csms, station, "LogStatusNotification", since=since)
    assert record.payload == {"status": "Uploading", "requestId": 9}
