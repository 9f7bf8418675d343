"""The OCPP consumers of evse_io's `session` and firmware's `status` streams dispatch on the kinds the
producers' contracts declare: a kind handled or missed that the contract does not list stops the service at
start; an entry of a misspelled kind or with a missing field stops the consumer there, loudly."""

from __future__ import annotations

from typing import Any

import pytest

from bus.client import BusClient
from bus.durable import DurableConsumer, declared_stream
from services.ocpp_client.firmware.management import StatusKind
from services.ocpp_client.transactions.sessions import SessionInputs, SessionKind
from station.sqlite import open_db
from tests.rigs import LogWatch
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import EvseIoStandIn, calls, mark, wait_call

AT = "2024-05-01T12:00:00.000Z"


async def noop(entry: dict[str, Any], conn: Any) -> None:
    return None


def test_the_transaction_machine_moves_on_every_kind_evse_io_declares_and_no_other() -> None:
    assert set(declared_stream("evse_io", "session").kind_names()) == SessionInputs.KINDS
    assert SessionKind.PLUGGED_IN == "plugged_in"
    assert set(StatusKind) == set(declared_stream("firmware", "status").kind_names())


def test_a_session_consumer_missing_or_misspelling_a_kind_is_refused_when_built(tmp_path) -> None:
    conn = open_db(str(tmp_path / "ocpp.db"))
    bus = BusClient(tmp_path, "ocpp", strict=False)
    handlers = dict.fromkeys(SessionInputs.KINDS - {SessionKind.POWER_OFF}, noop)
    with pytest.raises(ValueError, match=r"none for \['power_off'\]"):
        DurableConsumer(bus, conn, "evse_io", "session", "ocpp", handlers)
    with pytest.raises(ValueError, match=r"undeclared kinds \['powr_off'\]"):
        DurableConsumer(bus, conn, "evse_io", "session", "ocpp", {**handlers, "powr_off": noop})
    DurableConsumer(bus, conn, "evse_io", "session", "ocpp", {**handlers, SessionKind.POWER_OFF: noop})
    conn.close()


async def test_a_misspelled_session_kind_stops_the_consumer_and_starts_no_transaction(
        ocpp, evse_io: EvseIoStandIn, csms, station) -> None:
    since = mark(csms, station)
    async with LogWatch("bus.durable", "does not match") as logged:
        await evse_io.journal("plugged_in", evse_id=1, session_id="s1", at=AT)
        await evse_io.journal("pluged_in", evse_id=2, session_id="s2", at=AT)
        await evse_io.journal("plugged_in", evse_id=2, session_id="s3", at=AT)
        messages = await logged.wait()
    assert "entry 2" in messages[0] and "'pluged_in' is not declared" in messages[0]
    started = await wait_call(csms, station, "TransactionEvent", since=since)
    assert started.payload["evse"]["id"] == 1 and started.payload["triggerReason"] == "CablePluggedIn"
    assert ocpp.transactions.consumer.cursor == 1  # nothing after the bad entry was handled or skipped
    assert ocpp.transactions.tx.record(2).tx is None
    assert [c.payload["evse"]["id"] for c in calls(csms, station, "TransactionEvent", since)] == [1]


async def test_a_session_entry_missing_a_field_stops_the_consumer_before_it_moves(
        ocpp, evse_io: EvseIoStandIn, csms, station) -> None:
    async with LogWatch("bus.durable", "does not match") as logged:
        await evse_io.journal("plugged_in", evse_id=1, session_id="s1")  # no `at`
        messages = await logged.wait()
    assert "plugged_in.at: missing" in messages[0]
    assert ocpp.transactions.consumer.cursor == 0
    assert not ocpp.transactions.tx.record(1).ev_connected
