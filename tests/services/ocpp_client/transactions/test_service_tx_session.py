"""A charging session end to end in-process: reon-sim's EV and card, the real evse_io and meter services, the
ocpp service and the development CSMS (tx_world.py)."""

from __future__ import annotations

from station import health
from tests.services.ocpp_client.service_harness import calls
from tests.services.ocpp_client.tx_world import *  # noqa: F403
from tests.services.ocpp_client.tx_world import CARD, Drive, assert_seq_nos_complete, energy_of, wait_call


async def test_plug_swipe_charge_unplug_reports_one_transaction_with_rising_energy(ocpp, drive: Drive,
                                                                                   csms, station) -> None:
    since = drive.mark()
    await drive.plug(1)
    started = await drive.event(lambda e: e["eventType"] == "Started", since)
    assert started["triggerReason"] == "CablePluggedIn" and started["seqNo"] == 0
    transaction_id = started["transactionInfo"]["transactionId"]
    state = await drive.tx_state(1, lambda s: s["transaction_id"] == transaction_id)
    assert state["seq_no"] == 1 and state["started_at"] is not None

    await drive.swipe()
    authorize = await wait_call(csms, station, "Authorize", since=since)
    assert authorize.payload == {"idToken": CARD}
    authorized = await drive.event(lambda e: e["triggerReason"] == "Authorized", since)
    assert authorized["idToken"] == CARD and authorized["seqNo"] == 1
    await drive.event(lambda e: e["transactionInfo"].get("chargingState") == "Charging", since)
    periodic = await drive.event(lambda e: e["triggerReason"] == "MeterValuePeriodic", since)
    await drive.tx_state(1, lambda s: s["charging_state"] == "Charging" and (s["energy_wh"] or 0) > 0)

    await drive.unplug(1)
    ended = await drive.event(lambda e: e["eventType"] == "Ended", since)
    assert ended["triggerReason"] == "EVCommunicationLost"
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    events = drive.events(transaction_id, since)
    assert_seq_nos_complete(events)
    assert all(not e.get("offline") for e in events)
    begin = dict(energy_of(started))["Transaction.Begin"]
    end = dict(energy_of(ended))["Transaction.End"]
    assert begin <= dict(energy_of(periodic))["Sample.Periodic"] <= end and end > begin
    await drive.tx_state(1, lambda s: s["transaction_id"] is None and not s["authorized"])
    assert csms.transactions(station.station.id)[0]["complete"]


async def test_blocked_token_is_refused_and_the_next_card_authorizes(ocpp, drive: Drive, csms, station) -> None:
    csms.set_token("DEADBEEF", "Blocked")
    since = drive.mark()
    await drive.plug(1)
    started = await drive.event(lambda e: e["eventType"] == "Started", since)
    await drive.swipe("DEADBEEF")
    refused = await wait_call(csms, station, "Authorize", since=since)
    assert refused.payload["idToken"]["idToken"] == "DEADBEEF"
    await drive.swipe()  # cards of one EVSE are handled in order: this one only after the blocked one
    authorized = await drive.event(lambda e: e["eventType"] == "Updated", since)
    assert authorized["triggerReason"] == "Authorized" and authorized["idToken"] == CARD
    assert authorized["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]
    assert [r.payload["idToken"]["idToken"] for r in calls(csms, station, "Authorize", since)] == ["DEADBEEF",
                                                                                                   "04A1B2C3"]
    again = drive.mark()
    await drive.swipe("DEADBEEF")  # cached as Blocked: asked again (post-authorize, C12.FR.05), refused again
    await drive.swipe()  # the card in force ends its own authorization (E07), no Authorize
    ended = await drive.event(lambda e: e["eventType"] == "Ended", again)
    assert ended["triggerReason"] == "StopAuthorized" and ended["transactionInfo"]["stoppedReason"] == "Local"
    events = drive.events(since=since)
    assert_seq_nos_complete(events)
    assert all(e.get("idToken", CARD) == CARD for e in events)  # the blocked card caused nothing
    assert [r.payload["idToken"]["idToken"] for r in calls(csms, station, "Authorize", again)] == ["DEADBEEF"]


async def test_trigger_message_sends_meter_values_and_transaction_event(ocpp, drive: Drive, csms, station) -> None:
    transaction_id = await drive.charging(1)
    since = drive.mark()
    reply = await csms.call(station.station.id, "TriggerMessage", {"requestedMessage": "MeterValues",
                                                                    "evse": {"id": 2}})
    assert reply == {"status": "Accepted"}
    meter_values = await wait_call(csms, station, "MeterValues", since=since)
    assert meter_values.payload["evseId"] == 2
    assert meter_values.payload["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    reply = await csms.call(station.station.id, "TriggerMessage", {"requestedMessage": "TransactionEvent",
                                                                    "evse": {"id": 2}})
    assert reply == {"status": "Rejected"}  # no transaction on EVSE 2
    reply = await csms.call(station.station.id, "TriggerMessage", {"requestedMessage": "TransactionEvent",
                                                                    "evse": {"id": 1}})
    assert reply == {"status": "Accepted"}
    triggered = await drive.event(lambda e: e["triggerReason"] == "Trigger", since)
    assert triggered["transactionInfo"]["transactionId"] == transaction_id
    assert energy_of(triggered)[0][0] == "Trigger"


async def test_local_list_and_cache_are_served_and_reported_in_the_device_model(ocpp, csms, station) -> None:
    station_id = station.station.id
    assert await csms.call(station_id, "GetLocalListVersion", {}) == {"versionNumber": 0}
    reply = await csms.call(station_id, "SendLocalList", {
        "versionNumber": 3, "updateType": "Full",
        "localAuthorizationList": [{"idToken": CARD, "idTokenInfo": {"status": "Accepted"}}]})
    assert reply == {"status": "Accepted"}
    assert await csms.call(station_id, "GetLocalListVersion", {}) == {"versionNumber": 3}
    reply = await csms.call(station_id, "GetVariables", {"getVariableData": [
        {"component": {"name": "LocalAuthListCtrlr"}, "variable": {"name": "Entries"}},
        {"component": {"name": "LocalAuthListCtrlr"}, "variable": {"name": "Storage"}}]})
    entries, storage = (result["attributeValue"] for result in reply["getVariableResult"])
    assert entries == "1" and int(storage) > 0
    assert await csms.call(station_id, "ClearCache", {}) == {"status": "Accepted"}


async def test_clock_aligned_meter_values_go_out_for_idle_evses(ocpp, csms, station) -> None:
    reply = await csms.call(station.station.id, "SetVariables", {"setVariableData": [{
        "component": {"name": "AlignedDataCtrlr"}, "variable": {"name": "Interval"}, "attributeValue": "1"}]})
    assert reply["setVariableResult"][0]["attributeStatus"] == "Accepted"
    first = await wait_call(csms, station, "MeterValues")
    second = await wait_call(csms, station, "MeterValues", since=first.index + 1)
    assert {first.payload["evseId"], second.payload["evseId"]} == {1, 2}
    value = first.payload["meterValue"][0]
    assert value["sampledValue"][0]["context"] == "Sample.Clock"
    assert value["sampledValue"][0]["measurand"] == "Energy.Active.Import.Register"


async def test_a_card_swiped_while_the_disk_is_full_is_refused_cleanly_and_shown(ocpp, drive: Drive, csms, station,
                                                                                 monkeypatch) -> None:
    """Issue 11.8: no Authorize and no transaction record is attempted; the problem is in the heartbeat
    (`reonctl status`); the next card after space returns is handled as usual."""
    since = drive.mark()
    monkeypatch.setattr(health, "LOW_DISK_BYTES", 1 << 60)
    await drive.swipe("DEADBEEF")
    await drive.probe.wait_for("bus.state.services", lambda e: any(
        "low disk" in p for p in e.body["services"].get("ocpp", {}).get("problems", [])), timeout=5)
    monkeypatch.setattr(health, "LOW_DISK_BYTES", 1)
    await drive.swipe()  # handled after the refused one (cards of one EVSE are taken in order)
    await wait_call(csms, station, "Authorize", since=since)
    assert [c.payload["idToken"]["idToken"] for c in calls(csms, station, "Authorize", since)] == [CARD["idToken"]]
