"""SetVariableMonitoring (N04) on the real device model and ocpp.db: every status, replacing by id, bad input."""

from __future__ import annotations

import pytest

from services.ocpp_client.link.rpc_errors import CallError
from tests.services.ocpp_client.monitoring.rig import Rig, evse, monitor


def _custom_rows(rig: Rig) -> list[tuple]:
    return [row for row in rig.monitor_rows() if row[1] == "Custom"]


async def test_one_delta_monitor_is_accepted_with_an_id_and_reported(rig: Rig) -> None:
    """TC_N_08: Delta on EVSE 1 AvailabilityState, severity 8 → Accepted with an id; the report shows it."""
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "AvailabilityState", "Delta", 1, 8)]})
    [result] = response["setMonitoringResult"]
    assert result["status"] == "Accepted" and result["type"] == "Delta" and result["severity"] == 8
    assert result["component"] == evse(1) and result["variable"] == {"name": "AvailabilityState"}
    assert isinstance(result["id"], int) and "statusInfo" not in result
    report = await rig.call("GetMonitoringReport", {"requestId": 7, "componentVariable": [
        {"component": evse(1), "variable": {"name": "AvailabilityState"}}]})
    assert report == {"status": "Accepted"}
    ids = {m["id"]: m for entry in rig.report_monitors() for m in entry["variableMonitoring"]}
    assert ids[result["id"]] == {"id": result["id"], "transaction": False, "value": 1.0, "type": "Delta",
                                 "severity": 8}


async def test_monitors_on_different_variables_and_on_the_same_variable_get_distinct_ids(rig: Rig) -> None:
    """TC_N_09 (two variables) and TC_N_10 (same variable, severities 8 and 7)."""
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "AvailabilityState", "Delta", 1, 8),
        monitor({"name": "ChargingStation"}, "AvailabilityState", "Delta", 1, 8),
        monitor(evse(1), "AvailabilityState", "Delta", 1, 7)]})
    results = response["setMonitoringResult"]
    assert [r["status"] for r in results] == ["Accepted"] * 3
    assert len({r["id"] for r in results}) == 3


async def test_unknown_evse_and_unknown_component_are_refused_by_name(rig: Rig) -> None:
    """TC_N_11: EVSE 99 → UnknownComponent (UnknownEvse); component NonExistent → UnknownComponent."""
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(99), "AvailabilityState", "Delta", 1, 5),
        monitor({"name": "NonExistent"}, "Power", "UpperThreshold", 1234.0, 5)]})
    first, second = response["setMonitoringResult"]
    assert first["status"] == "UnknownComponent" and first["statusInfo"] == {"reasonCode": "UnknownEvse"}
    assert second["status"] == "UnknownComponent" and "id" not in first and "id" not in second
    assert _custom_rows(rig) == []


async def test_unknown_variable_is_reported_as_such(rig: Rig) -> None:
    """TC_N_37: EVSE unknownVariable → UnknownVariable."""
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor({"name": "EVSE"}, "unknownVariable", "Delta", 1, 5),
        monitor({"name": "ChargingStation"}, "NoSuchThing", "Delta", 1, 5)]})
    assert [r["status"] for r in response["setMonitoringResult"]] == ["UnknownVariable", "UnknownVariable"]


async def test_a_variable_of_another_component_is_rejected_and_the_existing_monitor_stays(rig: Rig) -> None:
    """TC_N_39: with a Delta on EVSE 1 AvailabilityState, UpperThreshold on ChargingStation.Power (Power is an
    EVSE's variable) → Rejected; the report still lists the EVSE monitor."""
    [existing] = (await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "AvailabilityState", "Delta", 1, 6)]}))["setMonitoringResult"]
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor({"name": "ChargingStation"}, "Power", "UpperThreshold", 1, 5)]})
    assert response["setMonitoringResult"][0]["status"] == "Rejected"
    assert await rig.call("GetMonitoringReport", {"requestId": 8}) == {"status": "Accepted"}
    ids = {m["id"] for e in rig.report_monitors() for m in e["variableMonitoring"]}
    assert existing["id"] in ids


async def test_negative_delta_and_out_of_range_threshold_are_rejected(rig: Rig) -> None:
    """TC_N_12 (Delta -1) and TC_N_13 (UpperThreshold above EVSE.Power maxLimit 22080 W) → Rejected."""
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "AvailabilityState", "Delta", -1, 5),
        monitor(evse(1), "Power", "UpperThreshold", 22081, 5),
        monitor(evse(1), "Power", "LowerThreshold", -1, 5)]})
    assert [(r["status"], r["statusInfo"]["reasonCode"]) for r in response["setMonitoringResult"]] == [
        ("Rejected", "ValueOutOfRange")] * 3
    assert _custom_rows(rig) == []


async def test_same_type_and_severity_on_one_variable_is_a_duplicate(rig: Rig) -> None:
    """TC_N_15: the second Delta/severity 6 on EVSE 1 AvailabilityState → Duplicate, and not stored."""
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "AvailabilityState", "Delta", 1, 6), monitor(evse(1), "AvailabilityState", "Delta", 1, 6)]})
    first, second = response["setMonitoringResult"]
    assert first["status"] == "Accepted" and second["status"] == "Duplicate" and "id" not in second
    again = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "AvailabilityState", "Delta", 1, 6)]})
    assert again["setMonitoringResult"][0]["status"] == "Duplicate"
    assert len(_custom_rows(rig)) == 1


async def test_threshold_on_a_non_numeric_variable_is_an_unsupported_monitor_type(rig: Rig) -> None:
    """TC_N_38: UpperThreshold on AvailabilityState (an OptionList)."""
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "AvailabilityState", "UpperThreshold", 1, 5)]})
    assert response["setMonitoringResult"][0]["status"] == "UnsupportedMonitorType"


async def test_an_existing_monitor_is_replaced_by_its_id(rig: Rig) -> None:
    """TC_N_40: Delta severity 5, then the same id with severity 4 → one monitor, severity 4."""
    first = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "AvailabilityState", "Delta", 1, 5)]})
    monitor_id = first["setMonitoringResult"][0]["id"]
    second = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "AvailabilityState", "Delta", 1, 4, id=monitor_id)]})
    assert second["setMonitoringResult"][0] | {} == second["setMonitoringResult"][0]
    assert second["setMonitoringResult"][0]["status"] == "Accepted"
    assert second["setMonitoringResult"][0]["id"] == monitor_id
    assert [row[5] for row in _custom_rows(rig)] == [4]


async def test_an_unknown_or_hard_wired_id_cannot_be_replaced(rig: Rig) -> None:
    hard_wired = next(row[0] for row in rig.monitor_rows() if row[1] == "HardWired")
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "AvailabilityState", "Delta", 1, 4, id=987654),
        monitor({"name": "ConnectorPlugRetentionLock", "evse": {"id": 1, "connectorId": 1}}, "Problem", "Delta", 1,
                9, id=hard_wired)]})
    assert [r["status"] for r in response["setMonitoringResult"]] == ["Rejected", "Rejected"]


async def test_a_preconfigured_monitor_overruled_by_id_returns_with_factory_default(rig: Rig) -> None:
    """TC_N_41: the preconfigured Delta on EVSE 1 AvailabilityState, severity 9 → 8 by id; FactoryDefault
    brings back 9 under the same id."""
    preconfigured = next(row for row in rig.monitor_rows()
                         if row[1] == "Preconfigured" and '"EVSE", "AvailabilityState", null, 1' in row[2])
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "AvailabilityState", "Delta", 1, 8, id=preconfigured[0])]})
    assert response["setMonitoringResult"][0]["status"] == "Accepted"
    criteria = {"componentVariable": [{"component": evse(1), "variable": {"name": "AvailabilityState"}}],
                "monitoringCriteria": ["DeltaMonitoring"]}
    await rig.call("GetMonitoringReport", {"requestId": 1, **criteria})
    assert rig.report_monitors()[0]["variableMonitoring"] == [
        {"id": preconfigured[0], "transaction": False, "value": 1.0, "type": "Delta", "severity": 8}]
    assert await rig.call("SetMonitoringBase", {"monitoringBase": "FactoryDefault"}) == {"status": "Accepted"}
    rig.sent.clear()
    await rig.call("GetMonitoringReport", {"requestId": 2, **criteria})
    assert rig.report_monitors()[0]["variableMonitoring"][0]["severity"] == 9


async def test_one_bad_entry_among_good_ones_refuses_only_that_entry(rig: Rig) -> None:
    """TC_N_43: UpperThreshold ok, Delta -1 rejected, LowerThreshold ok."""
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "Power", "UpperThreshold", 100, 5), monitor(evse(1), "Power", "Delta", -1.0, 5),
        monitor(evse(1), "Power", "LowerThreshold", 10, 5)]})
    assert [r["status"] for r in response["setMonitoringResult"]] == ["Accepted", "Rejected", "Accepted"]
    assert len(_custom_rows(rig)) == 2


async def test_severity_out_of_range_is_rejected_and_stores_nothing(rig: Rig) -> None:
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "Power", "UpperThreshold", 100, 10), monitor(evse(1), "Power", "UpperThreshold", 100, -1)]})
    assert [(r["status"], r["statusInfo"]["reasonCode"]) for r in response["setMonitoringResult"]] == [
        ("Rejected", "ValueOutOfRange")] * 2
    assert _custom_rows(rig) == []


async def test_a_variable_that_does_not_support_monitoring_is_rejected(rig: Rig) -> None:
    """Constant variables (SerialNumber, ConnectorType) never change: supportsMonitoring false."""
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor({"name": "ChargingStation"}, "SerialNumber", "Delta", 1, 5)]})
    assert response["setMonitoringResult"][0]["status"] == "Rejected"
    assert response["setMonitoringResult"][0]["statusInfo"] == {"reasonCode": "UnsupportedParam"}
    assert _custom_rows(rig) == []


async def test_ten_thousand_entries_in_one_request_are_a_callerror_and_change_nothing(rig: Rig) -> None:
    before = rig.monitor_rows()
    entries = [monitor(evse(1), "Power", "UpperThreshold", i % 20000, i % 10) for i in range(10_000)]
    with pytest.raises(CallError) as error:
        await rig.call("SetVariableMonitoring", {"setMonitoringData": entries})
    assert error.value.code == "OccurrenceConstraintViolation"
    assert rig.monitor_rows() == before


async def test_monitors_beyond_the_station_limit_are_rejected_one_by_one(tmp_path) -> None:
    rig = Rig(tmp_path, max_custom_monitors=3)
    entries = [monitor(evse(1), "Power", "UpperThreshold", 100 + i, i) for i in range(5)]
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": entries})
    statuses = [(r["status"], r.get("statusInfo", {}).get("reasonCode")) for r in response["setMonitoringResult"]]
    assert statuses == [("Accepted", None)] * 3 + [("Rejected", "TooManyElements")] * 2
    assert len(_custom_rows(rig)) == 3


async def test_a_request_larger_than_bytes_per_message_is_a_format_violation(rig: Rig) -> None:
    rig.dm.set("MonitoringCtrlr", "BytesPerMessage", 200, variable_instance="SetVariableMonitoring")
    entries = [monitor(evse(1), "Power", "UpperThreshold", 100 + i, 5) for i in range(3)]
    with pytest.raises(CallError) as error:
        await rig.call("SetVariableMonitoring", {"setMonitoringData": entries})
    assert error.value.code == "FormatViolation"
    assert _custom_rows(rig) == []


async def test_monitors_survive_a_reopen_of_the_database(rig: Rig) -> None:
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "Power", "UpperThreshold", 7000, 4)]})
    monitor_id = response["setMonitoringResult"][0]["id"]
    rows = rig.monitor_rows()
    rig.reopen()
    assert rig.monitor_rows() == rows
    assert rig.block.store.get(monitor_id).settings.value == 7000


async def test_a_value_that_is_not_a_finite_number_is_rejected(rig: Rig) -> None:
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "Power", "Delta", float("inf"), 5)]})
    assert response["setMonitoringResult"][0]["status"] == "Rejected"
    assert _custom_rows(rig) == []
