"""The ocpp service stopped and started again in the middle of a session: the transaction goes on with the next
seqNo; what evse_io reported meanwhile comes from its durable stream, with its own time."""

from __future__ import annotations

import asyncio
import time

from services.ocpp_client.meter_values.sampling import parse_utc
from tests.services.ocpp_client.tx_world import *  # noqa: F403
from tests.services.ocpp_client.tx_world import Drive, assert_seq_nos_complete, booted, start_ocpp


async def test_restarts_mid_session_leave_no_seq_no_gap_or_repeat(world, csms, modem, station, probe,
                                                                  drive: Drive) -> None:
    async with start_ocpp(station):
        await booted(csms, station, probe)
        transaction_id = await drive.charging(1)
    since = drive.mark()
    async with start_ocpp(station):  # the EV charged on meanwhile: evse_io kept its authorization
        await booted(csms, station, probe, since)
        periodic = await drive.event(lambda e: e["triggerReason"] == "MeterValuePeriodic", since)
        assert periodic["transactionInfo"]["transactionId"] == transaction_id
        state = await drive.tx_state(1, lambda s: s["transaction_id"] == transaction_id)
        assert state["charging_state"] == "Charging"
    unplugged_at = time.time()
    await drive.unplug(1)  # while the ocpp service is down
    await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["connector_status"] == "Available")
    restarted_at = time.time()
    async with start_ocpp(station):
        ended = await drive.event(lambda e: e["eventType"] == "Ended", since)
        assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
        assert unplugged_at <= parse_utc(ended["timestamp"]) < restarted_at  # evse_io's time of the unplug
        events = drive.events(transaction_id)
        assert_seq_nos_complete(events)
        await probe.wait_for("ocpp.state.csms", lambda e: e.body["queue_depth"] == 0)
    assert [tx["transaction_id"] for tx in csms.transactions(station.station.id)] == [transaction_id]


async def test_an_unplug_while_ocpp_is_down_ends_the_transaction_before_any_periodic_value(
        world, csms, modem, station, probe, drive: Drive) -> None:
    """A periodic value falls due while the service is down; at its start the unplug evse_io journaled meanwhile
    is handled first: no MeterValuePeriodic after the EV left, time never runs backwards (property-test find)."""
    async with start_ocpp(station):
        await booted(csms, station, probe)
        transaction_id = await drive.charging(1)
    unplugged_at = time.time()
    await drive.unplug(1)
    await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["connector_status"] == "Available")
    await asyncio.sleep(1.5)  # not a synchronisation: TxUpdatedInterval (1 s) passes, a periodic value is due
    since = drive.mark()
    async with start_ocpp(station):
        await drive.event(lambda e: e["eventType"] == "Ended", since)
        events = drive.events(transaction_id)
    assert_seq_nos_complete(events)
    late = [e["seqNo"] for e in events if e["triggerReason"] == "MeterValuePeriodic"
            and parse_utc(e["timestamp"]) >= unplugged_at]
    assert late == []
    times = [parse_utc(e["timestamp"]) for e in events]
    assert times == sorted(times)
