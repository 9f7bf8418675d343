"""The device model: declared variables, typed access, seeding rules, persistence, listeners."""

import sqlite3
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.ocpp_client.device_model.catalog import (
    AttributeSpec,
    ConnectorTopology,
    EvseTopology,
    VariableSpec,
)
from services.ocpp_client.device_model.keys import DeviceModelKeyError, VariableRef, parse_key, station_seeds
from services.ocpp_client.device_model.model import (
    DeviceModel,
    DeviceModelError,
    UnknownVariableError,
    VariableChange,
)
from services.ocpp_client.device_model.values import InvalidValueError

EVSES = (
    EvseTopology(1, (ConnectorTopology(1, "sType2"),)),
    EvseTopology(2, (ConnectorTopology(1, "sType2"), ConnectorTopology(2, "cType2")), supply_phases=1,
                 max_power_w=7360),
)
SEEDS = {
    "OCPPCommCtrlr.HeartbeatInterval": 60,
    "OCPPCommCtrlr.MessageAttempts[TransactionEvent]": 3,
    "ChargingStation.Model": "REON",
    "ChargingStation.VendorName": "REWATT",
    "SecurityCtrlr.BasicAuthPassword": "reon-sim-password-0001",
}

# appendix-dm_components_vars.csv, Required? = yes, for the Core controllers (part 5 §5), the physical
# components every station has, and LocalAuthListCtrlr (REON supports local lists).
REQUIRED = [
    "AlignedDataCtrlr.Interval", "AlignedDataCtrlr.Measurands", "AlignedDataCtrlr.TxEndedInterval",
    "AlignedDataCtrlr.TxEndedMeasurands", "AuthCtrlr.AuthorizeRemoteStart", "AuthCtrlr.LocalAuthorizeOffline",
    "AuthCtrlr.LocalPreAuthorize", "ChargingStation.AvailabilityState", "ChargingStation.Available",
    "ChargingStation.SupplyPhases", "ClockCtrlr.DateTime", "ClockCtrlr.TimeSource",
    "Connector@1/1.Available", "Connector@1/1.ConnectorType", "Connector@1/1.SupplyPhases",
    "DeviceDataCtrlr.BytesPerMessage[GetReport]", "DeviceDataCtrlr.BytesPerMessage[GetVariables]",
    "DeviceDataCtrlr.BytesPerMessage[SetVariables]", "DeviceDataCtrlr.ItemsPerMessage[GetReport]",
    "DeviceDataCtrlr.ItemsPerMessage[GetVariables]", "DeviceDataCtrlr.ItemsPerMessage[SetVariables]",
    "EVSE@1.AvailabilityState", "EVSE@1.Available", "EVSE@1.Power", "EVSE@1.SupplyPhases",
    "LocalAuthListCtrlr.BytesPerMessage", "LocalAuthListCtrlr.Entries", "LocalAuthListCtrlr.ItemsPerMessage",
    "OCPPCommCtrlr.FileTransferProtocols", "OCPPCommCtrlr.MessageTimeout[Default]",
    "OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]",
    "OCPPCommCtrlr.MessageAttempts[TransactionEvent]",
    "OCPPCommCtrlr.NetworkConfigurationPriority", "OCPPCommCtrlr.NetworkProfileConnectionAttempts",
    "OCPPCommCtrlr.OfflineThreshold", "OCPPCommCtrlr.ResetRetries", "OCPPCommCtrlr.UnlockOnEVSideDisconnect",
    "SampledDataCtrlr.TxEndedInterval", "SampledDataCtrlr.TxEndedMeasurands",
    "SampledDataCtrlr.TxStartedMeasurands", "SampledDataCtrlr.TxUpdatedInterval",
    "SampledDataCtrlr.TxUpdatedMeasurands", "SecurityCtrlr.CertificateEntries",
    "SecurityCtrlr.OrganizationName", "SecurityCtrlr.SecurityProfile", "TxCtrlr.EVConnectionTimeOut",
    "TxCtrlr.StopTxOnEVSideDisconnect", "TxCtrlr.StopTxOnInvalidId", "TxCtrlr.TxStartPoint",
    "TxCtrlr.TxStopPoint",
]
REON_OPTIONAL = [
    "OCPPCommCtrlr.HeartbeatInterval", "OCPPCommCtrlr.RetryBackOffWaitMinimum",
    "OCPPCommCtrlr.RetryBackOffRandomRange", "OCPPCommCtrlr.RetryBackOffRepeatTimes",
    "OCPPCommCtrlr.WebSocketPingInterval", "SecurityCtrlr.BasicAuthPassword", "TxCtrlr.MaxEnergyOnInvalidId",
    "DeviceDataCtrlr.ConfigurationValueSize", "DeviceDataCtrlr.ReportingValueSize",
    "AuthCacheCtrlr.Enabled", "AuthCacheCtrlr.LifeTime", "LocalAuthListCtrlr.Enabled",
    "ChargingStation.Model", "ChargingStation.VendorName", "ChargingStation.SerialNumber",
    "ChargingStation.FirmwareVersion", "ChargingStation.AllowNewSessionsPendingFirmwareUpdate",
    "SecurityCtrlr.Identity", "DataLink.ICCID", "DataLink.IMSI", "DataLink.SignalStrength",
]


@pytest.fixture
def open_dm(tmp_path):
    opened: list[DeviceModel] = []

    def _open(seeds=SEEDS, evses=EVSES, **kwargs) -> DeviceModel:
        dm = DeviceModel(tmp_path / "ocpp_client.db", evses, seeds, **kwargs)
        opened.append(dm)
        return dm

    yield _open
    for dm in opened:
        dm.close()


def _spec(dm: DeviceModel, key: str) -> VariableSpec:
    spec = dm.lookup(parse_key(key))
    assert spec is not None, key
    return spec


@pytest.mark.parametrize("key", REQUIRED + REON_OPTIONAL)
def test_required_and_reon_variables_are_declared(open_dm, key: str) -> None:
    _spec(open_dm(), key)


def test_evse_and_connector_components_follow_the_topology(open_dm) -> None:
    dm = open_dm()
    assert dm.get_str("Connector", "ConnectorType", evse_id=2, connector_id=2) == "cType2"
    assert dm.get_int("EVSE", "SupplyPhases", evse_id=2) == 1
    assert _spec(dm, "EVSE@2.Power").max_limit == 7360
    assert dm.get_int("ChargingStation", "SupplyPhases") == 3
    assert not dm.has_component(VariableRef("EVSE", "Power", evse_id=3))
    assert not dm.has_component(VariableRef("Connector", "ConnectorType", evse_id=1, connector_id=2))


def test_lookup_ignores_case_of_names_and_instances(open_dm) -> None:
    dm = open_dm()
    spec = dm.lookup(VariableRef("ocppcommctrlr", "messageattempts", variable_instance="TRANSACTIONEVENT"))
    assert spec is not None and spec.variable == "MessageAttempts"


def test_typed_accessors_read_seeded_and_default_values(open_dm) -> None:
    dm = open_dm()
    assert dm.get_int("OCPPCommCtrlr", "HeartbeatInterval") == 60
    assert dm.get_int("OCPPCommCtrlr", "MessageAttempts", variable_instance="TransactionEvent") == 3
    assert dm.get_int("OCPPCommCtrlr", "OfflineThreshold") == 300
    assert dm.get_bool("AuthCtrlr", "LocalAuthorizeOffline") is True
    assert dm.get_list("TxCtrlr", "TxStartPoint") == ["EVConnected", "Authorized"]
    assert dm.get_float("EVSE", "Power", evse_id=1) == 0.0
    assert dm.get_str("SecurityCtrlr", "BasicAuthPassword") == "reon-sim-password-0001"


def test_unknown_variable_and_unset_value_raise_clear_errors(open_dm) -> None:
    dm = open_dm()
    with pytest.raises(UnknownVariableError, match=r"OCPPCommCtrlr\.HeartBeat"):
        dm.get_int("OCPPCommCtrlr", "HeartBeat")
    with pytest.raises(UnknownVariableError, match="MaxSet"):
        dm.get("OCPPCommCtrlr", "HeartbeatInterval", attribute="MaxSet")
    with pytest.raises(DeviceModelError, match=r"DataLink\.ICCID has no value"):
        dm.get_str("DataLink", "ICCID")


def test_date_time_is_read_live_from_the_clock(open_dm) -> None:
    moment = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    dm = open_dm(clock=lambda: moment)
    assert dm.get_str("ClockCtrlr", "DateTime") == "2025-03-01T12:30:00.000Z"


def test_station_write_is_validated_and_heard_by_listeners(open_dm) -> None:
    dm = open_dm()
    heard: list[VariableChange] = []
    dm.on_change("DataLink", "ICCID", heard.append)
    dm.set("DataLink", "ICCID", "8988211000000000001")
    assert dm.get_str("DataLink", "ICCID") == "8988211000000000001"
    assert [(c.old_value, c.new_value, c.source) for c in heard] == [(None, "8988211000000000001", "station")]
    with pytest.raises(InvalidValueError):
        dm.set("OCPPCommCtrlr", "HeartbeatInterval", "often")
    dm.set("DataLink", "ICCID", "8988211000000000001")
    assert len(heard) == 1, "an unchanged value is not a change"


def test_listener_without_evse_hears_every_evse_and_can_unsubscribe(open_dm) -> None:
    dm = open_dm()
    heard: list[int | None] = []
    unsubscribe = dm.on_change("EVSE", "AvailabilityState", lambda change: heard.append(change.spec.evse_id))
    dm.set("EVSE", "AvailabilityState", "Occupied", evse_id=1)
    dm.set("EVSE", "AvailabilityState", "Faulted", evse_id=2)
    unsubscribe()
    dm.set("EVSE", "AvailabilityState", "Available", evse_id=1)
    assert heard == [1, 2]


def test_listener_for_an_undeclared_variable_is_refused(open_dm) -> None:
    with pytest.raises(UnknownVariableError):
        open_dm().on_change("OCPPCommCtrlr", "HeartbeatIntervall", lambda change: None)


def test_failing_listener_is_logged_and_the_others_still_run(open_dm, caplog) -> None:
    dm = open_dm()
    heard: list[str | None] = []

    def broken(change: VariableChange) -> None:
        raise RuntimeError("boom")

    dm.on_change("OCPPCommCtrlr", "OfflineThreshold", broken)
    dm.on_change("OCPPCommCtrlr", "OfflineThreshold", lambda change: heard.append(change.new_value))
    dm.write_from_csms([(_spec(dm, "OCPPCommCtrlr.OfflineThreshold"), "Actual", "600")])
    assert heard == ["600"]
    assert "change listener for OCPPCommCtrlr.OfflineThreshold failed" in caplog.text


def test_reboot_required_change_is_stored_but_not_applied_until_reboot(open_dm) -> None:
    dm = open_dm()
    heard: list[VariableChange] = []
    dm.on_change("OCPPCommCtrlr", "NetworkConfigurationPriority", heard.append)
    spec = _spec(dm, "OCPPCommCtrlr.NetworkConfigurationPriority")
    [outcome] = dm.write_from_csms([(spec, "Actual", "2,1")])
    assert outcome.status == "RebootRequired"
    assert heard == []
    assert dm.reboot_pending() == (spec,)
    assert dm.get_str("OCPPCommCtrlr", "NetworkConfigurationPriority") == "2,1"


def test_value_set_by_csms_survives_reopen(open_dm) -> None:
    dm = open_dm()
    dm.write_from_csms([(_spec(dm, "OCPPCommCtrlr.OfflineThreshold"), "Actual", "900")])
    dm.close()
    assert open_dm().get_int("OCPPCommCtrlr", "OfflineThreshold") == 900


def test_unchanged_seed_does_not_override_the_csms_value(open_dm) -> None:
    dm = open_dm()
    dm.write_from_csms([(_spec(dm, "OCPPCommCtrlr.HeartbeatInterval"), "Actual", "120")])
    dm.close()
    assert open_dm().get_int("OCPPCommCtrlr", "HeartbeatInterval") == 120


def test_seed_changed_in_the_config_replaces_the_stored_value(open_dm) -> None:
    dm = open_dm()
    dm.write_from_csms([(_spec(dm, "OCPPCommCtrlr.HeartbeatInterval"), "Actual", "120")])
    dm.close()
    dm = open_dm({**SEEDS, "OCPPCommCtrlr.HeartbeatInterval": 90})
    assert dm.get_int("OCPPCommCtrlr", "HeartbeatInterval") == 90
    dm.close()
    assert open_dm({**SEEDS, "OCPPCommCtrlr.HeartbeatInterval": 90}).get_int(
        "OCPPCommCtrlr", "HeartbeatInterval") == 90


def test_seed_removed_from_the_config_falls_back_to_the_default(open_dm) -> None:
    open_dm().close()
    seeds = {key: value for key, value in SEEDS.items() if key != "OCPPCommCtrlr.HeartbeatInterval"}
    assert open_dm(seeds).get_int("OCPPCommCtrlr", "HeartbeatInterval") == 300


def test_value_written_by_the_station_survives_restart(open_dm) -> None:
    dm = open_dm()
    dm.set("OCPPCommCtrlr", "HeartbeatInterval", 3600)  # from BootNotificationResponse.interval
    dm.close()
    assert open_dm().get_int("OCPPCommCtrlr", "HeartbeatInterval") == 3600


def test_live_values_start_from_their_seed_after_restart(open_dm) -> None:
    dm = open_dm()
    dm.set("DataLink", "SignalStrength", -71)
    dm.set("EVSE", "AvailabilityState", "Faulted", evse_id=1)
    dm.close()
    dm = open_dm()
    assert dm.get("DataLink", "SignalStrength") is None
    assert dm.get_str("EVSE", "AvailabilityState", evse_id=1) == "Available"


def test_seed_values_accept_toml_types(open_dm) -> None:
    dm = open_dm({
        "AuthCtrlr.LocalPreAuthorize": True,
        "TxCtrlr.TxStartPoint": ["PowerPathClosed", "Authorized"],
        "OCPPCommCtrlr.OfflineThreshold": "0600",
    })
    assert dm.get_bool("AuthCtrlr", "LocalPreAuthorize") is True
    assert dm.get_list("TxCtrlr", "TxStartPoint") == ["PowerPathClosed", "Authorized"]
    assert dm.get_int("OCPPCommCtrlr", "OfflineThreshold") == 600


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ({"OCPPCommCtrlr.Heartbeat": 60}, "device_model key 'OCPPCommCtrlr.Heartbeat': unknown variable"),
        ({"OCPPComCtrlr.HeartbeatInterval": 60}, "'OCPPComCtrlr.HeartbeatInterval': unknown component"),
        ({"EVSE@3.Power": 1}, "'EVSE@3.Power': unknown component"),
        ({"OCPPCommCtrlr.HeartbeatInterval": "often"}, "bad value 'often': 'often' is not an integer"),
        ({"OCPPCommCtrlr.HeartbeatInterval": 0}, "below the minimum 1"),
        ({"TxCtrlr.TxStartPoint": ["Parked"]}, "'Parked' is not one of"),
        ({"OCPPCommCtrlr.Heartbeat Interval": 60}, "variable name 'Heartbeat Interval'"),
    ],
)
def test_bad_seed_stops_the_open_with_an_error_naming_the_key(open_dm, seeds, message) -> None:
    with pytest.raises(DeviceModelKeyError) as caught:
        open_dm(seeds)
    assert message in str(caught.value)


def test_stored_value_no_longer_valid_falls_back_to_the_seed(open_dm) -> None:
    def mode(values: tuple[str, ...]) -> VariableSpec:
        return VariableSpec("ReonCtrlr", "Mode", "OptionList", (AttributeSpec("Actual", "ReadWrite", "A"),),
                            values_list=values)

    dm = open_dm(extra_variables=[mode(("A", "B"))])
    dm.write_from_csms([(_spec(dm, "ReonCtrlr.Mode"), "Actual", "B")])
    dm.close()
    assert open_dm(extra_variables=[mode(("A",))]).get_str("ReonCtrlr", "Mode") == "A"


def test_database_runs_in_wal_mode(open_dm, tmp_path) -> None:
    open_dm()
    with sqlite3.connect(tmp_path / "ocpp_client.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_fixed_cables_only_make_unlock_on_ev_side_disconnect_read_only(open_dm) -> None:
    dm = open_dm(evses=(EvseTopology(1, (ConnectorTopology(1, "cType2"),)),))
    spec = _spec(dm, "OCPPCommCtrlr.UnlockOnEVSideDisconnect")
    assert spec.attribute("Actual").mutability == "ReadOnly"
    assert dm.get_bool("OCPPCommCtrlr", "UnlockOnEVSideDisconnect") is False


@pytest.mark.parametrize(
    ("evses", "message"),
    [
        ((EvseTopology(1, (ConnectorTopology(1, "Type2"),)),), "unknown connector type 'Type2'"),
        ((EvseTopology(1, ()),), "EVSE 1 has no connector"),
        ((EvseTopology(1, (ConnectorTopology(1, "sType2"),)),) * 2, "must be unique"),
    ],
)
def test_bad_topology_is_refused(open_dm, evses, message) -> None:
    with pytest.raises(ValueError, match=message):
        open_dm(evses=evses)


def test_write_only_variable_names_feed_the_message_log_redaction(open_dm) -> None:
    assert open_dm().write_only_variable_names() == frozenset({"BasicAuthPassword"})


def test_shipped_station_config_seeds_a_working_device_model(tmp_path) -> None:
    config = tomllib.loads((Path(__file__).parents[4] / "deploy" / "station.toml").read_text())
    station, csms = config["station"], config["csms"]
    evses = [
        EvseTopology(evse["id"], tuple(ConnectorTopology(c["id"], c["type"]) for c in evse["connector"]),
                     evse["phases"], max_power_w=230.0 * evse["max_current_a"] * evse["phases"])
        for evse in config["evse"]
    ]
    seeds = {**config["device_model"], **station_seeds(
        station_id=station["id"], serial_number=station["serial_number"], model=station["model"],
        vendor=station["vendor"], firmware_version=station["firmware_version"],
        security_profile=csms["security_profile"], basic_auth_password=csms["password"])}
    with DeviceModel(tmp_path / "ocpp_client.db", evses, seeds) as dm:
        assert (dm.get_str("ChargingStation", "Model"), dm.get_str("ChargingStation", "VendorName")) == (
            "REON", "REWATT")
        assert dm.get_str("ChargingStation", "SerialNumber") == station["serial_number"]
        assert dm.get_int("OCPPCommCtrlr", "HeartbeatInterval") == config["device_model"][
            "OCPPCommCtrlr.HeartbeatInterval"]
        assert dm.get_float("EVSE", "Power", evse_id=2) == 0.0
        assert dm.get_str("SecurityCtrlr", "BasicAuthPassword") == csms["password"]
