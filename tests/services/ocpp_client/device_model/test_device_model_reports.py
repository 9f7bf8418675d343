"""GetBaseReport / GetReport against the device model (B07, B08).

Every request and every payload produced is checked against the OCPP 2.0.1 JSON schemas of the
installed `ocpp` package. Test names cite the Part 6 station test case they follow where one exists.
"""

import json
import math

from services.ocpp_client.device_model import reports
from tests.services.ocpp_client.device_model.variables_rig import (
    PASSWORD,
    assert_valid,
    base_report,
    custom_report,
    cv,
    names,
    report_data,
    set_,
)

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
