"""StatusNotification and TransactionEvent leave the station in the order of E02/E03 (TC_E_02_CS, TC_E_03_CS,
reusable state EVDisconnected): the connector's status change first, then the TransactionEvent the same fact
caused; and in the order of their timestamps. Real evse_io, meters and sim hardware (tx_world)."""

from __future__ import annotations

from services.ocpp_client.meter_values.sampling import parse_utc
from tests.services.ocpp_client.tx_world import *  # noqa: F403
from tests.services.ocpp_client.tx_world import Drive, calls, wait_call


def sent(drive: Drive, since: int, evse: int = 1) -> list[tuple[str, str, float]]:
    """(action, what, timestamp) of the StatusNotifications and TransactionEvents of the EVSE, as sent."""
    found = []
    for record in calls(drive.csms, drive.station, None, since):
        p = record.payload
        if record.action == "StatusNotification" and p["evseId"] == evse:
            found.append(("StatusNotification", p["connectorStatus"], parse_utc(p["timestamp"])))
        elif record.action == "TransactionEvent" and p.get("evse", {}).get("id", evse) == evse:
            found.append(("TransactionEvent", f'{p["eventType"]} {p["triggerReason"]}', parse_utc(p["timestamp"])))
    return found


async def test_card_before_car_reports_occupied_before_the_transaction_event_of_the_plug_in(
        ocpp, drive: Drive) -> None:
    for card in ("04A1B2C3", "04A1B2C4", "04A1B2C5"):  # the race it replaces was mostly lost: three rounds
        since = drive.mark()
        await drive.swipe(card)
        await drive.event(lambda e: e["triggerReason"] == "Authorized", since)
        await drive.plug()
        await drive.event(lambda e: e["triggerReason"] == "CablePluggedIn", since)
        await wait_call(drive.csms, drive.station, "StatusNotification", since=since)
        order = [what for action, what, _ in sent(drive, since) if what in ("Occupied", "Updated CablePluggedIn")]
        assert order == ["Occupied", "Updated CablePluggedIn"], sent(drive, since)
        since = drive.mark()
        await drive.unplug()
        await drive.event(lambda e: e["eventType"] == "Ended", since)
        await wait_call(drive.csms, drive.station, "StatusNotification", since=since)
        order = [what for _, what, _ in sent(drive, since)]
        assert order.index("Available") < order.index("Ended EVCommunicationLost"), sent(drive, since)


async def test_status_notifications_and_transaction_events_leave_in_the_order_of_their_timestamps(
        ocpp, drive: Drive) -> None:
    since = drive.mark()
    for card in ("04A1B2C6", "04A1B2C7", "04A1B2C8"):
        mark = drive.mark()
        await drive.swipe(card)
        await drive.event(lambda e: e["triggerReason"] == "Authorized", mark)
        await drive.plug()
        await drive.event(lambda e: e["transactionInfo"].get("chargingState") == "Charging", mark)
        await drive.unplug()
        await drive.event(lambda e: e["eventType"] == "Ended", mark)
    times = [at for _, _, at in sent(drive, since)]
    assert times == sorted(times), sent(drive, since)
