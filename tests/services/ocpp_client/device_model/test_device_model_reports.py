"""GetVariables / SetVariables / GetBaseReport / GetReport against the device model (B05-B08).

Every request and every payload produced is checked against the OCPP 2.0.1 JSON schemas of the
installed `ocpp` package. Test names cite the Part 6 station test case they follow where one exists.
"""

import functools
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import ocpp
import pytest

from services.ocpp_client.device_model import reports
from services.ocpp_client.device_model.catalog import (
    AttributeSpec,
    ConnectorTopology,
    EvseTopology,
    VariableSpec,
)
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.link.rpc_errors import CallError

SCHEMA_DIR = Path(ocpp.__file__).parent / "v201" / "schemas"
PASSWORD = "reon-sim-password-0001"
EVSES = (
    EvseTopology(1, (ConnectorTopology(1, "sType2"),)),
    EvseTopology(2, (ConnectorTopology(1, "sType2"), ConnectorTopology(2, "cType2"))),
)
SEEDS = {
    "OCPPCommCtrlr.OfflineThreshold": 300,
    "AuthCtrlr.LocalAuthorizeOffline": True,
    "SecurityCtrlr.BasicAuthPassword": PASSWORD,
    "ChargingStation.Model": "REON",
}
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
# A variable with setpoint attributes, to exercise MinSet/MaxSet (REON's catalog has Actual only).
HEATER = VariableSpec(
    "Heater", "Temperature", "decimal",
    (AttributeSpec("Actual", "ReadOnly", "21.5"), AttributeSpec("MinSet", "ReadWrite", "5"),
     AttributeSpec("MaxSet", "ReadWrite", None)),
    unit="Celsius", min_limit=-40, max_limit=80,
)


@functools.cache
def _validator(name: str) -> jsonschema.Draft6Validator:
    return jsonschema.Draft6Validator(json.loads((SCHEMA_DIR / f"{name}.json").read_text()))


def assert_valid(name: str, payload: dict) -> dict:
    errors = [f"{list(error.path)}: {error.message}" for error in _validator(name).iter_errors(payload)]
    assert not errors, f"{name} breaks its schema: {errors}"
    return payload


@pytest.fixture
def open_dm(tmp_path):
    opened: list[DeviceModel] = []

    def _open(extra_seeds=None) -> DeviceModel:
        dm = DeviceModel(tmp_path / "dm.db", EVSES, {**SEEDS, **(extra_seeds or {})},
                         extra_variables=[HEATER], clock=lambda: NOW)
        opened.append(dm)
        return dm

    yield _open
    for dm in opened:
        dm.close()


@pytest.fixture
def dm(open_dm) -> DeviceModel:
    return open_dm()


def cv(component: str, variable: str, *, evse=None, connector=None, instance=None, attribute=None) -> dict:
    entry: dict = {"component": {"name": component}, "variable": {"name": variable}}
    if evse is not None:
        entry["component"]["evse"] = {"id": evse}
        if connector is not None:
            entry["component"]["evse"]["connectorId"] = connector
    if instance is not None:
        entry["variable"]["instance"] = instance
    if attribute is not None:
        entry["attributeType"] = attribute
    return entry


def get(dm: DeviceModel, *entries: dict) -> list[dict]:
    request = assert_valid("GetVariablesRequest", {"getVariableData": list(entries)})
    return assert_valid("GetVariablesResponse", reports.get_variables(dm, request))["getVariableResult"]


def set_(dm: DeviceModel, *entries: tuple[dict, str]) -> list[dict]:
    data = [{**entry, "attributeValue": value} for entry, value in entries]
    request = assert_valid("SetVariablesRequest", {"setVariableData": data})
    return assert_valid("SetVariablesResponse", reports.set_variables(dm, request))["setVariableResult"]


def base_report(dm: DeviceModel, report_base: str, request_id: int = 7) -> reports.ReportReply:
    request = assert_valid("GetBaseReportRequest", {"requestId": request_id, "reportBase": report_base})
    return _checked(reports.get_base_report(dm, request), "GetBaseReportResponse", request_id)


def custom_report(dm: DeviceModel, request_id: int = 8, **fields) -> reports.ReportReply:
    request = assert_valid("GetReportRequest", {"requestId": request_id, **fields})
    return _checked(reports.get_report(dm, request), "GetReportResponse", request_id)


def _checked(reply: reports.ReportReply, response_schema: str, request_id: int) -> reports.ReportReply:
    assert_valid(response_schema, reply.response)
    for seq_no, page in enumerate(reply.notify_reports):
        assert_valid("NotifyReportRequest", page)
        assert (page["requestId"], page["seqNo"]) == (request_id, seq_no)
        assert page["tbc"] is (seq_no < len(reply.notify_reports) - 1)
        assert page["generatedAt"] == "2025-01-02T03:04:05.000Z"
    return reply


def report_data(reply: reports.ReportReply) -> list[dict]:
    return [entry for page in reply.notify_reports for entry in page["reportData"]]


def names(data: list[dict]) -> list[str]:
    return [f"{entry['component']['name']}.{entry['variable']['name']}" for entry in data]


# ----- GetVariables (B06) ---------------------------------------------------------------------------


def test_get_single_value_tc_b_06(dm) -> None:
    [result] = get(dm, cv("OCPPCommCtrlr", "OfflineThreshold", attribute="Actual"))
    assert result == {"attributeStatus": "Accepted", "attributeType": "Actual", "attributeValue": "300",
                      "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}}


def test_get_multiple_values_in_request_order_tc_b_07(dm) -> None:
    results = get(dm, cv("OCPPCommCtrlr", "OfflineThreshold"), cv("AuthCtrlr", "LocalAuthorizeOffline"))
    assert [(r["attributeStatus"], r["attributeValue"]) for r in results] == [("Accepted", "300"),
                                                                             ("Accepted", "true")]


def test_get_unknown_component_tc_b_32(dm) -> None:
    [result] = get(dm, cv("UnknownComponent", "OfflineThreshold"))
    assert result["attributeStatus"] == "UnknownComponent" and "attributeValue" not in result
    assert result["component"] == {"name": "UnknownComponent"}


def test_get_unknown_variable_tc_b_33(dm) -> None:
    [result] = get(dm, cv("OCPPCommCtrlr", "UnknownVariable"))
    assert result["attributeStatus"] == "UnknownVariable" and "attributeValue" not in result


def test_get_not_supported_attribute_type_tc_b_34(dm) -> None:
    [result] = get(dm, cv("OCPPCommCtrlr", "OfflineThreshold", attribute="Target"))
    assert (result["attributeStatus"], result["attributeType"]) == ("NotSupportedAttributeType", "Target")


def test_get_write_only_variable_is_rejected_without_its_value(dm) -> None:
    [result] = get(dm, cv("SecurityCtrlr", "BasicAuthPassword"))
    assert result["attributeStatus"] == "Rejected"
    assert result["attributeStatusInfo"] == {"reasonCode": "WriteOnly"}
    assert PASSWORD not in json.dumps(result)


def test_get_unset_supported_attribute_answers_empty_string(dm) -> None:
    results = get(dm, cv("DataLink", "ICCID"), cv("Heater", "Temperature", attribute="MaxSet"))
    assert [(r["attributeStatus"], r["attributeValue"]) for r in results] == [("Accepted", "")] * 2


def test_get_addresses_evse_connector_and_instances_exactly(dm) -> None:
    results = get(
        dm,
        cv("EVSE", "AvailabilityState", evse=2),
        cv("Connector", "ConnectorType", evse=2, connector=2),
        cv("EVSE", "AvailabilityState"),
        cv("EVSE", "AvailabilityState", evse=3),
        cv("OCPPCommCtrlr", "MessageAttempts"),
        cv("ocppcommctrlr", "messageattempts", instance="transactionevent"),
    )
    assert [r["attributeStatus"] for r in results] == [
        "Accepted", "Accepted", "UnknownComponent", "UnknownComponent", "UnknownVariable", "Accepted"]
    assert results[1]["attributeValue"] == "cType2"
    assert results[5]["variable"] == {"name": "messageattempts", "instance": "transactionevent"}


def test_get_cuts_values_to_reporting_value_size(open_dm) -> None:
    dm = open_dm({"DeviceDataCtrlr.ReportingValueSize": 8})
    [result] = get(dm, cv("SampledDataCtrlr", "TxUpdatedMeasurands"))
    assert result["attributeValue"] == "Energy.A"


# ----- SetVariables (B05) ---------------------------------------------------------------------------


def test_set_single_value_is_accepted_and_read_back_tc_b_09(dm) -> None:
    [result] = set_(dm, (cv("OCPPCommCtrlr", "OfflineThreshold", attribute="Actual"), "600"))
    assert result == {"attributeStatus": "Accepted", "attributeType": "Actual",
                      "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}}
    assert get(dm, cv("OCPPCommCtrlr", "OfflineThreshold"))[0]["attributeValue"] == "600"


def test_set_multiple_values_tc_b_10(dm) -> None:
    results = set_(dm, (cv("OCPPCommCtrlr", "OfflineThreshold"), "300"),
                   (cv("AuthCtrlr", "LocalAuthorizeOffline"), "false"))
    assert [r["attributeStatus"] for r in results] == ["Accepted", "Accepted"]
    assert dm.get_bool("AuthCtrlr", "LocalAuthorizeOffline") is False


def test_set_unknown_component_variable_and_attribute_tc_b_35_36_37(dm) -> None:
    results = set_(dm, (cv("UnknownComponent", "OfflineThreshold"), "1"),
                   (cv("OCPPCommCtrlr", "UnknownVariable"), "1"),
                   (cv("OCPPCommCtrlr", "OfflineThreshold", attribute="Target"), "1"))
    assert [r["attributeStatus"] for r in results] == ["UnknownComponent", "UnknownVariable",
                                                       "NotSupportedAttributeType"]
    assert results[2]["attributeType"] == "Target"
    assert dm.get_int("OCPPCommCtrlr", "OfflineThreshold") == 300


@pytest.mark.parametrize(
    ("component", "variable", "accepted"),
    [("OCPPCommCtrlr", "OfflineThreshold", "300"), ("AuthCtrlr", "AuthorizeRemoteStart", "true")],
)
def test_set_invalidly_formatted_values_is_rejected_tc_b_11(dm, component, variable, accepted) -> None:
    values = ["300", "300.1", "true", "2025-01-02T03:04:05Z", "abc"]
    results = set_(dm, *[(cv(component, variable), value) for value in values])
    for value, result in zip(values, results, strict=True):
        if value == accepted:
            assert result["attributeStatus"] == "Accepted"
        else:
            assert result["attributeStatus"] == "Rejected", value
            assert result["attributeStatusInfo"]["reasonCode"] == "InvalidValue"


def test_set_read_only_variable_is_rejected_tc_b_39(dm) -> None:
    [result] = set_(dm, (cv("OCPPCommCtrlr", "MessageTimeout", instance="Default"), "10"))
    assert result["attributeStatus"] == "Rejected"
    assert result["attributeStatusInfo"]["reasonCode"] == "ReadOnly"
    assert result["variable"] == {"name": "MessageTimeout", "instance": "Default"}


def test_set_out_of_range_and_unlisted_values_are_rejected(dm) -> None:
    results = set_(dm, (cv("OCPPCommCtrlr", "HeartbeatInterval"), "0"),
                   (cv("TxCtrlr", "TxStartPoint"), "EVConnected,ParkingBayOccupancy"),
                   (cv("TxCtrlr", "TxStopPoint"), ""),
                   (cv("SecurityCtrlr", "BasicAuthPassword"), "short"))
    assert [(r["attributeStatus"], r["attributeStatusInfo"]["reasonCode"]) for r in results] == [
        ("Rejected", "ValueOutOfRange"), ("Rejected", "InvalidValue"), ("Rejected", "InvalidValue"),
        ("Rejected", "ValueOutOfRange")]
    assert dm.get_str("SecurityCtrlr", "BasicAuthPassword") == PASSWORD


def test_set_longer_than_configuration_value_size_is_rejected(open_dm) -> None:
    dm = open_dm({"DeviceDataCtrlr.ConfigurationValueSize": 10})
    [result] = set_(dm, (cv("SecurityCtrlr", "OrganizationName"), "REWATT Charging Services"))
    assert (result["attributeStatus"], result["attributeStatusInfo"]["reasonCode"]) == (
        "Rejected", "TooLargeElement")


def test_set_write_only_password_is_accepted_and_used(dm) -> None:
    [result] = set_(dm, (cv("SecurityCtrlr", "BasicAuthPassword"), "a-new-password-of-24-chs"))
    assert result["attributeStatus"] == "Accepted"
    assert dm.get_str("SecurityCtrlr", "BasicAuthPassword") == "a-new-password-of-24-chs"


def test_set_reboot_required_variable_answers_reboot_required(dm) -> None:
    [result] = set_(dm, (cv("OCPPCommCtrlr", "NetworkConfigurationPriority"), "1"))
    assert result["attributeStatus"] == "RebootRequired"


def test_set_min_and_max_set_attributes(dm) -> None:
    def heater(kind: str) -> dict:
        return cv("Heater", "Temperature", attribute=kind)

    results = set_(dm, (heater("MaxSet"), "60"), (heater("MinSet"), "-5"), (heater("Actual"), "30"),
                   (heater("MaxSet"), "99"))
    assert [r["attributeStatus"] for r in results] == ["Accepted", "Accepted", "Rejected", "Rejected"]
    got = get(dm, *[heater(kind) for kind in ("Actual", "MinSet", "MaxSet", "Target")])
    assert [r.get("attributeValue") for r in got] == ["21.5", "-5", "60", None]
    assert got[3]["attributeStatus"] == "NotSupportedAttributeType"


def test_set_value_survives_restart_and_reaches_listeners(open_dm) -> None:
    dm = open_dm()
    heard = []
    dm.on_change("OCPPCommCtrlr", "HeartbeatInterval", lambda change: heard.append(change.new_value))
    set_(dm, (cv("OCPPCommCtrlr", "HeartbeatInterval"), "45"))
    assert heard == ["45"]
    dm.close()
    assert open_dm().get_int("OCPPCommCtrlr", "HeartbeatInterval") == 45


# ----- message limits (B06.FR.16/17 and the same rule for SetVariables / GetReport) -----------------


def test_more_entries_than_items_per_message_is_an_occurrence_constraint_violation(open_dm) -> None:
    dm = open_dm({"DeviceDataCtrlr.ItemsPerMessage[GetVariables]": 2,
                  "DeviceDataCtrlr.ItemsPerMessage[SetVariables]": 1,
                  "DeviceDataCtrlr.ItemsPerMessage[GetReport]": 1})
    entry = cv("OCPPCommCtrlr", "OfflineThreshold")
    assert len(get(dm, entry, entry)) == 2
    setting = {**entry, "attributeValue": "1"}
    for call in (lambda: reports.get_variables(dm, {"getVariableData": [entry] * 3}),
                 lambda: reports.set_variables(dm, {"setVariableData": [setting] * 2}),
                 lambda: reports.get_report(dm, {"requestId": 1, "componentVariable": [entry] * 2})):
        with pytest.raises(CallError) as caught:
            call()
        assert caught.value.code == "OccurrenceConstraintViolation"
        assert "ItemsPerMessage" in caught.value.description
    assert dm.get_int("OCPPCommCtrlr", "OfflineThreshold") == 300, "nothing of a refused request applies"


def test_larger_request_than_bytes_per_message_is_a_format_violation(open_dm) -> None:
    dm = open_dm({"DeviceDataCtrlr.BytesPerMessage[GetVariables]": 200,
                  "DeviceDataCtrlr.BytesPerMessage[SetVariables]": 200})
    entry = cv("OCPPCommCtrlr", "OfflineThreshold")
    assert len(get(dm, entry)) == 1
    with pytest.raises(CallError) as caught:
        reports.get_variables(dm, {"getVariableData": [entry] * 4})
    assert caught.value.code == "FormatViolation"
    with pytest.raises(CallError, match="FormatViolation"):
        reports.set_variables(dm, {"setVariableData": [{**entry, "attributeValue": "1"}]}, message_bytes=201)


# ----- GetBaseReport (B07) --------------------------------------------------------------------------


def test_full_inventory_reports_every_variable_with_characteristics_tc_b_13_53(dm) -> None:
    reply = base_report(dm, "FullInventory")
    assert reply.response == {"status": "Accepted"}
    data = report_data(reply)
    assert len(data) == len(dm.catalog)
    for entry in data:
        characteristics = entry["variableCharacteristics"]
        if characteristics["dataType"] in ("OptionList", "MemberList", "SequenceList"):
            allowed = characteristics["valuesList"].split(",")
            value = entry["variableAttribute"][0]["value"]
            assert all(item in allowed for item in value.split(",") if item), entry
    [password] = [e for e in data if e["variable"]["name"] == "BasicAuthPassword"]
    assert password["variableAttribute"] == [{"type": "Actual", "mutability": "WriteOnly", "persistent": True,
                                              "constant": False}]


def test_configuration_inventory_reports_only_writable_attributes_tc_b_12(dm) -> None:
    data = report_data(base_report(dm, "ConfigurationInventory"))
    mutabilities = {attr["mutability"] for entry in data for attr in entry["variableAttribute"]}
    assert mutabilities == {"ReadWrite", "WriteOnly"}
    reported = names(data)
    assert "OCPPCommCtrlr.OfflineThreshold" in reported and "SecurityCtrlr.BasicAuthPassword" in reported
    assert "OCPPCommCtrlr.MessageTimeout" not in reported
    [heater] = [e for e in data if e["component"]["name"] == "Heater"]
    assert [attr["type"] for attr in heater["variableAttribute"]] == ["MinSet", "MaxSet"]


def test_summary_inventory_reports_availability_of_station_evses_and_connectors(dm) -> None:
    dm.set("EVSE", "AvailabilityState", "Faulted", evse_id=2)
    data = report_data(base_report(dm, "SummaryInventory"))
    assert names(data) == ["ChargingStation.AvailabilityState", "EVSE.AvailabilityState",
                           "Connector.AvailabilityState", "EVSE.AvailabilityState",
                           "Connector.AvailabilityState", "Connector.AvailabilityState"]
    assert data[3]["component"]["evse"] == {"id": 2}
    assert data[3]["variableAttribute"][0]["value"] == "Faulted"


def test_unknown_report_base_is_not_supported(dm) -> None:
    reply = reports.get_base_report(dm, {"requestId": 1, "reportBase": "EverythingInventory"})
    assert reply.response["status"] == "NotSupported" and reply.notify_reports == []


def test_write_only_value_appears_in_no_report(dm) -> None:
    every_payload = [base_report(dm, kind) for kind in ("FullInventory", "ConfigurationInventory")]
    every_payload.append(custom_report(dm, componentVariable=[{"component": {"name": "SecurityCtrlr"}}]))
    assert PASSWORD not in json.dumps([reply.notify_reports for reply in every_payload])


def test_report_pages_follow_items_per_message(open_dm) -> None:
    dm = open_dm({"DeviceDataCtrlr.ItemsPerMessage[GetReport]": 10})
    reply = base_report(dm, "FullInventory")
    assert len(reply.notify_reports) == math.ceil(len(dm.catalog) / 10) > 1
    assert all(len(page["reportData"]) <= 10 for page in reply.notify_reports)
    assert len(report_data(reply)) == len(dm.catalog)


def test_report_pages_stay_within_bytes_per_message(open_dm) -> None:
    dm = open_dm({"DeviceDataCtrlr.BytesPerMessage[GetReport]": 2000})
    reply = base_report(dm, "FullInventory")
    frames = [json.dumps([2, "x" * 36, "NotifyReport", page], separators=(",", ":"))
              for page in reply.notify_reports]
    assert max(len(frame.encode()) for frame in frames) <= 2000
    assert len(report_data(reply)) == len(dm.catalog)


# ----- GetReport (B08) ------------------------------------------------------------------------------


def test_custom_report_for_one_evse_variable_tc_b_17(dm) -> None:
    data = report_data(custom_report(dm, componentVariable=[cv("EVSE", "AvailabilityState", evse=1)]))
    assert len(data) == 1
    assert data[0]["component"] == {"name": "EVSE", "evse": {"id": 1}}
    values_list = data[0]["variableCharacteristics"]["valuesList"]
    assert values_list == "Available,Occupied,Reserved,Unavailable,Faulted"
    assert data[0]["variableAttribute"][0]["mutability"] == "ReadOnly"


def test_custom_report_criteria_narrow_component_variables_tc_b_18(dm) -> None:
    wanted = [cv("EVSE", "AvailabilityState", evse=1)]
    available = custom_report(dm, componentCriteria=["Available"], componentVariable=wanted)
    assert names(report_data(available)) == ["EVSE.AvailabilityState"]
    problem = custom_report(dm, componentCriteria=["Problem"], componentVariable=wanted)
    assert problem.response == {"status": "EmptyResultSet", "statusInfo": {"reasonCode": "NotFound"}}
    assert problem.notify_reports == []


def test_custom_report_enabled_criterion_follows_the_enabled_value_tc_b_16(dm) -> None:
    def enabled() -> list[str]:
        return names(report_data(custom_report(dm, componentCriteria=["Enabled"])))

    assert "AuthCacheCtrlr.LifeTime" in enabled()
    set_(dm, (cv("AuthCacheCtrlr", "Enabled"), "false"))
    assert "AuthCacheCtrlr.LifeTime" not in enabled()


def test_custom_report_without_instance_or_evse_reports_all_of_them_tc_b_54_55_56(dm) -> None:
    items = cv("DeviceDataCtrlr", "ItemsPerMessage")
    every_instance = report_data(custom_report(dm, componentVariable=[items]))
    instances = [e["variable"]["instance"] for e in every_instance]
    assert instances == ["GetReport", "GetVariables", "SetVariables"]
    items["variable"]["instance"] = "GetReport"
    one = report_data(custom_report(dm, componentVariable=[items]))
    assert [e["variable"]["instance"] for e in one] == ["GetReport"]
    evses = report_data(custom_report(dm, componentVariable=[cv("EVSE", "AvailabilityState")]))
    assert [e["component"]["evse"]["id"] for e in evses] == [1, 2]


def test_custom_report_for_a_whole_component_and_for_nothing_known(dm) -> None:
    whole = report_data(custom_report(dm, componentVariable=[{"component": {"name": "DataLink"}}]))
    assert names(whole) == ["DataLink.ICCID", "DataLink.IMSI", "DataLink.SignalStrength"]
    nothing = custom_report(dm, componentVariable=[cv("NoSuchCtrlr", "X")])
    assert nothing.response["status"] == "EmptyResultSet"


def test_custom_report_with_unsupported_criterion_is_not_supported_tc_b_19(dm) -> None:
    reply = reports.get_report(dm, {"requestId": 3, "componentCriteria": ["Available", "Dusty"]})
    assert reply.response["status"] == "NotSupported" and reply.notify_reports == []
    assert_valid("GetReportResponse", reply.response)
