"""The device-model data of the block: MonitoringCtrlr and hardware variables fit the catalog; characteristics."""

from __future__ import annotations

from pathlib import Path

from services.ocpp_client.device_model import DeviceModel
from services.ocpp_client.monitoring.characteristics import (
    power_variables,
    supports_monitoring,
    variable_characteristics,
)
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


def test_characteristics_say_which_variables_support_monitoring(rig: Rig) -> None:
    by_name = {(s.component, s.variable, s.evse_id): s for s in rig.dm.catalog}
    serial = by_name[("ChargingStation", "SerialNumber", None)]
    power = by_name[("EVSE", "Power", 1)]
    assert not supports_monitoring(serial) and supports_monitoring(power)
    assert variable_characteristics(power) == {"dataType": "decimal", "supportsMonitoring": True, "unit": "W",
                                               "minLimit": 0, "maxLimit": 22080}


def test_power_variables_carry_max_set_and_the_station_total() -> None:
    specs = {(s.component, s.evse_id): s for s in power_variables(EVSES)}
    evse = specs[("EVSE", 1)]
    assert [a.type for a in evse.attributes] == ["Actual", "MaxSet"] and evse.attribute("MaxSet").default == "22080"
    assert specs[("ChargingStation", None)].max_limit == 44160
