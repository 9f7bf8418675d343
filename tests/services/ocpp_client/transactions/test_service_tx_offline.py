"""Transactions while the CSMS is unreachable (E11, E12, C13): queued durably, flagged offline, delivered in order
after the link is back; a card of the local list authorizes offline."""

from __future__ import annotations

from tests.services.ocpp_client.service_harness import calls
from tests.services.ocpp_client.tx_world import *  # noqa: F403
from tests.services.ocpp_client.tx_world import CARD, Drive, assert_seq_nos_complete


async def _offline(probe) -> None:
    await probe.call("ocpp", "disconnect", {})
    await probe.wait_for("ocpp.state.csms", lambda e: not e.body["connected"])


async def test_events_of_an_offline_period_are_delivered_in_order_flagged_offline(ocpp, drive: Drive, probe
                                                                                    ) -> None:
    transaction_id = await drive.charging(1)
    await _offline(probe)
    online_count = len(drive.events(transaction_id))
    await probe.wait_for("ocpp.state.csms", lambda e: e.body["queue_depth"] >= 1)  # a periodic value waits
    await drive.unplug(1)
    await drive.tx_state(1, lambda s: s["transaction_id"] is None)  # Ended is queued (committed)
    assert drive.events(transaction_id)[-1]["eventType"] != "Ended"

    since = drive.mark()
    await probe.call("ocpp", "connect", {})
    ended = await drive.event(lambda e: e["eventType"] == "Ended", since)
    assert ended["offline"] is True and ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    events = drive.events(transaction_id)
    assert_seq_nos_complete(events)
    last_online = events[online_count - 1]["seqNo"]  # may come again: it was in flight when the link dropped
    assert all(e.get("offline") for e in events[online_count:] if e["seqNo"] > last_online)
    assert not any(e.get("offline") for e in events[:online_count])
    await probe.wait_for("ocpp.state.csms", lambda e: e.body["queue_depth"] == 0)


async def test_offline_a_local_list_card_charges_an_unknown_one_is_refused(ocpp, drive: Drive, csms,
                                                                                  station, probe) -> None:
    reply = await csms.call(station.station.id, "SendLocalList", {
        "versionNumber": 1, "updateType": "Full",
        "localAuthorizationList": [{"idToken": CARD, "idTokenInfo": {"status": "Accepted"}}]})
    assert reply == {"status": "Accepted"}
    await _offline(probe)
    since = drive.mark()
    await drive.plug(1)
    await drive.swipe("0BADCAFE")  # unknown, and OfflineTxForUnknownIdEnabled is false: refused
    await drive.swipe()  # in the local list: accepted (cards of one EVSE are handled in order)
    await drive.tx_state(1, lambda s: s["charging_state"] == "Charging" and s["id_token"] == CARD["idToken"])
    await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["relays_closed"] is True)

    await probe.call("ocpp", "connect", {})
    charging = await drive.event(lambda e: e["transactionInfo"].get("chargingState") == "Charging", since)
    events = drive.events(charging["transactionInfo"]["transactionId"], since)
    assert [(e["seqNo"], e["triggerReason"]) for e in events[:2]] == [(0, "CablePluggedIn"), (1, "Authorized")]
    assert all(e["offline"] for e in events) and events[1]["idToken"] == CARD
    assert calls(csms, station, "Authorize", since) == []  # LocalAuthorizeOffline: no AuthorizeRequest later
