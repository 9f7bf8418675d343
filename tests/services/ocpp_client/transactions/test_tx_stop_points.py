"""Transaction end (E06, E07, E09, E10) per TxStopPoint, following TC_E_05/07/08/14/15/17/19/20/22/24-27/39."""

from __future__ import annotations

from pathlib import Path

from services.ocpp_client.transactions.model import AUTHORIZED, ENERGY, EV_CONNECTED, PARKING, POWER_PATH
from tests.services.ocpp_client.tx_fixtures import CARD, Station, triggers


def charging(tmp_path: Path, *stop_points: str, **settings: object) -> Station:
    """State EnergyTransferStarted with the given TxStopPoint."""
    st = Station(tmp_path / "ocpp.db")
    st.configure(stop_points=frozenset(stop_points), **settings)
    st.meter(1000.0)
    st.plug()
    st.swipe()
    st.ev_draws()
    st.meter(1800.0)
    return st


def ended(st: Station) -> dict:
    event = st.last()
    assert event["eventType"] == "Ended"
    return event


def test_tc_e_15_authorized_ends_at_stop_authorization(tmp_path: Path) -> None:
    st = charging(tmp_path, AUTHORIZED)
    st.swipe()
    event = ended(st)
    assert event["triggerReason"] == "StopAuthorized"
    assert event["transactionInfo"]["stoppedReason"] == "Local"
    assert event["transactionInfo"]["chargingState"] == "EVConnected"
    assert event["idToken"] == CARD
    assert ("stop", {"evse": 1, "reason": "Local"}) in st.commands
    end = event["meterValue"][-1]["sampledValue"][0]
    assert (end["context"], end["value"]) == ("Transaction.End", 1800.0)


def test_tc_e_07_power_path_closed_ends_at_local_stop(tmp_path: Path) -> None:
    st = charging(tmp_path, POWER_PATH)
    st.swipe()
    assert ended(st)["triggerReason"] == "StopAuthorized"


def test_tc_e_37_power_path_closed_ends_at_ev_side_disconnect(tmp_path: Path) -> None:
    st = charging(tmp_path, POWER_PATH, stop_tx_on_ev_side_disconnect=False)
    st.ev_pauses()
    st.unplug()
    event = ended(st)
    assert event["triggerReason"] == "EVCommunicationLost"
    assert event["transactionInfo"]["chargingState"] == "Idle"
    assert event["transactionInfo"]["stoppedReason"] == "EVDisconnected"


def test_tc_e_08_energy_transfer_reports_stop_then_ends_when_power_is_off(tmp_path: Path) -> None:
    st = charging(tmp_path, ENERGY)
    st.swipe()  # evse_io opens the relays at once: power_off follows the stop
    assert triggers(st.outbox())[-2:] == [("Updated", "StopAuthorized"), ("Ended", "ChargingStateChanged")]
    event = ended(st)
    assert event["transactionInfo"]["chargingState"] == "EVConnected"
    assert event["transactionInfo"]["stoppedReason"] == "Local"


def test_tc_e_22_energy_transfer_keeps_the_transaction_while_the_ev_pauses(tmp_path: Path) -> None:
    st = charging(tmp_path, ENERGY)
    st.ev_pauses()
    assert triggers(st.outbox())[-1] == ("Updated", "ChargingStateChanged")
    assert st.last()["transactionInfo"]["chargingState"] == "SuspendedEV"


def test_tc_e_14_ev_connected_ends_at_unplug_after_the_stop(tmp_path: Path) -> None:
    st = charging(tmp_path, EV_CONNECTED)
    st.swipe()
    assert triggers(st.outbox())[-2:] == [("Updated", "StopAuthorized"), ("Updated", "ChargingStateChanged")]
    assert st.last()["transactionInfo"]["chargingState"] == "EVConnected"  # errata 2025-01 figure 56
    st.unplug()
    event = ended(st)
    assert event["triggerReason"] == "EVCommunicationLost"
    assert event["transactionInfo"]["chargingState"] == "Idle"
    assert event["transactionInfo"]["stoppedReason"] == "Local"


def test_tc_e_20_ev_connected_ends_at_ev_side_disconnect(tmp_path: Path) -> None:
    st = charging(tmp_path, EV_CONNECTED, stop_tx_on_ev_side_disconnect=False)
    st.ev_pauses()
    st.unplug()
    event = ended(st)
    assert (event["triggerReason"], event["transactionInfo"]["stoppedReason"]) == ("EVCommunicationLost",
                                                                                 "EVDisconnected")


def test_tc_e_17_24_25_stop_tx_on_ev_side_disconnect_deauthorizes_and_ends(tmp_path: Path) -> None:
    st = charging(tmp_path, AUTHORIZED, stop_tx_on_ev_side_disconnect=True)
    st.ev_pauses()
    st.unplug()
    event = ended(st)
    assert event["triggerReason"] == "EVCommunicationLost"
    assert event["transactionInfo"]["chargingState"] == "Idle"
    assert event["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert not st.record().authorized


def test_tc_e_19_parking_bay_ends_when_the_ev_leaves_the_bay(tmp_path: Path) -> None:
    st = Station(tmp_path / "ocpp.db")
    st.configure(start_points=frozenset({PARKING}), stop_points=frozenset({PARKING}))
    st.apply(st.tx.on_parking_bay(1, True, st.now))
    st.plug()
    st.swipe()
    st.swipe()
    st.unplug()
    assert triggers(st.outbox())[-1] == ("Updated", "EVCommunicationLost")
    st.apply(st.tx.on_parking_bay(1, False, st.now))
    event = ended(st)
    assert (event["triggerReason"], event["transactionInfo"]["stoppedReason"]) == ("EVDeparted", "Local")


def test_tc_e_26_ev_side_disconnect_suspends_and_the_ev_may_come_back(tmp_path: Path) -> None:
    st = charging(tmp_path, AUTHORIZED, stop_tx_on_ev_side_disconnect=False, ev_connection_timeout_s=60)
    st.ev_pauses()
    st.unplug()
    assert triggers(st.outbox())[-1] == ("Updated", "EVCommunicationLost")
    assert st.last()["transactionInfo"]["chargingState"] == "Idle"
    st.commands.clear()
    st.advance(30)
    st.plug()
    assert triggers(st.outbox())[-1] == ("Updated", "CablePluggedIn")
    assert st.last()["transactionInfo"]["chargingState"] == "EVConnected"
    assert [name for name, _ in st.commands] == ["authorize"]  # evse_io's new session is authorized again
    st.ev_draws()
    assert triggers(st.outbox())[-1] == ("Updated", "ChargingStateChanged")
    assert st.last()["transactionInfo"]["chargingState"] == "Charging"
    st.advance(60)
    assert st.last()["eventType"] != "Ended"


def test_tc_e_27_ev_not_back_within_ev_connection_timeout_ends_the_transaction(tmp_path: Path) -> None:
    st = charging(tmp_path, AUTHORIZED, stop_tx_on_ev_side_disconnect=False, ev_connection_timeout_s=60)
    st.unplug()
    st.advance(59)
    assert st.last()["triggerReason"] == "EVCommunicationLost"
    st.advance(1)
    event = ended(st)
    assert (event["triggerReason"], event["transactionInfo"]["stoppedReason"]) == ("EVConnectTimeout", "Timeout")


def test_tc_e_27_with_parking_bay_stop_point_the_timeout_is_only_reported(tmp_path: Path) -> None:
    st = charging(tmp_path, PARKING, stop_tx_on_ev_side_disconnect=False, ev_connection_timeout_s=60)
    st.apply(st.tx.on_parking_bay(1, True, st.now))
    st.unplug()
    st.advance(60)
    assert ("Updated", "EVConnectTimeout") in triggers(st.outbox())
    assert st.record().tx is not None


def test_tc_e_05_39_authorized_but_never_plugged_in_times_out(tmp_path: Path) -> None:
    st = Station(tmp_path / "ocpp.db")
    st.configure(start_points=frozenset({AUTHORIZED}), ev_connection_timeout_s=30)
    st.swipe()
    assert st.tx.next_deadline() == st.now + 30
    st.advance(30)
    event = ended(st)
    assert (event["triggerReason"], event["transactionInfo"]["stoppedReason"]) == ("EVConnectTimeout", "Timeout")
    assert st.commands[-1] == ("stop", {"evse": 1, "reason": "Timeout"})
    st.swipe()  # the EVSE is ready for the next session
    assert st.last()["eventType"] == "Started" and st.last()["transactionInfo"]["transactionId"] == "tx-2"


def test_tc_e_05_without_authorized_in_tx_stop_point_the_timeout_updates(tmp_path: Path) -> None:
    st = Station(tmp_path / "ocpp.db")
    st.configure(start_points=frozenset({AUTHORIZED}), stop_points=frozenset({EV_CONNECTED}),
                 ev_connection_timeout_s=30)
    st.swipe()
    st.advance(30)
    assert triggers(st.outbox()) == [("Started", "Authorized"), ("Updated", "EVConnectTimeout")]


def test_timeout_before_any_transaction_just_cancels_the_authorization(tmp_path: Path) -> None:
    st = Station(tmp_path / "ocpp.db")
    st.configure(ev_connection_timeout_s=30, start_points=frozenset({EV_CONNECTED}))
    st.swipe()
    st.advance(31)
    assert st.outbox() == []
    assert not st.record().authorized
    st.plug()
    assert triggers(st.outbox()) == [("Started", "CablePluggedIn")]
    assert "idToken" not in st.last()


def test_unplug_without_authorization_ends_what_no_stop_point_would(tmp_path: Path) -> None:
    st = Station(tmp_path / "ocpp.db")
    st.configure(start_points=frozenset({EV_CONNECTED}), stop_points=frozenset({ENERGY}))
    st.plug()
    st.unplug()
    assert triggers(st.outbox()) == [("Started", "CablePluggedIn"), ("Ended", "EVCommunicationLost")]
    assert st.last()["transactionInfo"]["stoppedReason"] == "EVDisconnected"


def test_time_spent_charging_counts_only_while_energy_flows(tmp_path: Path) -> None:
    st = charging(tmp_path, AUTHORIZED)
    st.advance(100)
    st.ev_pauses()
    st.advance(50)
    st.ev_draws()
    st.advance(20)
    st.swipe()
    assert ended(st)["transactionInfo"]["timeSpentCharging"] == 120
