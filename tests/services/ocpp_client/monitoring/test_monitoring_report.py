"""GetMonitoringReport (N02) and NotifyMonitoringReport pages; page splitting exact to the byte."""

from __future__ import annotations

import json

from services.ocpp_client.device_model.paging import frame_bytes, split_pages
from tests.services.ocpp_client.monitoring.rig import Rig, evse, monitor


async def _install_one_of_each_type(rig: Rig) -> None:
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        monitor(evse(1), "Power", "UpperThreshold", 7000, 5), monitor(evse(1), "Power", "LowerThreshold", 10, 5),
        monitor(evse(1), "Power", "Delta", 100, 5), monitor(evse(1), "Power", "Periodic", 60, 5),
        monitor(evse(1), "Power", "PeriodicClockAligned", 900, 5)]})
    assert {r["status"] for r in response["setMonitoringResult"]} == {"Accepted"}


def _types(rig: Rig) -> set[str]:
    return {m["type"] for entry in rig.report_monitors() for m in entry["variableMonitoring"]}


async def test_monitoring_criteria_select_the_monitor_types(rig: Rig) -> None:
    """TC_N_01: Threshold → Upper/Lower; Threshold+Delta → plus Delta; Delta+Periodic → Delta, Periodic*."""
    await _install_one_of_each_type(rig)
    for criteria, expected in (
            (["ThresholdMonitoring"], {"UpperThreshold", "LowerThreshold"}),
            (["ThresholdMonitoring", "DeltaMonitoring"], {"UpperThreshold", "LowerThreshold", "Delta"}),
            (["DeltaMonitoring", "PeriodicMonitoring"], {"Delta", "Periodic", "PeriodicClockAligned"})):
        rig.sent.clear()
        assert await rig.call("GetMonitoringReport", {"requestId": 11, "monitoringCriteria": criteria}) == {
            "status": "Accepted"}
        assert _types(rig) == expected
        assert rig.sent[0][1]["seqNo"] == 0 and rig.sent[0][1]["requestId"] == 11


async def test_component_variable_filter_reports_the_station_availability_and_all_of_evse_1(rig: Rig) -> None:
    """TC_N_02: ChargingStation.AvailabilityState and every monitor of EVSE 1 (preconfigured Delta ones)."""
    await _install_one_of_each_type(rig)
    await rig.call("GetMonitoringReport", {"requestId": 12, "componentVariable": [
        {"component": {"name": "ChargingStation"}, "variable": {"name": "AvailabilityState"}},
        {"component": evse(1)}]})
    entries = rig.report_monitors()
    names = {(e["component"]["name"], e["component"].get("evse", {}).get("id"), e["variable"]["name"]) for e in entries}
    assert ("ChargingStation", None, "AvailabilityState") in names and ("EVSE", 1, "AvailabilityState") in names
    assert ("EVSE", 1, "Power") in names and all(n[0] != "EVSE" or n[1] == 1 for n in names)
    assert not any(n[0] == "EVSE" and n[1] == 2 for n in names)


async def test_criteria_and_component_filter_both_apply(rig: Rig) -> None:
    """TC_N_03: AvailabilityState with ThresholdMonitoring → EmptyResultSet; with DeltaMonitoring → Delta."""
    selectors = [{"component": {"name": "ChargingStation"}, "variable": {"name": "AvailabilityState"}},
                 {"component": evse(1), "variable": {"name": "AvailabilityState"}}]
    response = await rig.call("GetMonitoringReport", {"requestId": 13, "monitoringCriteria": ["ThresholdMonitoring"],
                                                      "componentVariable": selectors})
    assert response == {"status": "EmptyResultSet", "statusInfo": {"reasonCode": "NotFound"}}
    assert rig.sent == []
    await rig.call("GetMonitoringReport", {"requestId": 14, "monitoringCriteria": ["DeltaMonitoring"],
                                           "componentVariable": selectors})
    assert _types(rig) == {"Delta"} and len(rig.report_monitors()) == 2


async def test_report_all_lists_the_availability_monitors(rig: Rig) -> None:
    """TC_N_47: no criteria, no componentVariable → every active monitor, AvailabilityState Delta included."""
    await rig.call("GetMonitoringReport", {"requestId": 15})
    names = {(e["component"]["name"], e["variable"]["name"]) for e in rig.report_monitors()}
    assert {("ChargingStation", "AvailabilityState"), ("EVSE", "AvailabilityState"),
            ("ConnectorPlugRetentionLock", "Problem")} <= names


async def test_report_pages_keep_items_and_bytes_limits_with_seq_no_and_tbc(tmp_path) -> None:
    rig = Rig(tmp_path, report_limits=(3, 700))
    await rig.call("GetMonitoringReport", {"requestId": 16})
    pages = [p for _, p in rig.sent]
    assert len(pages) > 2
    assert [p["seqNo"] for p in pages] == list(range(len(pages)))
    assert [p["tbc"] for p in pages] == [True] * (len(pages) - 1) + [False]
    assert all(len(p["monitor"]) <= 3 and frame_bytes("NotifyMonitoringReport", p) <= 700 for p in pages)
    total = await Rig(tmp_path / "other").call("GetMonitoringReport", {"requestId": 16})
    assert total["status"] == "Accepted"


def _payload(seq_no: int, tbc: bool, items: list) -> dict:
    return {"requestId": 1, "generatedAt": "2026-03-02T10:00:00.000Z", "seqNo": seq_no, "tbc": tbc,
            "reportData": items}


def test_pages_are_filled_to_the_byte_limit_and_no_further() -> None:
    entries = [{"component": {"name": "C"}, "variable": {"name": f"V{i:03d}"}, "value": "é" * (i % 7)}
               for i in range(200)]
    for max_bytes in (300, 512, 1000, 4096):
        pages = split_pages("NotifyReport", entries, _payload, max_items=1000, max_bytes=max_bytes)
        sizes = [frame_bytes("NotifyReport", p) for p in pages.payloads]
        assert max(sizes) <= max_bytes and pages.left_out == 0
        reported = [e for p in pages.payloads for e in p["reportData"]]
        assert reported == entries
        for page, following in zip(pages.payloads, pages.payloads[1:], strict=False):
            grown = _payload(page["seqNo"], False, [*page["reportData"], following["reportData"][0]])
            assert frame_bytes("NotifyReport", grown) > max_bytes  # the next entry would not have fit


def test_items_per_message_is_exact_and_an_oversized_entry_is_left_out() -> None:
    entries = [{"n": i} for i in range(10)] + [{"n": "x" * 5000}]
    pages = split_pages("NotifyReport", entries, _payload, max_items=4, max_bytes=1000)
    assert [len(p["reportData"]) for p in pages.payloads] == [4, 4, 2]
    assert pages.left_out == 1
    assert json.loads(json.dumps(pages.payloads[-1]))["tbc"] is False


async def test_an_unknown_monitoring_criterion_is_not_supported(rig: Rig) -> None:
    """TC_N_04 (the schema check catches it first on the link; the block answers the same)."""
    response = await rig.call("GetMonitoringReport", {"requestId": 17, "monitoringCriteria": [
        "DeltaMonitoring", "CrystalBallMonitoring"]})
    assert response == {"status": "NotSupported", "statusInfo": {"reasonCode": "UnsupportedParam"}}
    assert rig.sent == []


def test_a_full_device_model_report_is_paged_exactly(rig: Rig) -> None:
    """B07 with the block's variables: every NotifyReport frame within 2000 bytes and 7 items, nothing lost."""
    from services.ocpp_client.device_model.reports import get_base_report

    rig.dm.set("DeviceDataCtrlr", "ItemsPerMessage", 7, variable_instance="GetReport")
    rig.dm.set("DeviceDataCtrlr", "BytesPerMessage", 2000, variable_instance="GetReport")
    pages = get_base_report(rig.dm, {"requestId": 3, "reportBase": "FullInventory"}).notify_reports
    assert sum(len(p["reportData"]) for p in pages) == len(rig.dm.catalog)
    assert all(frame_bytes("NotifyReport", p) <= 2000 and len(p["reportData"]) <= 7 for p in pages)
