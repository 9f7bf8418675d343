"""The development CSMS (sim/csms) against the real station link and raw WebSocket clients."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from services.ocpp_client.link.connection import ConnectionSettings
from services.ocpp_client.link.rpc import CallError, CallTimeout
from sim.csms import NO_REPLY, CsmsCallError, DevCsms
from sim.csms.control import ControlServer, request, request_async
from tests.pki import Pki, make_pki, server_tls_context
from tests.services.ocpp_client.csms_stub import StationLink, start_station, stop_station

PASSWORD = "dev-csms-password-01"
STATION = "CS01"
BOOT = {"reason": "PowerUp", "chargingStation": {"model": "REON", "vendorName": "REWATT"}}
NOW = "2025-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("csms-pki")))


@pytest.fixture
async def csms() -> AsyncIterator[DevCsms]:
    server = await DevCsms(password=PASSWORD).start()
    yield server
    await server.stop()


@pytest.fixture
async def station(csms: DevCsms) -> AsyncIterator[StationLink]:
    link = await start_station(ConnectionSettings(csms.url + "/ocpp", STATION, 1, PASSWORD))
    await link.wait_connected()
    await csms.wait_for_station(STATION)
    yield link
    await stop_station(link)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_station_boots_and_the_message_is_recorded(csms: DevCsms, station: StationLink) -> None:
    reply = await station.rpc.call("BootNotification", BOOT)
    assert reply["status"] == "Accepted" and reply["interval"] == 300 and reply["currentTime"].endswith("Z")
    [record] = csms.messages(STATION, "BootNotification")
    assert (record.kind, record.payload) == ("call", BOOT) and record.time > 0


@pytest.mark.parametrize(
    ("headers", "path"),
    [({}, f"/{STATION}"), (basic(STATION, "wrong"), f"/{STATION}"), (basic("OTHER", PASSWORD), f"/{STATION}")],
    ids=["no-auth", "wrong-password", "user-is-not-the-station-id"],
)
async def test_bad_basic_auth_gets_401(csms: DevCsms, headers: dict[str, str], path: str) -> None:
    with pytest.raises(InvalidStatus) as caught:
        await connect(csms.url + path, subprotocols=["ocpp2.0.1"], additional_headers=headers, proxy=None)
    assert caught.value.response.status_code == 401


async def test_unknown_station_gets_404() -> None:
    csms = await DevCsms(password=PASSWORD, known_stations={"KNOWN"}).start()
    try:
        with pytest.raises(InvalidStatus) as caught:
            await connect(csms.url + "/NOPE", subprotocols=["ocpp2.0.1"],
                          additional_headers=basic("NOPE", PASSWORD), proxy=None)
        assert caught.value.response.status_code == 404
    finally:
        await csms.stop()


async def test_boot_response_is_configurable_per_csms_and_per_station(
    csms: DevCsms, station: StationLink
) -> None:
    csms.set_boot_response("Pending", 5)
    assert (await station.rpc.call("BootNotification", BOOT))["status"] == "Pending"
    csms.set_boot_response("Rejected", 7, station_id=STATION)
    reply = await station.rpc.call("BootNotification", BOOT)
    assert (reply["status"], reply["interval"]) == ("Rejected", 7)


async def test_station_initiated_messages_get_schema_valid_answers(station: StationLink) -> None:
    calls = {
        "Heartbeat": {},
        "StatusNotification": {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
        "NotifyReport": {"requestId": 1, "generatedAt": NOW, "seqNo": 0},
        "SecurityEventNotification": {"type": "StartupOfTheDevice", "timestamp": NOW},
        "MeterValues": {"evseId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": 1.0}]}]},
        "FirmwareStatusNotification": {"status": "Idle"},
        "LogStatusNotification": {"status": "Idle"},
        "NotifyEvent": {"generatedAt": NOW, "seqNo": 0, "eventData": [{
            "eventId": 1, "timestamp": NOW, "trigger": "Delta", "actualValue": "Available",
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": "Connector"}, "variable": {"name": "AvailabilityState"}}]},
    }
    for action, payload in calls.items():
        await station.rpc.call(action, payload)  # the station checks each reply against its schema


async def test_token_list_answers_authorize_and_transaction_event(csms: DevCsms, station: StationLink) -> None:
    csms.set_token("BLOCKED-1", "Blocked")
    csms.set_token("GROUPED-1", "Accepted", group_id="FLEET")
    blocked = await station.rpc.call("Authorize", {"idToken": {"idToken": "BLOCKED-1", "type": "ISO14443"}})
    assert blocked["idTokenInfo"] == {"status": "Blocked"}
    unknown = await station.rpc.call("Authorize", {"idToken": {"idToken": "ANY", "type": "ISO14443"}})
    assert unknown["idTokenInfo"] == {"status": "Accepted"}
    event = {"eventType": "Started", "timestamp": NOW, "triggerReason": "Authorized", "seqNo": 0,
             "transactionInfo": {"transactionId": "tx-1"}, "idToken": {"idToken": "GROUPED-1", "type": "ISO14443"}}
    reply = await station.rpc.call("TransactionEvent", event)
    assert reply["idTokenInfo"] == {"status": "Accepted", "groupIdToken": {"idToken": "FLEET", "type": "Central"}}
    del event["idToken"]
    assert await station.rpc.call("TransactionEvent", {**event, "eventType": "Updated", "seqNo": 1}) == {}


async def test_csms_call_reaches_the_station_handler(csms: DevCsms, station: StationLink) -> None:
    async def reset(payload: dict) -> dict:
        return {"status": "Scheduled" if payload["type"] == "OnIdle" else "Accepted"}

    station.rpc.register("Reset", reset)
    assert await csms.call(STATION, "Reset", {"type": "OnIdle"}) == {"status": "Scheduled"}
    [record] = csms.messages(STATION, "Reset")
    assert (record.kind, record.payload) == ("result", {"status": "Scheduled"})


async def test_station_callerror_raises_csms_call_error(csms: DevCsms, station: StationLink) -> None:
    with pytest.raises(CsmsCallError) as caught:
        await csms.call(STATION, "ClearCache", {})
    assert caught.value.code == "NotSupported"
    with pytest.raises(CsmsCallError) as invalid:  # the CSMS checks its own requests too
        await csms.call(STATION, "Reset", {"type": "Never"})
    assert invalid.value.code != "NotSupported"


async def test_raw_frames_reach_the_station_and_its_errors_are_recorded(
    csms: DevCsms, station: StationLink
) -> None:
    await csms.send_raw(STATION, "definitely not json")
    record = await csms.wait_for_message(STATION, None, kind="error")
    assert record.message_id == "-1" and record.payload[0] == "RpcFrameworkError"


async def test_fixed_answers_replace_the_handlers(csms: DevCsms, station: StationLink) -> None:
    csms.set_response("Heartbeat", NO_REPLY)
    with pytest.raises(CallTimeout):
        await station.rpc.call("Heartbeat", {}, timeout=0.2)
    csms.set_response("Heartbeat", CsmsCallError("InternalError", "CSMS database down"))
    with pytest.raises(CallError) as caught:
        await station.rpc.call("Heartbeat", {})
    assert caught.value.code == "InternalError"
    csms.set_response("Heartbeat", None)
    assert "currentTime" in await station.rpc.call("Heartbeat", {})


async def test_control_socket_commands(csms: DevCsms, station: StationLink, tmp_path: Path) -> None:
    async def reset(payload: dict) -> dict:
        return {"status": "Accepted"}

    station.rpc.register("Reset", reset)
    path = str(tmp_path / "csms.sock")
    control = await ControlServer(csms, path).start()
    try:
        assert await request_async(path, {"cmd": "stations"}) == {"ok": True, "result": [STATION]}
        reply = await request_async(path, {"cmd": "call", "station": STATION, "action": "Reset",
                                           "payload": {"type": "Immediate"}})
        assert reply == {"ok": True, "result": {"status": "Accepted"}}
        assert (await request_async(path, {"cmd": "set_boot_response", "status": "Pending", "interval": 9}))["ok"]
        assert (await request_async(path, {"cmd": "set_token", "id_token": "T1", "status": "Expired"}))["ok"]
        assert (await station.rpc.call("BootNotification", BOOT))["status"] == "Pending"
        messages = await request_async(path, {"cmd": "messages", "station": STATION, "action": "BootNotification"})
        assert messages["result"][0]["payload"] == BOOT
        unsupported = await request_async(path, {"cmd": "call", "station": STATION, "action": "ClearCache"})
        assert unsupported["error"]["code"] == "NotSupported"
        missing = await request_async(path, {"cmd": "call", "station": "NOPE", "action": "ClearCache"})
        assert missing["error"]["code"] == "NotConnected"
        assert (await request_async(path, {"cmd": "nonsense"}))["error"]["code"] == "BadRequest"
    finally:
        await control.stop()


async def test_tls_csms_serves_profile_2_and_profile_3_stations(pki: Pki) -> None:
    csms = await DevCsms(password=PASSWORD, tls=server_tls_context(pki, client_ca=True)).start()
    links: list[StationLink] = []
    try:
        links.append(await start_station(ConnectionSettings(
            csms.url, "P2", 2, PASSWORD, csms_root_ca_file=pki.ca)))
        links.append(await start_station(ConnectionSettings(
            csms.url, "P3", 3, csms_root_ca_file=pki.ca, client_cert_file=pki.client.cert,
            client_key_file=pki.client.key)))
        for link in links:
            await link.wait_connected()
        await csms.wait_for_station("P2")
        await csms.wait_for_station("P3")
    finally:
        for link in links:
            await stop_station(link)
        await csms.stop()


async def test_console_entry_runs_until_sigterm(tmp_path: Path) -> None:
    control = str(tmp_path / "c.sock")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim.csms", "--port", "0", "--password", PASSWORD, "--control", control,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        assert line.startswith("dev CSMS listening on ws://127.0.0.1:")
        url = line.split()[-1]
        link = await start_station(ConnectionSettings(url, STATION, 1, PASSWORD))
        try:
            await link.wait_connected()
            reply = await asyncio.to_thread(request, control, {"cmd": "stations"})
            assert reply == {"ok": True, "result": [STATION]}
            assert json.loads(json.dumps(reply))["ok"]
        finally:
            await stop_station(link)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
