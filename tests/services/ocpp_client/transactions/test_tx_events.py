"""tx_events.py payloads and commands, the offline flag, and TxSettings from the device model."""

from __future__ import annotations

from pathlib import Path

from services.ocpp_client.device_model.catalog import ConnectorTopology, EvseTopology
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.transactions.events import EvseCommand, transaction_event, with_offline
from services.ocpp_client.transactions.model import AUTHORIZED, EV_CONNECTED, POWER_PATH, TxSettings
from tests.services.ocpp_client.tx_fixtures import T0, Station, assert_valid_request


def test_minimal_transaction_event_is_schema_valid() -> None:
    payload = transaction_event(event_type="Started", at=T0, trigger_reason="CablePluggedIn", seq_no=0,
                                transaction_id="0b6c5c9e-6f0b-4d4e-9d8c-3c4f8a1e2d11")
    assert payload == {"eventType": "Started", "timestamp": "2023-11-14T22:13:20.000Z",
                       "triggerReason": "CablePluggedIn", "seqNo": 0,
                       "transactionInfo": {"transactionId": "0b6c5c9e-6f0b-4d4e-9d8c-3c4f8a1e2d11"}}
    assert_valid_request("TransactionEvent", payload)


def test_full_transaction_event_is_schema_valid() -> None:
    payload = transaction_event(
        event_type="Ended", at=T0, trigger_reason="StopAuthorized", seq_no=4, transaction_id="tx",
        charging_state="EVConnected", stopped_reason="Local", remote_start_id=3, time_spent_charging_s=61.7,
        evse_id=1, connector_id=1, id_token={"idToken": "AB", "type": "ISO14443"},
        meter_values=[{"timestamp": "2023-11-14T22:13:20.000Z", "sampledValue": [{"value": 1.0}]}],
        number_of_phases_used=3, cable_max_current_a=32)
    assert payload["transactionInfo"]["timeSpentCharging"] == 61
    assert_valid_request("TransactionEvent", payload)


def test_offline_flag_is_set_at_send_time() -> None:
    payload = transaction_event(event_type="Updated", at=T0, trigger_reason="MeterValuePeriodic", seq_no=1,
                                transaction_id="tx")
    sent = with_offline(payload, True)
    assert sent["offline"] is True and "offline" not in payload
    assert_valid_request("TransactionEvent", sent)
    assert "offline" not in with_offline(sent, False)


def test_evse_command_call_args_name_the_evse() -> None:
    command = EvseCommand("stop", 2, {"reason": "Remote"})
    assert command.call_args() == {"evse": 2, "reason": "Remote"}


def test_tx_settings_come_from_the_device_model(tmp_path: Path) -> None:
    evses = [EvseTopology(1, (ConnectorTopology(1, "sType2"),))]
    seeds = {"TxCtrlr.TxStartPoint": "PowerPathClosed", "TxCtrlr.EVConnectionTimeOut": 45,
             "TxCtrlr.StopTxOnInvalidId": False, "AuthCtrlr.AuthorizeRemoteStart": True}
    with DeviceModel(tmp_path / "dm.db", evses, seeds) as dm:
        settings = TxSettings.from_device_model(dm)
    assert settings.start_points == frozenset({POWER_PATH})
    assert settings.stop_points == frozenset({EV_CONNECTED, AUTHORIZED})
    assert settings.ev_connection_timeout_s == 45
    assert settings.stop_tx_on_invalid_id is False
    assert settings.authorize_remote_start is True
    assert settings.sampling.tx_updated_interval_s == 60


def test_malformed_session_entries_are_skipped_with_a_log_line(tmp_path: Path, caplog) -> None:
    st = Station(tmp_path / "ocpp.db")
    for entry in ({"name": "teleported", "evse_id": 1}, {"name": "plugged_in", "evse_id": 9},
                  {"name": "plugged_in", "evse_id": "1"}, {"name": None}, {"data": "garbage"}):
        assert st.tx.on_session_entry(entry, st.now).events == []
    assert "ignored" in caplog.text
    out = st.tx.on_session_entry({"name": "plugged_in", "evse_id": 1, "session_id": "s1", "at": "soon"}, st.now)
    assert out.events[0]["timestamp"] == "2023-11-14T22:13:20.000Z"  # a bad time: the time it arrived


def test_reconcile_resends_what_evse_io_does_not_show(tmp_path: Path) -> None:
    st = Station(tmp_path / "ocpp.db")
    st.plug()
    st.swipe()
    lost = st.tx.reconcile_evse_io(1, {"session": {"session_id": "s1", "authorized": False}})
    assert [c.command for c in lost.commands] == ["authorize"]
    assert st.tx.reconcile_evse_io(1, {"session": {"authorized": True}}).commands == []
    st.swipe()  # stopped: evse_io still showing an authorized session gets a stop
    stale = st.tx.reconcile_evse_io(1, {"session": {"authorized": True}, "current_limit_a": 0.0})
    assert [(c.command, c.args) for c in stale.commands] == [("stop", {"reason": "Other"}),
                                                             ("set_current_limit", {"amps": None})]
