"""The ocpp service in-process with the REAL evse_io and meter services and the simulated hardware (reon-sim),
against an in-process development CSMS: plug, swipe and unplug go through the MCU boards, RFID readers and
Modbus meters on pseudo-terminals, exactly as on a station.

Import the fixtures into a test module: `from tests.services.ocpp_client.tx_world import *  # noqa`.
- `station`: a 2-EVSE sim station (meters polled every POLL_S, TxUpdatedInterval 1 s, no clock-aligned values);
- `world`: reon-sim, reon-evse-io and reon-meter running, both MCU links up; `csms`, `modem` as in service_harness;
- `ocpp`: the ocpp service booted (Accepted, queue empty); `start_ocpp(station)` for restarts within a test;
- `Drive`: plug / swipe / unplug through reon-sim, and waits for TransactionEvents at the CSMS.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bus.harness import Probe, remove_run_dir
from bus.runtime import running
from services.evse_io.service import EvseIoService
from services.meter.service import MeterService
from sim.csms import DevCsms
from sim.main import SimService
from station.config import StationConfig, load_config
from tests.services.ocpp_client.service_harness import (
    TestOcppService,
    calls,
    csms,
    mark,
    modem,
    start_ocpp,
    wait_call,
)
from tests.stations import write_station

CARD = {"idToken": "04A1B2C3", "type": "ISO14443"}
POLL_S = 0.25
WAIT_S = 5.0
SEEDS = """
[device_model]
"OCPPCommCtrlr.RetryBackOffWaitMinimum" = 0
"OCPPCommCtrlr.RetryBackOffRandomRange" = 0
"OCPPCommCtrlr.MessageAttempts[TransactionEvent]" = 3
"OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]" = 0
"OCPPCommCtrlr.WebSocketPingInterval" = 0
"SampledDataCtrlr.TxUpdatedInterval" = 1
"AlignedDataCtrlr.Interval" = 0
"""


def sim_station(directory: Path, seeds: str = SEEDS) -> StationConfig:
    """A 2-EVSE sim station file in `directory` with these [device_model] seeds, meters polled every POLL_S."""
    path = write_station(directory, sim=True, evses=2, extra=seeds)
    path.write_text(re.sub(r"unit_id = (\d+) }", rf"unit_id = \1, poll_s = {POLL_S} }}", path.read_text()))
    return load_config(path)


@pytest.fixture
def station(tmp_path: Path) -> Iterator[StationConfig]:
    config = sim_station(tmp_path)
    yield config
    remove_run_dir(config.paths.run_dir)


@pytest.fixture
def run_dir(station: StationConfig) -> Path:
    return station.paths.run_dir


@pytest.fixture
async def world(station: StationConfig, probe: Probe) -> AsyncIterator[None]:
    """reon-sim, reon-evse-io and reon-meter in this event loop; every MCU link up, every meter read once."""
    async with running(SimService, station), running(EvseIoService, station), running(MeterService, station):
        for evse in station.evses:
            await probe.wait_for(f"evse_io.state.evse.{evse.id}", lambda e: e.body["link_up"], WAIT_S)
            await probe.wait_for(f"meter.state.meter.{evse.id}", lambda e: e.body["sample"] is not None, WAIT_S)
        yield


@pytest.fixture
async def ocpp(station: StationConfig, csms: DevCsms, world: None, modem: Any, probe: Probe
               ) -> AsyncIterator[TestOcppService]:
    """The ocpp service booted: Accepted, StartupOfTheDevice delivered, queue empty."""
    async with start_ocpp(station) as service:
        await booted(csms, station, probe)
        yield service


async def booted(csms: DevCsms, station: StationConfig, probe: Probe, since: int = 0) -> None:
    await wait_call(csms, station, "SecurityEventNotification", since=since, timeout=WAIT_S)
    await probe.wait_for("ocpp.state.csms", lambda e: e.body["registration"] == "Accepted"
                         and e.body["queue_depth"] == 0, WAIT_S)


class Drive:
    """The outside world and the CSMS's view of the station's transactions."""

    def __init__(self, station: StationConfig, csms: DevCsms, probe: Probe) -> None:
        self.station = station
        self.csms = csms
        self.probe = probe

    async def plug(self, evse: int = 1) -> None:
        await self.probe.call("sim", "plug", {"evse": evse})

    async def unplug(self, evse: int = 1) -> None:
        await self.probe.call("sim", "unplug", {"evse": evse})

    async def swipe(self, token: str = CARD["idToken"], evse: int = 1) -> None:
        reply = await self.probe.call("sim", "swipe", {"evse": evse, "token": token})
        assert reply["delivered"]

    def mark(self) -> int:
        return mark(self.csms, self.station)

    def events(self, transaction_id: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """TransactionEvent payloads the CSMS received, in order (of one transaction)."""
        found = [r.payload for r in calls(self.csms, self.station, "TransactionEvent", since)]
        return [e for e in found if transaction_id is None or e["transactionInfo"]["transactionId"] == transaction_id]

    async def event(self, predicate: Callable[[dict[str, Any]], bool], since: int = 0,
                    timeout: float = WAIT_S) -> dict[str, Any]:
        """The first TransactionEvent (at index >= since) for which predicate holds; waits for it."""
        index = since
        while True:
            record = await wait_call(self.csms, self.station, "TransactionEvent", since=index, timeout=timeout)
            if predicate(record.payload):
                return record.payload
            index = record.index + 1

    async def charging(self, evse: int = 1, token: str = CARD["idToken"]) -> str:
        """Plug in, swipe, wait for the Updated that reports Charging; the transaction id."""
        since = self.mark()
        await self.plug(evse)
        started = await self.event(lambda e: e["eventType"] == "Started" and e["evse"]["id"] == evse, since)
        await self.swipe(token, evse)
        transaction_id = started["transactionInfo"]["transactionId"]
        await self.event(lambda e: _of(e, transaction_id) and e["transactionInfo"].get("chargingState") == "Charging",
                         since)
        return transaction_id

    async def tx_state(self, evse: int, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        _, env = await self.probe.wait_for(f"ocpp.state.transaction.{evse}", lambda e: predicate(e.body), WAIT_S)
        return env.body


def _of(event: dict[str, Any], transaction_id: str) -> bool:
    return event["transactionInfo"]["transactionId"] == transaction_id


def energy_of(event: dict[str, Any]) -> list[tuple[str, float]]:
    """(context, Wh) of every import energy register value in the event."""
    return [(value["context"], value["value"]) for meter_value in event.get("meterValue", [])
            for value in meter_value["sampledValue"] if value["measurand"] == "Energy.Active.Import.Register"]


def assert_seq_nos_complete(events: list[dict[str, Any]]) -> None:
    """One transaction's events: seqNo 0..n in order, none missing, one event each. A message whose answer was
    lost (link dropped, service stopped mid-CALL) is sent again — at least once — and may arrive twice,
    identical."""
    received = [e["seqNo"] for e in events]
    assert received == sorted(received), received
    by_seq: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        by_seq.setdefault(event["seqNo"], []).append(event)
    assert sorted(by_seq) == list(range(len(by_seq))), received
    assert all(copy == copies[0] for copies in by_seq.values() for copy in copies), "two events, one seqNo"


@pytest.fixture
def drive(station: StationConfig, csms: DevCsms, probe: Probe) -> Drive:
    return Drive(station, csms, probe)


__all__ = ["CARD", "Drive", "assert_seq_nos_complete", "booted", "csms", "drive", "energy_of", "modem", "ocpp",
           "run_dir", "sim_station", "start_ocpp", "station", "wait_call", "world"]
