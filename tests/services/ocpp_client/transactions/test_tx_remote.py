"""CSMS requests on transactions: TC_E_13, TC_F_01..04/08/09/13, TC_E_21/35, TC_E_28..34, TC_B_22."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.ocpp_client.transactions.model import AUTHORIZED, EV_CONNECTED, POWER_PATH
from tests.services.ocpp_client.tx_fixtures import CARD, Station, assert_valid_request, assert_valid_response, triggers


def start_request(**fields: Any) -> dict[str, Any]:
    request = {"idToken": CARD, "remoteStartId": 7, "evseId": 1, **fields}
    request = {key: value for key, value in request.items() if value is not None}
    assert_valid_request("RequestStartTransaction", request)
    return request


def remote_start(st: Station, **fields: Any):
    result = st.tx.request_start(start_request(**fields), st.now)
    assert_valid_response("RequestStartTransaction", result.response)
    st.apply(result.output)
    return result


@pytest.fixture
def st(tmp_path: Path) -> Station:
    station = Station(tmp_path / "ocpp.db", evses={1: 1, 2: 1})
    station.meter(1000.0)
    return station


def test_tc_e_13_remote_start_reports_remote_start_with_its_id(st: Station) -> None:
    st.configure(start_points=frozenset({AUTHORIZED}))
    result = remote_start(st)
    assert result.response == {"status": "Accepted"} and result.authorize is None
    started = st.last()
    assert (started["eventType"], started["triggerReason"]) == ("Started", "RemoteStart")
    assert started["transactionInfo"]["remoteStartId"] == 7
    assert started["idToken"] == CARD
    assert st.commands[0] == ("authorize", {"evse": 1, "allowed": True, "max_current_a": None, "id_token": CARD})


def test_tc_f_01_remote_start_after_plug_in_names_the_open_transaction(st: Station) -> None:
    st.plug()
    result = remote_start(st)
    assert result.response == {"status": "Accepted", "transactionId": "tx-1"}
    assert triggers(st.outbox()) == [("Started", "CablePluggedIn"), ("Updated", "RemoteStart")]
    assert st.last()["transactionInfo"]["remoteStartId"] == 7


def test_remote_start_before_plug_in_reports_remote_start_in_the_first_event(st: Station) -> None:
    st.configure(start_points=frozenset({EV_CONNECTED}))
    remote_start(st)
    assert st.outbox() == []
    st.plug()
    assert triggers(st.outbox()) == [("Started", "RemoteStart")]  # Part 6 §2.1: overrules CablePluggedIn
    assert st.last()["transactionInfo"]["remoteStartId"] == 7
    assert st.last()["idToken"] == CARD


def test_remote_start_with_power_path_closed_starts_at_plug_in(st: Station) -> None:
    st.configure(start_points=frozenset({POWER_PATH}))
    remote_start(st)
    st.plug()
    assert triggers(st.outbox()) == [("Started", "RemoteStart")]


def test_tc_f_02_authorize_remote_start_asks_for_authorization_first(st: Station) -> None:
    st.configure(authorize_remote_start=True, start_points=frozenset({AUTHORIZED}))
    result = remote_start(st)
    assert result.response == {"status": "Accepted"}
    assert result.authorize == (1, CARD)
    assert st.outbox() == [] and st.commands == []
    st.apply(st.tx.on_authorization(1, CARD, True, {"status": "Accepted"}, st.now))
    assert triggers(st.outbox()) == [("Started", "RemoteStart")]
    assert st.last()["transactionInfo"]["remoteStartId"] == 7


def test_remote_start_whose_token_is_refused_starts_nothing(st: Station) -> None:
    st.configure(authorize_remote_start=True)
    remote_start(st)
    st.apply(st.tx.on_authorization(1, CARD, False, {"status": "Invalid"}, st.now))
    assert st.outbox() == [] and st.commands == []
    assert st.record().pending_remote is None
    assert remote_start(st).response["status"] == "Accepted"


def test_remote_start_with_no_authorization_token_needs_no_authorization(st: Station) -> None:
    st.configure(authorize_remote_start=True)
    result = remote_start(st, idToken={"idToken": "", "type": "NoAuthorization"})
    assert result.authorize is None
    assert st.last()["idToken"] == {"idToken": "", "type": "NoAuthorization"}


def test_tc_f_04_remote_start_without_plug_in_times_out(st: Station) -> None:
    st.configure(ev_connection_timeout_s=45)
    remote_start(st)
    st.advance(45)
    event = st.last()
    assert (event["eventType"], event["triggerReason"]) == ("Ended", "EVConnectTimeout")
    assert remote_start(st).response["status"] == "Accepted"  # ready for the next one


def test_remote_start_with_a_charging_profile_is_rejected(st: Station) -> None:
    profile = {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
               "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                                     "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}]}
    result = remote_start(st, chargingProfile=profile)
    assert result.response["status"] == "Rejected"
    assert result.response["statusInfo"]["reasonCode"] == "UnsupportedParam"
    assert st.outbox() == [] and st.commands == []


@pytest.mark.parametrize(("evse_id", "reason"), [(9, "UnknownEvse")])
def test_remote_start_on_an_unknown_evse_is_rejected(st: Station, evse_id: int, reason: str) -> None:
    result = remote_start(st, evseId=evse_id)
    assert result.response["statusInfo"]["reasonCode"] == reason


def test_remote_start_on_a_busy_or_unavailable_evse_is_rejected(st: Station) -> None:
    st.swipe()
    assert remote_start(st).response["statusInfo"]["reasonCode"] == "TxInProgress"
    result = st.tx.request_start(start_request(evseId=2), st.now, evse_available=lambda evse: evse != 2)
    assert result.response["status"] == "Rejected"


def test_remote_start_without_evse_picks_the_one_with_an_ev_waiting(st: Station) -> None:
    st.plug(evse=2)
    remote_start(st, evseId=None)
    assert st.last()["evse"]["id"] == 2 and st.last()["triggerReason"] == "RemoteStart"
    remote_start(st, evseId=None, remoteStartId=8)
    assert st.last()["evse"]["id"] == 1
    assert remote_start(st, evseId=None, remoteStartId=9).response["status"] == "Rejected"


def stop(st: Station, transaction_id: str) -> dict:
    request = {"transactionId": transaction_id}
    assert_valid_request("RequestStopTransaction", request)
    response, out = st.tx.request_stop(request, st.now)
    assert_valid_response("RequestStopTransaction", response)
    st.apply(out)
    return response


def test_tc_e_21_f_08_remote_stop_ends_the_transaction(st: Station) -> None:
    st.plug()
    st.swipe()
    st.ev_draws()
    assert stop(st, "tx-1") == {"status": "Accepted"}
    event = st.last()
    assert (event["eventType"], event["triggerReason"]) == ("Ended", "RemoteStop")
    assert event["transactionInfo"]["stoppedReason"] == "Remote"
    assert ("stop", {"evse": 1, "reason": "Remote"}) in st.commands


def test_tc_f_09_remote_stop_of_an_unknown_transaction_is_rejected(st: Station) -> None:
    st.plug()
    assert stop(st, "not-a-transaction")["status"] == "Rejected"
    assert stop(st, "tx-1")["status"] == "Accepted"
    assert stop(st, "tx-1")["status"] == "Rejected"  # ended now


def test_remote_stop_with_ev_connected_stop_point_ends_at_unplug_with_reason_remote(st: Station) -> None:
    st.configure(stop_points=frozenset({EV_CONNECTED}))
    st.plug()
    st.swipe()
    stop(st, "tx-1")
    assert triggers(st.outbox())[-1] == ("Updated", "RemoteStop")
    st.unplug()
    assert st.last()["transactionInfo"]["stoppedReason"] == "Remote"


def test_remote_stop_of_a_transaction_never_authorized_ends_it(st: Station) -> None:
    st.plug()
    stop(st, "tx-1")
    assert triggers(st.outbox()) == [("Started", "CablePluggedIn"), ("Ended", "RemoteStop")]


def status(st: Station, transaction_id: str | None, queued: bool) -> dict:
    reply = st.tx.get_transaction_status(transaction_id, queued)
    assert_valid_response("GetTransactionStatus", reply)
    return reply


def test_tc_e_28_to_34_get_transaction_status(st: Station) -> None:
    assert status(st, "random", True) == {"ongoingIndicator": False, "messagesInQueue": False}  # E_28
    st.plug()
    assert status(st, "tx-1", True) == {"ongoingIndicator": True, "messagesInQueue": True}  # E_29
    assert status(st, "tx-1", False) == {"ongoingIndicator": True, "messagesInQueue": False}  # E_30
    st.unplug()
    assert status(st, "tx-1", True) == {"ongoingIndicator": False, "messagesInQueue": True}  # E_31
    assert status(st, "tx-1", False) == {"ongoingIndicator": False, "messagesInQueue": False}  # E_32
    assert status(st, None, True) == {"messagesInQueue": True}  # E_33
    assert status(st, None, False) == {"messagesInQueue": False}  # E_34


def test_tc_f_13_trigger_message_sends_an_update_with_a_trigger_meter_value(st: Station) -> None:
    assert st.tx.trigger_transaction_event(1, st.now).events == []
    st.plug()
    st.swipe()
    st.ev_draws()
    out = st.apply(st.tx.trigger_transaction_event(None, st.now))
    assert len(out.events) == 1
    event = out.events[0]
    assert (event["eventType"], event["triggerReason"]) == ("Updated", "Trigger")
    assert event["transactionInfo"]["chargingState"] == "Charging"
    assert event["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"


def test_tc_b_22_immediate_reset_ends_every_transaction_without_id_token(st: Station) -> None:
    for evse in (1, 2):
        st.plug(evse=evse)
        st.swipe(evse=evse)
        st.ev_draws(evse=evse)
    out = st.apply(st.tx.stop_transactions(None, st.now))
    assert [(e["evse"]["id"], e["eventType"], e["triggerReason"]) for e in out.events] == [
        (1, "Ended", "ResetCommand"), (2, "Ended", "ResetCommand")]
    for event in out.events:
        assert event["transactionInfo"]["stoppedReason"] == "ImmediateReset"
        assert event["transactionInfo"]["chargingState"] == "EVConnected"
        assert "idToken" not in event
    assert st.tx.open_transactions() == {}
