"""GetVariables / SetVariables against the device model (B05, B06) and their message limits.

Every request and every payload produced is checked against the OCPP 2.0.1 JSON schemas of the
installed `ocpp` package. Test names cite the Part 6 station test case they follow where one exists.
"""

import json

import pytest

from services.ocpp_client.device_model import reports
from services.ocpp_client.link.rpc_errors import CallError
from tests.services.ocpp_client.device_model.variables_rig import PASSWORD, cv, get, set_

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
