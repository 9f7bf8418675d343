"""Monitors firing on new values and on the clock (N07, N08): thresholds with their clearing, delta, periodic,
the monitoring level, transaction-only monitors, WriteOnly variables, state across a reopen."""

from __future__ import annotations

from services.ocpp_client.monitoring.store import Target
from tests.services.ocpp_client.monitoring.rig import Rig, evse, monitor


async def _set(rig: Rig, *entries: dict) -> list[int]:
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": list(entries)})
    assert {r["status"] for r in response["setMonitoringResult"]} == {"Accepted"}, response
    return [r["id"] for r in response["setMonitoringResult"]]


async def test_power_above_the_upper_threshold_alerts_once_and_clears_when_back(rig: Rig) -> None:
    """TC_N_20: UpperThreshold 100 W; power 7000 W → Alerting (with the transaction id); LowerThreshold 10 W
    added; power 0 W → the upper one cleared and the lower one alerting, in one NotifyEvent."""
    await rig.call("SetMonitoringBase", {"monitoringBase": "All"})
    rig.tx[1] = "tx-1"
    [upper] = await _set(rig, monitor(evse(1), "Power", "UpperThreshold", 100.0, 4))
    assert rig.power(1, "50") == []
    rig.power(1, "7000")
    rig.power(1, "7100")  # still above: nothing more
    [first] = rig.events()
    assert first["trigger"] == "Alerting" and first["actualValue"] == "7000" and "cleared" not in first
    assert first["variableMonitoringId"] == upper and first["transactionId"] == "tx-1"
    assert first["eventNotificationType"] == "CustomMonitor"
    assert first["component"] == evse(1) and first["variable"] == {"name": "Power"}
    [lower] = await _set(rig, monitor(evse(1), "Power", "LowerThreshold", 10.0, 4))
    rig.power(1, "0")
    notify = rig.notify_events()[-1]
    assert notify["seqNo"] == 0
    cleared, dropped = notify["eventData"]
    assert (cleared["variableMonitoringId"], cleared["cleared"], cleared["actualValue"]) == (upper, True, "0")
    assert (dropped["variableMonitoringId"], dropped["trigger"]) == (lower, "Alerting") and "cleared" not in dropped
    assert len({e["eventId"] for e in rig.events()}) == 3


async def test_delta_fires_when_the_absolute_change_reaches_the_value(rig: Rig) -> None:
    """TC_N_45 and TC_N_61: Delta 2 on a numeric variable: +1 nothing, +2 (from the last report) fires;
    the reference moves to the reported value; a drop by 2 fires too."""
    [delta] = await _set(rig, monitor({"name": "OCPPCommCtrlr"}, "OfflineThreshold", "Delta", 2, 5))
    target = Target("OCPPCommCtrlr", "OfflineThreshold")
    assert rig.block.on_value(target, "300") == []  # first value: the reference
    assert rig.block.on_value(target, "301") == []
    [event] = rig.block.on_value(target, "302")
    assert (event.trigger, event.actual_value, event.monitor_id) == ("Delta", "302", delta)
    assert rig.block.on_value(target, "303") == []
    assert [d.actual_value for d in rig.block.on_value(target, "300")] == ["300"]


async def test_delta_on_a_non_numeric_variable_fires_on_every_change(rig: Rig) -> None:
    await _set(rig, monitor(evse(1), "AvailabilityState", "Delta", 1, 8))
    target = Target("EVSE", "AvailabilityState", evse_id=1)
    rig.block.on_value(target, "Available")
    assert [d.actual_value for d in rig.block.on_value(target, "Occupied")] == ["Occupied"]
    assert rig.block.on_value(target, "Occupied") == []


async def test_monitors_above_the_monitoring_level_stay_silent(rig: Rig) -> None:
    """TC_N_16: level 7, a Delta monitor of severity 8 on EVSE 1 AvailabilityState → no NotifyEvent."""
    await _set(rig, monitor(evse(1), "AvailabilityState", "Delta", 1, 8))
    await rig.call("SetMonitoringLevel", {"severity": 7})
    target = Target("EVSE", "AvailabilityState", evse_id=1)
    rig.block.on_value(target, "Available")
    assert rig.block.on_value(target, "Occupied") == []
    assert rig.events() == []


async def test_a_transaction_only_monitor_fires_only_during_a_transaction(rig: Rig) -> None:
    await _set(rig, monitor(evse(1), "Power", "UpperThreshold", 100.0, 4, transaction=True))
    assert rig.power(1, "500") == []
    rig.tx[1] = "tx-9"
    [event] = rig.power(1, "600")
    assert event.transaction_id == "tx-9"


async def test_a_write_only_variable_is_reported_with_an_empty_actual_value(rig: Rig) -> None:
    """TC_N_48: Delta on SecurityCtrlr.BasicAuthPassword → actualValue ""."""
    await _set(rig, monitor({"name": "SecurityCtrlr"}, "BasicAuthPassword", "Delta", 1, 5))
    target = Target("SecurityCtrlr", "BasicAuthPassword")
    rig.block.on_value(target, "old-password-0123456")
    rig.block.on_value(target, "new-password-0123456")
    assert [e["actualValue"] for e in rig.events()] == [""]


async def test_periodic_monitor_reports_the_current_value_every_interval(rig: Rig) -> None:
    """TC_N_24: Periodic 60 s on EVSE 1 AvailabilityState → one Periodic event each 60 s."""
    await _set(rig, monitor(evse(1), "AvailabilityState", "Periodic", 60, 5))
    assert rig.block.tick() == []
    assert rig.block.engine.seconds_to_next() == 60
    rig.advance(59)
    assert rig.block.tick() == []
    rig.advance(1)
    [event] = rig.block.tick()
    assert (event.trigger, event.actual_value, event.target.evse_id) == ("Periodic", "Available", 1)
    rig.advance(60)
    assert len(rig.block.tick()) == 1
    assert [e["trigger"] for e in rig.events()] == ["Periodic", "Periodic"]


async def test_clock_aligned_monitor_fires_on_the_interval_boundaries_after_midnight(rig: Rig) -> None:
    rig.advance(7 * 60)  # 10:07
    await _set(rig, monitor(evse(1), "Power", "PeriodicClockAligned", 900, 5))
    rig.block.tick()
    assert rig.block.engine.seconds_to_next() == 8 * 60  # next at 10:15
    rig.advance(8 * 60)
    assert len(rig.block.tick()) == 1
    assert rig.block.engine.seconds_to_next() == 900


async def test_a_tripped_threshold_is_neither_repeated_nor_lost_across_a_reopen(rig: Rig) -> None:
    await _set(rig, monitor(evse(1), "Power", "UpperThreshold", 100.0, 4))
    rig.power(1, "5000")
    rig.reopen()
    assert rig.power(1, "5100") == []
    [cleared] = rig.power(1, "10")
    assert cleared.cleared
    assert len({e["eventId"] for e in rig.events()}) == 2


async def test_disabled_monitoring_evaluates_nothing(rig: Rig) -> None:
    await _set(rig, monitor(evse(1), "Power", "UpperThreshold", 100.0, 4))
    rig.dm.set("MonitoringCtrlr", "Enabled", "false")
    assert rig.power(1, "5000") == []


async def test_a_new_delta_monitor_starts_from_the_value_when_it_was_set(rig: Rig) -> None:
    """The first change after SetVariableMonitoring is reported (TC_N_22: plug in → Occupied)."""
    await _set(rig, monitor(evse(1), "AvailabilityState", "Delta", 1, 8))
    [event] = rig.block.on_value(Target("EVSE", "AvailabilityState", evse_id=1), "Occupied")
    assert event.actual_value == "Occupied"


async def test_a_threshold_set_or_replaced_below_the_current_value_alerts_at_once(rig: Rig) -> None:
    """TC_N_51 (N07.FR.11): power 7000 W, UpperThreshold 22079 W: nothing; the same monitor replaced by id with
    0 W → NotifyEvent Alerting right after the SetVariableMonitoringResponse."""
    rig.power(1, "7000")  # no monitor yet
    [monitor_id] = await _set(rig, monitor(evse(1), "Power", "UpperThreshold", 22079, 4))
    assert rig.events() == []
    await _set(rig, monitor(evse(1), "Power", "UpperThreshold", 0.0, 4, id=monitor_id))
    [event] = rig.events()
    assert (event["variableMonitoringId"], event["trigger"], event["actualValue"]) == (monitor_id, "Alerting", "7000")


async def test_a_cleared_monitor_sends_nothing_more(rig: Rig) -> None:
    """TC_N_52: Clear → Accepted, report EmptyResultSet, no NotifyEvent with that id afterwards."""
    [monitor_id] = await _set(rig, monitor(evse(1), "Power", "UpperThreshold", 100, 4))
    assert (await rig.call("ClearVariableMonitoring", {"id": [monitor_id]}))["clearMonitoringResult"][0][
        "status"] == "Accepted"
    report = await rig.call("GetMonitoringReport", {"requestId": 9, "componentVariable": [
        {"component": evse(1), "variable": {"name": "Power"}}]})
    assert report["status"] == "EmptyResultSet"
    assert rig.power(1, "5000") == [] and rig.events() == []


async def test_a_monitor_is_still_reported_after_a_reboot(rig: Rig) -> None:
    """TC_N_53 (N07.FR.13): an UpperThreshold monitor is in the report after a reopen, and still fires."""
    [monitor_id] = await _set(rig, monitor(evse(1), "Power", "UpperThreshold", 100, 4))
    rig.reopen()
    await rig.call("GetMonitoringReport", {"requestId": 10})
    reported = {m["id"]: m["type"] for e in rig.report_monitors() for m in e["variableMonitoring"]}
    assert reported[monitor_id] == "UpperThreshold"
    assert [d.monitor_id for d in rig.power(1, "5000")] == [monitor_id]


async def test_a_delta_on_a_non_numeric_evse_variable_reports_the_new_value(rig: Rig) -> None:
    """TC_N_56: Delta on EVSE 1 AvailabilityState; Available → Unavailable → NotifyEvent Delta."""
    [monitor_id] = await _set(rig, monitor(evse(1), "AvailabilityState", "Delta", 1, 5))
    [event] = rig.block.on_value(Target("EVSE", "AvailabilityState", evse_id=1), "Unavailable")
    assert (event.monitor_id, event.trigger, event.actual_value) == (monitor_id, "Delta", "Unavailable")


async def test_an_unknown_monitoring_base_is_not_supported(rig: Rig) -> None:
    """TC_N_07 (the schema check catches it first on the link; the handler answers the same)."""
    assert await rig.call("SetMonitoringBase", {"monitoringBase": "Everything"}) == {
        "status": "NotSupported", "statusInfo": {"reasonCode": "UnsupportedParam"}}
    assert rig.dm.get_str("MonitoringCtrlr", "ActiveMonitoringBase") == "All"
