"""Hardware and link problems → NotifyEvent in the durable queue (G05, N07): TC_G_20, TC_N_21-23."""

from __future__ import annotations

from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.monitoring.problems import PROBLEMS
from tests.services.ocpp_client.monitoring.rig import Rig

LOCK = {"name": "ConnectorPlugRetentionLock", "evse": {"id": 1, "connectorId": 1}}


def _evse_state(*faults: str, link_up: bool = True) -> dict:
    return {"evse_id": 1, "connector_status": "Faulted" if faults else "Available", "faults": list(faults),
            "link_up": link_up}


def test_a_lock_failure_is_notified_on_the_retention_lock_and_cleared_after(rig: Rig) -> None:
    """TC_G_20: ConnectorPlugRetentionLock.Problem, trigger Delta, actualValue "true"; then cleared."""
    rig.tx[1] = "tx-lock"
    rig.block.on_evse_state(1, _evse_state("lock_failed"))
    rig.block.on_evse_state(1, _evse_state("lock_failed"))  # the same state again (every 30 s): nothing new
    [raised] = rig.events()
    assert raised["component"] == LOCK and raised["variable"] == {"name": "Problem"}
    assert (raised["trigger"], raised["actualValue"], raised["techCode"]) == ("Delta", "true", "LockFailed")
    assert raised["eventNotificationType"] == "HardWiredMonitor" and raised["transactionId"] == "tx-lock"
    hard_wired = rig.block.store.get(raised["variableMonitoringId"])
    assert hard_wired.kind == "HardWired" and hard_wired.target.component == "ConnectorPlugRetentionLock"
    rig.block.on_evse_state(1, _evse_state())
    cleared = rig.events()[-1]
    assert (cleared["actualValue"], cleared["cleared"], cleared["component"]) == ("false", True, LOCK)
    assert cleared["eventId"] > raised["eventId"]


def test_every_evse_fault_lands_on_its_own_component(rig: Rig) -> None:
    faults = [p.code for p in PROBLEMS if p.source == "evse_io" and p.code != "mcu_link_lost"]
    rig.block.on_evse_state(1, _evse_state(*faults))
    got = {(e["component"]["name"], e["variable"]["name"]) for e in rig.events()}
    assert got == {("ConnectorPlugRetentionLock", "Problem"), ("RCD", "Tripped"), ("RCD", "Problem"),
                   ("PowerContactor", "Problem"), ("OverCurrentProtection", "Active"), ("CPPWMController", "Problem"),
                   ("EVSE", "Problem")}
    cp = next(e for e in rig.events() if e["component"]["name"] == "CPPWMController")
    assert cp["techCode"] == "CpSignalFault,DiodeFault"
    for event in rig.events():
        assert event["component"]["evse"]["id"] == 1


def test_a_fault_unknown_to_the_table_is_reported_on_the_evse_problem(rig: Rig) -> None:
    rig.block.on_evse_state(1, _evse_state("brand_new_fault"))
    [event] = rig.events()
    assert (event["component"]["name"], event["variable"]["name"], event["techCode"]) == (
        "EVSE", "Problem", "brand_new_fault")


def test_link_problems_are_hard_wired_notifications(rig: Rig) -> None:
    """TC_N_21: the MCU link, the meter and the modem report HardWiredNotification events."""
    rig.block.on_evse_state(2, {"faults": ["mcu_link_lost"], "link_up": False})
    rig.block.on_meter_state(1, {"link": "offline", "fault": None})
    rig.block.on_meter_state(1, {"link": "degraded", "fault": None})  # answering again: cleared
    rig.block.on_modem_state({"link": "no_sim"})
    events = rig.events()
    assert [(e["component"]["name"], e["actualValue"], e["eventNotificationType"]) for e in events] == [
        ("Controller", "true", "HardWiredNotification"), ("ControlMetering", "true", "HardWiredNotification"),
        ("ControlMetering", "false", "HardWiredNotification"), ("DataLink", "true", "HardWiredNotification")]
    assert events[0]["component"]["evse"] == {"id": 2} and "variableMonitoringId" not in events[0]
    assert events[3]["techCode"] == "NoSim" and "evse" not in events[3]["component"]


def test_events_while_offline_are_queued_up_to_the_offline_queuing_severity(rig: Rig) -> None:
    """TC_N_22/23 (N07.FR.04): offline, severity ≤ OfflineQueuingSeverity (4) queued; above it dropped and
    counted; the queued message is marked offline and goes when the link is back."""
    rig.online = False
    rig.block.on_evse_state(1, _evse_state("lock_failed", "ventilation_needed"))  # severities 1 and 5
    assert [e["techCode"] for e in rig.events()] == ["LockFailed"]
    assert rig.block.store.dropped_offline() == 1
    assert all(m.offline for m in rig.queue.pending())
    rig.dm.set("MonitoringCtrlr", "OfflineQueuingSeverity", 9)
    rig.block.on_evse_state(1, _evse_state("lock_failed"))  # ventilation cleared (severity 5) now queued
    assert rig.events()[-1]["techCode"] == "VentilationNeeded" and rig.events()[-1]["cleared"] is True


def test_online_events_of_any_severity_are_queued(rig: Rig) -> None:
    rig.block.on_evse_state(1, _evse_state("ventilation_needed"))
    assert [e["techCode"] for e in rig.events()] == ["VentilationNeeded"]


def test_a_problem_that_cleared_while_down_is_reported_cleared_and_event_ids_never_repeat(rig: Rig) -> None:
    rig.block.on_evse_state(1, _evse_state("rcd_triggered"))
    first_id = rig.events()[0]["eventId"]
    rig.reopen()
    rig.block.on_evse_state(1, _evse_state("rcd_triggered"))  # still there: not reported again
    assert len(rig.events()) == 1
    rig.block.on_evse_state(1, _evse_state())
    cleared = rig.events()[-1]
    assert (cleared["component"]["name"], cleared["cleared"]) == ("RCD", True)
    assert cleared["eventId"] > first_id


def test_problems_above_the_monitoring_level_are_not_sent(rig: Rig) -> None:
    rig.block.store.set_level(3)
    rig.block.on_evse_state(1, _evse_state("diode_fault"))  # severity 4
    assert rig.events() == []
    rig.block.store.set_level(8)
    rig.block.on_evse_state(1, _evse_state("diode_fault"))  # known already: no repeat
    assert rig.events() == []


def test_queued_events_use_the_durable_queue_and_survive_a_reopen(rig: Rig) -> None:
    rig.online = False
    rig.block.on_evse_state(1, _evse_state("welded_contactor"))
    rig.reopen()
    pending = OutboundQueue.pending(rig.queue)
    assert [m.action for m in pending] == ["NotifyEvent"]
    assert pending[0].payload["eventData"][0]["techCode"] == "WeldedContactor"


async def test_a_custom_monitor_on_a_problem_flag_fires_besides_the_hard_wired_event(rig: Rig) -> None:
    response = await rig.call("SetVariableMonitoring", {"setMonitoringData": [
        {"component": {"name": "RCD", "evse": {"id": 1}}, "variable": {"name": "Tripped"}, "type": "Delta",
         "value": 1, "severity": 2}]})
    custom = response["setMonitoringResult"][0]["id"]
    rig.block.on_evse_state(1, _evse_state("rcd_triggered"))
    kinds = [(e["eventNotificationType"], e.get("variableMonitoringId") == custom) for e in rig.events()]
    assert kinds == [("HardWiredMonitor", False), ("CustomMonitor", True)]


def test_a_flood_of_garbage_fault_names_is_bounded(rig: Rig) -> None:
    rig.block.on_evse_state(1, {"faults": [f"x{i}" * 40 for i in range(5000)] + [None, 7, {"a": 1}]})
    [event] = rig.events()
    assert event["component"]["name"] == "EVSE" and len(event["techCode"]) <= 50
    assert len(rig.block.store.all_problems()) == 1
    assert len(next(iter(rig.block.store.all_problems().values()))) == 32
