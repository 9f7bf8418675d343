"""UpdateFirmware / GetLog passed to the firmware service; its status stream → notifications, durably."""

from __future__ import annotations

from typing import Any

import pytest

from bus.client import BusClient
from bus.durable import DurableProducer
from bus.rpc import RpcServer
from services.firmware.contract import CONTRACT as FIRMWARE
from station.sqlite import open_db
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import mark, start_ocpp, wait_call

UPDATE = {"requestId": 12, "firmware": {"location": "https://fw.example.com/reon-0.2.0.bin",
                                        "retrieveDateTime": "2024-05-01T12:00:00.000Z"}}


class FirmwareStandIn:
    """Bus client "firmware": the real contract, a real durable producer of the `status` stream."""

    def __init__(self, station, tmp_path) -> None:
        self.bus = BusClient(station.paths.run_dir, "firmware", contract=FIRMWARE, strict=True)
        self.station = station
        self.conn = open_db(str(tmp_path / "firmware-standin.db"))
        self.requests: list[tuple[str, dict[str, Any]]] = []

    async def start(self) -> FirmwareStandIn:
        await self.bus.start()
        self.producer = DurableProducer(self.bus, self.conn, {"status": ("ocpp",)})

        async def update_firmware(args):
            self.requests.append(("update_firmware", args["request"]))
            return {"status": "Accepted"}

        async def get_log(args):
            self.requests.append(("get_log", args["request"]))
            return {"status": "Accepted", "filename": "reon-logs.tar.gz"}

        async def unused(args):
            raise AssertionError("not used")

        handlers = {**{c.name: unused for c in FIRMWARE.commands}, "update_firmware": update_firmware,
                    "get_log": get_log, **self.producer.handlers()}
        self.server = RpcServer(self.station.paths.run_dir, self.bus.stamper, FIRMWARE, handlers, self.bus.ctx,
                                strict=True)
        await self.server.start()
        await self.producer.publish_heads()
        return self

    async def close(self) -> None:
        await self.server.close()
        await self.bus.close()
        self.conn.close()


@pytest.fixture
async def firmware(station, tmp_path, probe):
    stand_in = await FirmwareStandIn(station, tmp_path).start()
    yield stand_in
    await stand_in.close()


async def test_update_firmware_is_passed_to_the_firmware_service(firmware, ocpp, csms, station) -> None:
    assert await csms.call(station.station.id, "UpdateFirmware", UPDATE) == {"status": "Accepted"}
    assert firmware.requests == [("update_firmware", UPDATE)]
    reply = await csms.call(station.station.id, "GetLog", {"logType": "DiagnosticsLog", "requestId": 3,
                                                           "log": {"remoteLocation": "ftp://logs.example.com/"}})
    assert reply == {"status": "Accepted", "filename": "reon-logs.tar.gz"}


async def test_without_the_firmware_service_update_is_rejected(ocpp, csms, station) -> None:
    reply = await csms.call(station.station.id, "UpdateFirmware", UPDATE)
    assert reply["status"] == "Rejected" and "not running" in reply["statusInfo"]["additionalInfo"]


async def test_status_stream_entries_become_notifications_in_order(firmware, ocpp, csms, station) -> None:
    since = mark(csms, station)
    await firmware.producer.append("status", "firmware_status", {"status": "Downloading", "request_id": 12})
    await firmware.producer.append("status", "security_event", {"type": "InvalidFirmwareSignature",
                                                                "tech_info": "bad signature"})
    await firmware.producer.append("status", "log_status", {"status": "Uploading", "request_id": 3})
    first = await wait_call(csms, station, "FirmwareStatusNotification", since=since)
    assert first.payload == {"status": "Downloading", "requestId": 12}
    event = await wait_call(csms, station, "SecurityEventNotification", since=since)
    assert event.payload["type"] == "InvalidFirmwareSignature" and event.payload["techInfo"] == "bad signature"
    log_status = await wait_call(csms, station, "LogStatusNotification", since=since)
    assert first.index < event.index < log_status.index


async def test_entries_published_while_the_ocpp_service_was_down_are_replayed(firmware, station, csms, evse_io,
                                                                               modem, probe) -> None:
    await firmware.producer.append("status", "firmware_status", {"status": "Installing", "request_id": 12})
    async with start_ocpp(station) as service:
        record = await wait_call(csms, station, "FirmwareStatusNotification")
        assert record.payload == {"status": "Installing", "requestId": 12}
        assert service.firmware.consumer.cursor == 1  # committed with the queued notification


async def test_transactions_state_is_published_for_the_firmware_service(ocpp, probe) -> None:
    _, env = await probe.wait_for("ocpp.state.transactions")
    assert env.body["active"] == 0
    ocpp.transactions.active_transactions = lambda evse_id=None: 2
    ocpp.transactions.transactions_changed()
    await probe.wait_for("ocpp.state.transactions", lambda e: e.body["active"] == 2)
