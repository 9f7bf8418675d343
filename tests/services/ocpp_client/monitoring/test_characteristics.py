"""The device-model data of the block: MonitoringCtrlr and hardware variables fit the catalog; characteristics."""

from __future__ import annotations

from pathlib import Path

from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.device_model.reports import get_base_report
from services.ocpp_client.monitoring.variables import block_variables
from tests.services.ocpp_client.monitoring.rig import EVSES, Rig


def test_block_variables_join_the_catalog_without_clashes_and_keep_their_defaults(tmp_path: Path) -> None:
    dm = DeviceModel(tmp_path / "dm.db", EVSES, extra_variables=block_variables(EVSES))
    assert dm.get_bool("MonitoringCtrlr", "Enabled")
    assert dm.get_int("MonitoringCtrlr", "ItemsPerMessage", variable_instance="SetVariableMonitoring") == 50
    assert dm.get_int("MonitoringCtrlr", "OfflineQueuingSeverity") == 4
    assert dm.get_str("ConnectorPlugRetentionLock", "Problem", evse_id=2, connector_id=1) == "false"


def test_live_monitoring_base_and_level_are_read_from_the_store(rig: Rig) -> None:
    rig.block.store.set_base("HardWiredOnly")
    rig.block.store.set_level(3)
    assert rig.dm.get_str("MonitoringCtrlr", "MonitoringBase") == "HardWiredOnly"
    assert rig.dm.get_int("MonitoringCtrlr", "MonitoringLevel") == 3


def test_full_reports_say_which_variables_support_monitoring(rig: Rig) -> None:
    """B07 FullInventory: supportsMonitoring false for constants (SerialNumber), true for EVSE.Power, whose
    MaxSet is the EVSE's maximum."""
    reply = get_base_report(rig.dm, {"requestId": 1, "reportBase": "FullInventory"})
    data = {(e["component"]["name"], e["component"].get("evse", {}).get("id"), e["variable"]["name"]): e
            for page in reply.notify_reports for e in page["reportData"]}
    assert data[("ChargingStation", None, "SerialNumber")]["variableCharacteristics"]["supportsMonitoring"] is False
    power = data[("EVSE", 1, "Power")]
    assert power["variableCharacteristics"] == {"dataType": "decimal", "supportsMonitoring": True, "unit": "W",
                                                "minLimit": 0, "maxLimit": 22080}
    assert {a["type"]: a.get("value") for a in power["variableAttribute"]}["MaxSet"] == "22080"
