"""The ocpp service in-process against the development CSMS, with bus stand-ins for evse_io and the modem.

Import the fixtures into a test module: `from tests.services.ocpp_client.service_harness import *  # noqa`.
- `station`: a 2-EVSE sim station file whose [csms] url points at `csms` (a DevCsms on the station's port,
  same password), short device-model intervals; `run_dir` is its run dir (the shared broker/probe use it).
- `evse_io`: EvseIoStandIn — publishes full `evse_io.state.evse.<n>` bodies as bus client "evse_io" and
  serves evse_io's commands (set_availability, unlock, …) the way the real service answers them; its
  `session` stream serves what `journal()` was given, unchecked (a faulty evse_io build).
- `modem`: a bus client "modem" that has published `modem.state.modem` (ICCID/IMSI).
- `start_ocpp()`: an async context manager running OcppService (resets recorded, not performed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bus.client import BusClient
from bus.harness import Probe, remove_run_dir
from bus.rpc import RpcError, RpcServer
from bus.runtime import running
from services.evse_io.contract import CONTRACT as EVSE_IO_CONTRACT
from services.ocpp_client.service import OcppService
from sim.csms import DevCsms, MessageRecord
from station.config import StationConfig, load_config
from tests.stations import write_station

ICCID = "8970199170219500001"
IMSI = "250991234567890"
DEVICE_MODEL_SEEDS = """
[device_model]
"OCPPCommCtrlr.RetryBackOffWaitMinimum" = 0
"OCPPCommCtrlr.RetryBackOffRandomRange" = 0
"OCPPCommCtrlr.MessageAttempts[TransactionEvent]" = 3
"OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]" = 0
"OCPPCommCtrlr.WebSocketPingInterval" = 0
"""
WAIT_S = 3.0


class RecordingRestarter:
    """Stands in for supervisord: remembers what it was asked to restart."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._changed = asyncio.Event()

    async def restart_station(self) -> None:
        self._record("station")

    async def restart_program(self, name: str) -> None:
        self._record(name)

    def _record(self, what: str) -> None:
        self.calls.append(what)
        self._changed.set()

    async def wait_for(self, what: str, timeout: float = WAIT_S) -> None:
        async with asyncio.timeout(timeout):
            while what not in self.calls:
                self._changed.clear()
                await self._changed.wait()


class TestOcppService(OcppService):
    __test__ = False

    def make_restarter(self) -> RecordingRestarter:
        return RecordingRestarter()


def evse_body(evse_id: int, **changes: Any) -> dict[str, Any]:
    """An `evse_io.state.evse.<n>` body of an idle, available EVSE, with changes."""
    body: dict[str, Any] = {
        "evse_id": evse_id, "connector_status": "Available", "charging_state": "Idle", "cp_state": "A",
        "relays_closed": False, "power_allowed": False, "lock": "unlocked", "lock_commanded": False,
        "pp_ampacity_a": None, "offered_current_a": 0.0, "duty": 10000, "current_limit_a": None, "faults": [],
        "availability": "Operative", "availability_requested": "Operative", "reserved": False, "link_up": True,
        "bad_input": {"frames_bad": 0, "unknown_enum": 0}, "session": None,
    }
    body.update(changes)
    return body


class EvseIoStandIn:
    """Bus client "evse_io": its state topics and commands, answered like the real service."""

    def __init__(self, config: StationConfig) -> None:
        self.config = config
        self.bus = BusClient(config.paths.run_dir, "evse_io", contract=EVSE_IO_CONTRACT, strict=True)
        self.state = {evse.id: evse_body(evse.id) for evse in config.evses}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.unlock_fails = False
        self.server: RpcServer | None = None
        self.journal_entries: list[dict[str, Any]] = []

    async def start(self) -> EvseIoStandIn:
        await self.bus.start()
        names = ("authorize", "stop", "set_current_limit", "set_availability", "unlock", "reset_rcd", "reserve",
                 "replay", "ack", "present_token")
        handlers = {name: self._handler(name) for name in names}
        self.server = RpcServer(self.config.paths.run_dir, self.bus.stamper, EVSE_IO_CONTRACT, handlers,
                                self.bus.ctx, strict=True)
        await self.server.start()
        await self.bus.publish_state("stream.session", {"last_seq": 0})  # its durable stream: empty
        for evse_id in self.state:
            await self.publish(evse_id)
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
        await self.bus.close()

    async def publish(self, evse_id: int, **changes: Any) -> None:
        self.state[evse_id].update(changes)
        await self.bus.publish_state(f"evse.{evse_id}", self.state[evse_id])

    async def journal(self, name: str, **data: Any) -> int:
        """Put an entry on the `session` stream as given (no contract check) and publish the head; its seq."""
        seq = len(self.journal_entries) + 1
        self.journal_entries.append({"stream": "session", "seq": seq, "ts": time.time(), "name": name,
                                     "data": {"name": name, **data}})
        await self.bus.publish_state("stream.session", {"last_seq": seq})
        return seq

    def _handler(self, name: str) -> Callable[[dict[str, Any]], Any]:
        async def handle(args: dict[str, Any]) -> Any:
            self.calls.append((name, args))
            if name == "replay":
                entries = [e for e in self.journal_entries if e["seq"] > args["after_seq"]]
                return {"entries": entries, "last_seq": len(self.journal_entries)}
            if name == "ack":
                return {"pruned": 0}
            if name == "present_token":
                return {"evse": args["evse"], "id_token": args["id_token"]}
            evse_id = args["evse"]
            state = self.state[evse_id]
            if name == "unlock" and self.unlock_fails:
                raise RpcError("rejected", "the relays are closed")
            if name == "set_availability":
                wanted = args["availability"]
                busy = bool(state["session"] and state["session"].get("authorized"))
                changes: dict[str, Any] = {"availability_requested": wanted}
                if not busy or wanted == "Operative":
                    changes["availability"] = wanted
                    if state["connector_status"] in ("Available", "Unavailable"):
                        changes["connector_status"] = "Available" if wanted == "Operative" else "Unavailable"
                await self.publish(evse_id, **changes)
            return state
        return handle


@pytest.fixture
def station(tmp_path: Path) -> Iterator[StationConfig]:
    config = load_config(write_station(tmp_path, sim=True, evses=2, extra=DEVICE_MODEL_SEEDS))
    yield config
    remove_run_dir(config.paths.run_dir)


@pytest.fixture
def run_dir(station: StationConfig) -> Path:
    return station.paths.run_dir


@pytest.fixture
async def csms(station: StationConfig) -> AsyncIterator[DevCsms]:
    server = await DevCsms(password=station.csms.password, port=station.sim.csms_port).start()
    yield server
    await server.stop()


@pytest.fixture
async def evse_io(station: StationConfig, probe: Probe) -> AsyncIterator[EvseIoStandIn]:
    stand_in = await EvseIoStandIn(station).start()
    yield stand_in
    await stand_in.close()


@pytest.fixture
async def modem(station: StationConfig, probe: Probe) -> AsyncIterator[BusClient]:
    client = BusClient(station.paths.run_dir, "modem")
    await client.start()
    await client.publish_state("modem", {"iccid": ICCID, "imsi": IMSI, "imei": "356938035643809",
                                         "operator": "REWATT Mobile", "registration": "home", "signal_dbm": -71,
                                         "link": "ok"})
    yield client
    await client.close()


@contextlib.asynccontextmanager
async def start_ocpp(station: StationConfig) -> AsyncIterator[TestOcppService]:
    async with running(TestOcppService, station) as service:
        assert isinstance(service, TestOcppService)
        yield service


@pytest.fixture
async def ocpp(station: StationConfig, csms: DevCsms, evse_io: EvseIoStandIn, modem: BusClient, probe: Probe
               ) -> AsyncIterator[TestOcppService]:
    """The service running, booted (Accepted), every connector's status and StartupOfTheDevice delivered."""
    async with start_ocpp(station) as service:
        await wait_call(csms, station, "SecurityEventNotification")
        await probe.wait_for("ocpp.state.csms", lambda e: e.body["registration"] == "Accepted"
                             and e.body["queue_depth"] == 0)
        yield service


async def wait_call(csms: DevCsms, station: StationConfig, action: str | None, *, since: int = 0,
                    timeout: float = WAIT_S) -> MessageRecord:
    """The first CALL of `action` the station sent (at index >= since)."""
    return await csms.wait_for_message(station.station.id, action, since=since, timeout_s=timeout)


async def wait_statuses(csms: DevCsms, station: StationConfig, *, count: int, since: int = 0,
                        timeout: float = WAIT_S) -> list[dict[str, Any]]:
    """Wait for `count` StatusNotifications from index `since`; their payloads."""
    found: list[dict[str, Any]] = []
    index = since
    while len(found) < count:
        record = await wait_call(csms, station, "StatusNotification", since=index, timeout=timeout)
        found.append(record.payload)
        index = record.index + 1
    return found


def calls(csms: DevCsms, station: StationConfig, action: str | None = None, since: int = 0) -> list[MessageRecord]:
    return [r for r in csms.messages(station.station.id, action, since) if r.kind == "call"]


def mark(csms: DevCsms, station: StationConfig) -> int:
    """The index the next message from the station will have."""
    return len(csms.messages(station.station.id))


__all__ = ["ICCID", "IMSI", "EvseIoStandIn", "RecordingRestarter", "TestOcppService", "calls", "csms", "evse_body",
           "evse_io", "mark", "modem", "ocpp", "run_dir", "start_ocpp", "station", "wait_call", "wait_statuses"]
