"""Transaction start (E01-E03) per TxStartPoint, following TC_E_01/02/09/10/11/12/38 and TC_J_07/08."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ocpp_client.transactions.model import AUTHORIZED, DATA_SIGNED, ENERGY, EV_CONNECTED, PARKING, POWER_PATH
from tests.services.ocpp_client.tx_fixtures import CARD, Station, triggers


def station(tmp_path: Path, *points: str) -> Station:
    st = Station(tmp_path / "ocpp.db")
    st.configure(start_points=frozenset(points))
    st.meter(1000.0)
    return st


def test_tc_e_09_ev_connected_starts_at_plug_in(tmp_path: Path) -> None:
    st = station(tmp_path, EV_CONNECTED)
    st.plug()
    started = st.last()
    assert (started["eventType"], started["triggerReason"]) == ("Started", "CablePluggedIn")
    assert started["transactionInfo"]["chargingState"] == "EVConnected"
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert started["seqNo"] == 0
    assert "idToken" not in started


def test_tc_e_10_authorized_starts_at_authorization_before_plug_in(tmp_path: Path) -> None:
    st = station(tmp_path, AUTHORIZED)
    st.swipe()
    started = st.last()
    assert (started["eventType"], started["triggerReason"]) == ("Started", "Authorized")
    assert started["idToken"] == CARD
    assert started["transactionInfo"]["chargingState"] == "Idle"
    assert ("authorize", {"evse": 1, "allowed": True, "max_current_a": None, "id_token": CARD}) in st.commands
    st.plug()
    assert triggers(st.outbox())[-1] == ("Updated", "CablePluggedIn")
    assert st.last()["transactionInfo"]["chargingState"] == "EVConnected"


def test_tc_c_02_refused_token_starts_nothing_and_commands_nothing(tmp_path: Path) -> None:
    st = station(tmp_path, AUTHORIZED)
    st.plug()
    st.swipe(accepted=False, info={"status": "Invalid"})
    assert st.outbox() == [] and st.commands == []


def test_tc_e_01_power_path_closed_starts_when_the_later_of_plug_and_authorization_happens(tmp_path: Path) -> None:
    st = station(tmp_path, POWER_PATH)
    st.swipe()
    assert st.outbox() == []
    st.plug()
    assert triggers(st.outbox()) == [("Started", "CablePluggedIn")]
    assert st.last()["idToken"] == CARD  # the authorization is reported with the first event after it
    st.ev_draws()
    assert triggers(st.outbox())[-1] == ("Updated", "ChargingStateChanged")
    assert st.last()["transactionInfo"]["chargingState"] == "Charging"


def test_power_path_closed_with_plug_in_first_starts_at_authorization(tmp_path: Path) -> None:
    st = station(tmp_path, POWER_PATH)
    st.plug()
    st.swipe()
    assert triggers(st.outbox()) == [("Started", "Authorized")]
    assert st.last()["transactionInfo"]["chargingState"] == "EVConnected"


def test_tc_e_02_energy_transfer_starts_when_energy_flows(tmp_path: Path) -> None:
    st = station(tmp_path, ENERGY)
    st.swipe()
    st.plug()
    assert st.outbox() == []
    st.ev_draws()
    started = st.last()
    assert (started["eventType"], started["triggerReason"]) == ("Started", "ChargingStateChanged")
    assert started["transactionInfo"]["chargingState"] == "Charging"
    assert started["idToken"] == CARD


def test_tc_e_11_data_signed_never_holds_so_the_transaction_starts_with_energy(tmp_path: Path) -> None:
    st = station(tmp_path, DATA_SIGNED)
    st.swipe()
    st.plug()
    assert st.outbox() == []
    st.ev_draws()
    assert triggers(st.outbox()) == [("Started", "ChargingStateChanged")]


def test_tc_e_12_parking_bay_occupancy_starts_when_the_bay_is_occupied(tmp_path: Path) -> None:
    st = station(tmp_path, PARKING)
    st.apply(st.tx.on_parking_bay(1, True, st.now))
    assert triggers(st.outbox()) == [("Started", "EVDetected")]
    st.plug()
    assert triggers(st.outbox())[-1] == ("Updated", "CablePluggedIn")


def test_tc_j_07_started_carries_the_transaction_begin_value(tmp_path: Path) -> None:
    st = station(tmp_path, EV_CONNECTED)
    st.plug()
    values = st.last()["meterValue"]
    assert len(values) == 1
    sampled = values[0]["sampledValue"]
    assert [(s["measurand"], s["context"], s["value"]) for s in sampled] == [
        ("Energy.Active.Import.Register", "Transaction.Begin", 1000.0)]


def test_tc_j_08_transaction_started_before_plug_in_has_the_begin_value_in_started(tmp_path: Path) -> None:
    st = station(tmp_path, AUTHORIZED)
    st.swipe()
    assert st.last()["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.Begin"


def test_no_meter_sample_means_no_begin_value_rather_than_an_invented_one(tmp_path: Path) -> None:
    st = Station(tmp_path / "ocpp.db")
    st.plug()
    assert "meterValue" not in st.last()


def test_energy_reported_by_the_meter_while_charging_starts_a_transaction_whatever_the_start_points(
        tmp_path: Path) -> None:
    st = station(tmp_path, PARKING)  # no bay sensor reports: the bay never counts as occupied
    st.swipe()
    st.plug()
    st.ev_draws()
    assert triggers(st.outbox()) == [("Started", "ChargingStateChanged")]


def test_tc_e_38_ev_not_ready_is_reported_as_suspended_ev_once_it_settles(tmp_path: Path) -> None:
    st = station(tmp_path, EV_CONNECTED, AUTHORIZED)
    st.swipe()
    st.plug()
    assert st.last()["transactionInfo"]["chargingState"] == "EVConnected"
    st.apply(st.tx.on_evse_state(1, {"charging_state": "SuspendedEV", "pp_ampacity_a": 20.0}, st.now))
    st.advance(1)
    assert st.last()["triggerReason"] == "CablePluggedIn"  # not yet: a ready EV closes within a moment
    assert st.tx.next_deadline() == pytest.approx(st.now + 2)
    st.advance(2)
    assert triggers(st.outbox())[-1] == ("Updated", "ChargingStateChanged")
    assert st.last()["transactionInfo"]["chargingState"] == "SuspendedEV"
    assert st.last()["cableMaxCurrent"] == 20


def test_energy_transfer_started_after_plug_in_first(tmp_path: Path) -> None:
    st = station(tmp_path, EV_CONNECTED, AUTHORIZED)
    st.plug()
    st.swipe()
    st.ev_draws()
    assert triggers(st.outbox()) == [("Started", "CablePluggedIn"), ("Updated", "Authorized"),
                                     ("Updated", "ChargingStateChanged")]
    assert [e["transactionInfo"]["chargingState"] for e in st.outbox()] == ["EVConnected", "EVConnected",
                                                                            "Charging"]
    assert "idToken" in st.outbox()[1] and "idToken" not in st.outbox()[2]


def test_each_transaction_gets_its_own_id_and_seq_no_from_zero(tmp_path: Path) -> None:
    st = station(tmp_path, EV_CONNECTED, AUTHORIZED)
    for _ in range(2):
        st.plug()
        st.swipe()
        st.swipe()
        st.unplug()
    ids = [e["transactionInfo"]["transactionId"] for e in st.outbox()]
    assert ids == ["tx-1"] * 3 + ["tx-2"] * 3
    assert [e["seqNo"] for e in st.outbox()] == [0, 1, 2, 0, 1, 2]
