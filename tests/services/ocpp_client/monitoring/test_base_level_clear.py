"""SetMonitoringBase (N03), SetMonitoringLevel (N05), ClearVariableMonitoring (N06) on ocpp.db."""

from __future__ import annotations

from tests.services.ocpp_client.monitoring.rig import Rig, evse, monitor

STATION_AVAILABILITY = {"component": {"name": "ChargingStation"}, "variable": {"name": "AvailabilityState"}}


async def _set(rig: Rig, *entries: dict) -> list[int]:
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": list(entries)})
    return [r["id"] for r in response["setMonitoringResult"]]


async def test_every_monitoring_base_is_accepted_and_mirrored_in_the_device_model(rig: Rig) -> None:
    """TC_N_05: All, FactoryDefault, HardWiredOnly → Accepted; ActiveMonitoringBase follows."""
    for base in ("All", "FactoryDefault", "HardWiredOnly"):
        assert await rig.call("SetMonitoringBase", {"monitoringBase": base}) == {"status": "Accepted"}
        assert rig.dm.get_str("MonitoringCtrlr", "ActiveMonitoringBase") == base


async def test_hard_wired_only_removes_custom_and_preconfigured_monitors(rig: Rig) -> None:
    """TC_N_06: the (preconfigured) ChargingStation AvailabilityState Delta is reported, then gone after
    HardWiredOnly (EmptyResultSet); custom monitors are removed, hard-wired ones stay."""
    await _set(rig, monitor(evse(1), "Power", "UpperThreshold", 5000, 4))
    assert await rig.call("GetMonitoringReport", {"requestId": 1, "componentVariable": [STATION_AVAILABILITY]}) == {
        "status": "Accepted"}
    [page] = [p for a, p in rig.sent]
    assert page["seqNo"] == 0 and page["tbc"] is False
    assert page["monitor"][0]["variableMonitoring"][0]["type"] == "Delta"
    await rig.call("SetMonitoringBase", {"monitoringBase": "HardWiredOnly"})
    response = await rig.call("GetMonitoringReport", {"requestId": 2, "componentVariable": [STATION_AVAILABILITY]})
    assert response == {"status": "EmptyResultSet", "statusInfo": {"reasonCode": "NotFound"}}
    kinds = {row[1] for row in rig.monitor_rows() if row[6]}
    assert kinds == {"HardWired"}
    assert not [row for row in rig.monitor_rows() if row[1] == "Custom"]


async def test_all_brings_preconfigured_monitors_back_and_keeps_custom_ones(rig: Rig) -> None:
    await rig.call("SetMonitoringBase", {"monitoringBase": "HardWiredOnly"})
    [custom] = await _set(rig, monitor(evse(1), "Power", "UpperThreshold", 5000, 4))
    await rig.call("SetMonitoringBase", {"monitoringBase": "All"})
    active = {row[0]: row[1] for row in rig.monitor_rows() if row[6]}
    assert active[custom] == "Custom" and "Preconfigured" in active.values()


async def test_monitoring_level_accepts_0_to_9_and_rejects_the_rest(rig: Rig) -> None:
    """TC_N_16 (step 1-2) and TC_N_17: 7 Accepted; 10 and -1 Rejected ValueOutOfRange, level unchanged."""
    assert await rig.call("SetMonitoringLevel", {"severity": 7}) == {"status": "Accepted"}
    for severity in (10, -1):
        assert await rig.call("SetMonitoringLevel", {"severity": severity}) == {
            "status": "Rejected", "statusInfo": {"reasonCode": "ValueOutOfRange"}}
    assert rig.dm.get_int("MonitoringCtrlr", "ActiveMonitoringLevel") == 7
    rig.reopen()
    assert rig.dm.get_int("MonitoringCtrlr", "ActiveMonitoringLevel") == 7


async def test_clearing_two_monitors_accepts_both_and_the_report_is_then_empty(rig: Rig) -> None:
    """TC_N_18: two custom monitors cleared by id → Accepted each; the report for them → EmptyResultSet."""
    await rig.call("SetMonitoringBase", {"monitoringBase": "HardWiredOnly"})
    ids = await _set(rig, monitor(evse(1), "AvailabilityState", "Delta", 1, 8),
                     monitor({"name": "ChargingStation"}, "AvailabilityState", "Delta", 1, 8))
    response = await rig.call("ClearVariableMonitoring", {"id": ids})
    assert response == {"clearMonitoringResult": [{"status": "Accepted", "id": ids[0]},
                                                  {"status": "Accepted", "id": ids[1]}]}
    report = await rig.call("GetMonitoringReport", {"requestId": 3, "componentVariable": [
        {"component": evse(1), "variable": {"name": "AvailabilityState"}}, STATION_AVAILABILITY]})
    assert report["status"] == "EmptyResultSet"


async def test_clearing_an_unknown_id_is_not_found(rig: Rig) -> None:
    """TC_N_19."""
    assert await rig.call("ClearVariableMonitoring", {"id": [123456]}) == {"clearMonitoringResult": [
        {"status": "NotFound", "id": 123456, "statusInfo": {"reasonCode": "NotFound"}}]}


async def test_a_hard_wired_monitor_cannot_be_cleared(rig: Rig) -> None:
    """TC_N_44: the first hard-wired monitor of the report → Rejected, and it stays."""
    await rig.call("GetMonitoringReport", {"requestId": 4})
    reported = [m for entry in rig.report_monitors() for m in entry["variableMonitoring"]]
    hard_wired = {row[0] for row in rig.monitor_rows() if row[1] == "HardWired"}
    first = next(m["id"] for m in reported if m["id"] in hard_wired)
    response = await rig.call("ClearVariableMonitoring", {"id": [first]})
    assert response["clearMonitoringResult"][0]["status"] == "Rejected"
    assert rig.block.store.get(first) is not None


async def test_a_cleared_preconfigured_monitor_returns_with_factory_default(rig: Rig) -> None:
    preconfigured = next(row[0] for row in rig.monitor_rows() if row[1] == "Preconfigured")
    assert (await rig.call("ClearVariableMonitoring", {"id": [preconfigured]}))["clearMonitoringResult"][0][
        "status"] == "Accepted"
    assert (await rig.call("ClearVariableMonitoring", {"id": [preconfigured]}))["clearMonitoringResult"][0][
        "status"] == "NotFound"
    await rig.call("SetMonitoringBase", {"monitoringBase": "FactoryDefault"})
    assert rig.block.store.get(preconfigured).enabled
