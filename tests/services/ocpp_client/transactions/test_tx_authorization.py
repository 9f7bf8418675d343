"""Authorization inside transactions: other tokens, group id, Master Pass, and idTokenInfo from the CSMS
(TC_C_04, TC_C_14..18, TC_C_26, TC_C_39..45, TC_C_49, TC_E_16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ocpp_client.transactions.model import AUTHORIZED, EV_CONNECTED
from tests.services.ocpp_client.tx_fixtures import CARD, CARD2, Station, triggers

GROUP = {"idToken": "FAMILY", "type": "Central"}
MASTER = {"idToken": "POLICE-01", "type": "ISO14443"}
MASTER_INFO = {"status": "Accepted", "groupIdToken": {"idToken": "POLICE", "type": "Central"}}


def charging(tmp_path: Path, info: dict | None = None, **settings: object) -> Station:
    st = Station(tmp_path / "ocpp.db", evses={1: 1, 2: 1})
    st.configure(master_pass_group_id="POLICE", **settings)
    st.meter(1000.0)
    st.plug()
    st.swipe(info=info or {"status": "Accepted"})
    st.ev_draws()
    return st


def test_tc_c_04_a_different_token_does_not_stop_the_transaction(tmp_path: Path) -> None:
    st = charging(tmp_path)
    count = len(st.outbox())
    st.swipe(CARD2, info={"status": "Accepted"})
    assert len(st.outbox()) == count
    assert st.record().authorized and st.record().power_on


def test_tc_c_39_41_another_token_of_the_same_group_stops_it(tmp_path: Path) -> None:
    st = charging(tmp_path, info={"status": "Accepted", "groupIdToken": GROUP})
    st.swipe(CARD2, info={"status": "Accepted", "groupIdToken": GROUP})
    event = st.last()
    assert (event["eventType"], event["triggerReason"]) == ("Ended", "StopAuthorized")
    assert event["idToken"] == CARD2
    assert event["transactionInfo"]["stoppedReason"] == "Local"


def test_tc_c_39_group_learnt_from_the_transaction_event_response_counts(tmp_path: Path) -> None:
    st = charging(tmp_path)
    st.respond("tx-1", CARD, {"status": "Accepted", "groupIdToken": GROUP})
    st.swipe(CARD2, info={"status": "Accepted", "groupIdToken": GROUP})
    assert st.last()["triggerReason"] == "StopAuthorized"


def test_tc_c_40_group_stop_with_ev_connected_stop_point_is_an_update(tmp_path: Path) -> None:
    st = charging(tmp_path, info={"status": "Accepted", "groupIdToken": GROUP},
                  stop_points=frozenset({EV_CONNECTED}))
    st.swipe(CARD2, info={"status": "Accepted", "groupIdToken": GROUP})
    assert ("Updated", "StopAuthorized") in triggers(st.outbox())
    assert st.outbox()[-2]["idToken"] == CARD2


@pytest.mark.parametrize("status", ["Invalid", "Blocked"])
def test_tc_c_42_43_44_a_refused_token_of_the_same_group_does_not_stop(tmp_path: Path, status: str) -> None:
    st = charging(tmp_path, info={"status": "Accepted", "groupIdToken": GROUP})
    count = len(st.outbox())
    st.swipe(CARD2, accepted=False, info={"status": status, "groupIdToken": GROUP})
    assert len(st.outbox()) == count and st.record().power_on


def test_tc_c_14_49_master_pass_stops_every_transaction(tmp_path: Path) -> None:
    st = charging(tmp_path, stop_points=frozenset({EV_CONNECTED}))
    st.plug(evse=2)
    st.swipe(CARD2, evse=2)
    st.swipe(MASTER, evse=1, info=MASTER_INFO)
    for evse in (1, 2):
        last = [e for e in st.outbox() if e["evse"]["id"] == evse][-1]
        assert (last["eventType"], last["triggerReason"]) == ("Ended", "StopAuthorized")
        assert last["transactionInfo"]["stoppedReason"] == "MasterPass"
        assert last["idToken"] == MASTER
    assert st.tx.open_transactions() == {}


def test_tc_c_45_master_pass_cannot_start_a_transaction(tmp_path: Path) -> None:
    st = Station(tmp_path / "ocpp.db")
    st.configure(master_pass_group_id="POLICE", start_points=frozenset({AUTHORIZED}))
    st.swipe(MASTER, info=MASTER_INFO)
    st.plug()
    assert st.outbox() == []
    assert not st.record().authorized
    assert not [name for name, _ in st.commands if name == "authorize"]


def test_tc_e_16_offline_started_transaction_deauthorized_by_the_csms_ends(tmp_path: Path) -> None:
    st = charging(tmp_path, info=None)  # accepted offline as unknown: no idTokenInfo yet
    st.respond("tx-1", CARD, {"status": "Invalid"})
    event = st.last()
    assert (event["eventType"], event["triggerReason"]) == ("Ended", "Deauthorized")
    assert event["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    assert ("stop", {"evse": 1, "reason": "DeAuthorized"}) in st.commands


def test_deauthorization_with_ev_connected_stop_point_stops_energy_and_updates(tmp_path: Path) -> None:
    st = charging(tmp_path, stop_points=frozenset({EV_CONNECTED}))
    st.respond("tx-1", CARD, {"status": "Blocked"})
    assert triggers(st.outbox())[-2:] == [("Updated", "Deauthorized"), ("Updated", "ChargingStateChanged")]
    assert st.last()["transactionInfo"]["chargingState"] == "EVConnected"
    st.unplug()
    assert st.last()["transactionInfo"]["stoppedReason"] == "DeAuthorized"


def test_tc_c_18_stop_tx_on_invalid_id_wins_over_max_energy(tmp_path: Path) -> None:
    st = charging(tmp_path, stop_tx_on_invalid_id=True, max_energy_on_invalid_id_wh=500)
    st.respond("tx-1", CARD, {"status": "Invalid"})
    assert st.last()["triggerReason"] == "Deauthorized"


def test_tc_c_17_26_without_stop_tx_on_invalid_id_the_evse_is_suspended(tmp_path: Path) -> None:
    st = charging(tmp_path, stop_tx_on_invalid_id=False, max_energy_on_invalid_id_wh=0)
    st.respond("tx-1", CARD, {"status": "Invalid"})
    assert triggers(st.outbox())[-1] == ("Updated", "ChargingStateChanged")
    assert st.last()["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    assert ("set_current_limit", {"evse": 1, "amps": 0.0}) in st.commands
    assert not st.record().power_on  # the EV stopped drawing, and that is not reported twice
    assert triggers(st.outbox()).count(("Updated", "ChargingStateChanged")) == 2
    count = len(st.outbox())
    st.respond("tx-1", CARD, {"status": "Invalid"})  # the same verdict again changes nothing
    assert len(st.outbox()) == count
    st.swipe()  # the driver can still stop it with the card
    assert st.last()["triggerReason"] == "StopAuthorized"
    assert st.commands[-1] == ("set_current_limit", {"evse": 1, "amps": None})


def test_tc_c_15_max_energy_on_invalid_id_lets_that_much_energy_flow_then_suspends(tmp_path: Path) -> None:
    st = charging(tmp_path, stop_tx_on_invalid_id=False, max_energy_on_invalid_id_wh=10_000)
    st.meter(4000.0)
    count = len(st.outbox())
    st.respond("tx-1", CARD, {"status": "Invalid"})
    st.meter(10_999.0)
    assert len(st.outbox()) == count
    st.meter(11_000.0)  # 10 kWh since the transaction began at 1000 Wh
    assert triggers(st.outbox())[-1] == ("Updated", "EnergyLimitReached")
    assert st.last()["transactionInfo"]["chargingState"] == "SuspendedEVSE"


def test_max_energy_already_used_suspends_at_once(tmp_path: Path) -> None:
    st = charging(tmp_path, stop_tx_on_invalid_id=False, max_energy_on_invalid_id_wh=100)
    st.meter(2000.0)
    st.respond("tx-1", CARD, {"status": "Invalid"})
    assert st.last()["transactionInfo"]["chargingState"] == "SuspendedEVSE"


def test_evse_io_restart_keeps_a_suspended_evse_at_zero_amps(tmp_path: Path) -> None:
    st = charging(tmp_path, stop_tx_on_invalid_id=False)
    st.respond("tx-1", CARD, {"status": "Invalid"})
    st.commands.clear()
    st.restart_evse_io()
    assert [name for name, _ in st.commands] == ["authorize", "set_current_limit"]
    assert st.commands[-1][1]["amps"] == 0.0


def test_an_accepted_response_or_one_for_another_token_changes_nothing(tmp_path: Path) -> None:
    st = charging(tmp_path)
    count = len(st.outbox())
    st.respond("tx-1", CARD, {"status": "Accepted"})
    st.respond("tx-1", CARD2, {"status": "Invalid"})
    st.respond("tx-9", CARD, {"status": "Invalid"})
    assert len(st.outbox()) == count and st.record().authorized


def test_authorize_refused_by_evse_io_ends_the_authorization(tmp_path: Path) -> None:
    st = Station(tmp_path / "ocpp.db")
    st.plug()
    st.apply(st.tx.on_authorization(1, CARD, True, {"status": "Accepted"}, st.now))
    st.commands.clear()
    st.apply(st.tx.on_authorize_refused(1, st.now))
    assert st.last()["eventType"] == "Ended" and st.last()["transactionInfo"]["stoppedReason"] == "Other"
    assert st.commands == []
