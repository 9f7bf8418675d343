"""Reset (B11/B12): answered first, performed through the restarter, reason persisted for the next boot."""

from __future__ import annotations

from services.ocpp_client.store import kv_get
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import calls, mark, start_ocpp, wait_call, wait_statuses


async def _restarted(service, what: str) -> None:
    await service.reset.restarter.wait_for(what)


async def test_station_reset_reports_the_event_restarts_and_boots_with_remote_reset(
        station, csms, evse_io, modem, probe) -> None:
    async with start_ocpp(station) as service:
        await wait_call(csms, station, "SecurityEventNotification")
        since = mark(csms, station)
        assert await csms.call(station.station.id, "Reset", {"type": "OnIdle"}) == {"status": "Accepted"}
        event = await wait_call(csms, station, "SecurityEventNotification", since=since)
        assert event.payload["type"] == "ResetOrReboot"
        await _restarted(service, "station")
    since = mark(csms, station)
    async with start_ocpp(station):
        boot = await wait_call(csms, station, "BootNotification", since=since)
        assert boot.payload["reason"] == "RemoteReset"
        await wait_statuses(csms, station, count=2, since=since)


async def test_immediate_reset_ends_transactions_first(ocpp, csms, station) -> None:
    ended: list[tuple[int | None, str]] = []
    ocpp.transactions.active_transactions = lambda evse_id=None: 0 if ended else 1

    async def end_transactions(evse_id, reason) -> None:
        ended.append((evse_id, reason))

    ocpp.transactions.end_transactions = end_transactions
    assert await csms.call(station.station.id, "Reset", {"type": "Immediate"}) == {"status": "Accepted"}
    await _restarted(ocpp, "station")
    assert ended == [(None, "ImmediateReset")]


async def test_on_idle_reset_with_a_transaction_is_scheduled_until_it_ends(ocpp, csms, station) -> None:
    transactions = [1]
    ocpp.transactions.active_transactions = lambda evse_id=None: transactions[0]
    assert await csms.call(station.station.id, "Reset", {"type": "OnIdle"}) == {"status": "Scheduled"}
    await ocpp.boot.heartbeat()
    assert ocpp.reset.restarter.calls == []
    transactions[0] = 0
    ocpp.transactions.transactions_changed()
    await _restarted(ocpp, "station")
    assert kv_get(ocpp.db, "next_boot_reason") == "ScheduledReset"


async def test_evse_reset_restarts_evse_io_and_unknown_evse_is_rejected(ocpp, csms, station) -> None:
    assert await csms.call(station.station.id, "Reset", {"type": "OnIdle", "evseId": 2}) == {"status": "Accepted"}
    await _restarted(ocpp, "evse_io")
    reply = await csms.call(station.station.id, "Reset", {"type": "OnIdle", "evseId": 7})
    assert reply["status"] == "Rejected"
    assert not calls(csms, station, "SecurityEventNotification", since=mark(csms, station) - 2)


async def test_evse_reset_is_rejected_while_another_evse_charges(ocpp, csms, station) -> None:
    ocpp.transactions.active_transactions = lambda evse_id=None: 1 if evse_id in (None, 1) else 0
    reply = await csms.call(station.station.id, "Reset", {"type": "Immediate", "evseId": 2})
    assert reply["status"] == "Rejected" and reply["statusInfo"]["reasonCode"] == "TxInProgress"
