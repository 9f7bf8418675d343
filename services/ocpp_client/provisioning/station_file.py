"""The station file as the OCPP service reads it: the device model it seeds, and the check `reonctl up` runs.

`open_device_model` builds the device model in ocpp.db from the EVSE tables (topology) and the file's seeds:
the `[device_model]` table, and `[csms]` / `[station]` values that become variables (e.g. `[csms] password` →
SecurityCtrlr.BasicAuthPassword, at least 16 characters). `check` runs the same on an in-memory database, so a
value the model refuses stops `reonctl up` before anything starts, as a ConfigError naming the key in the file.
"""

from __future__ import annotations

from services.ocpp_client.certificates.variables import VARIABLES as CERTIFICATE_VARIABLES
from services.ocpp_client.clock import StationClock
from services.ocpp_client.device_model.catalog import ConnectorTopology, EvseTopology
from services.ocpp_client.device_model.keys import DeviceModelKeyError, station_seeds
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.monitoring.variables import block_variables
from services.ocpp_client.store import db_path
from station.config import ConfigError, StationConfig

NOMINAL_VOLTAGE_V = 230.0

#: Device-model variables seeded from other tables of the station file: the key a person edits.
SEEDED_FROM = {
    "SecurityCtrlr.BasicAuthPassword": "csms.password",
    "SecurityCtrlr.SecurityProfile": "csms.security_profile",
    "SecurityCtrlr.Identity": "station.id",
    "ChargingStation.SerialNumber": "station.serial_number",
    "ChargingStation.Model": "station.model",
    "ChargingStation.VendorName": "station.vendor",
    "ChargingStation.FirmwareVersion": "station.firmware_version",
}


def open_device_model(config: StationConfig, firmware: str, clock: StationClock | None = None, *,
                      db: str | None = None) -> DeviceModel:
    """The device model in ocpp.db (or `db`): topology from the EVSE tables, seeds from [device_model] and
    [station]/[csms]; a seed the model refuses raises DeviceModelKeyError (`config_key` names its key in the file)."""
    evses = [EvseTopology(evse.id, tuple(ConnectorTopology(c.id, c.type) for c in evse.connectors),
                          supply_phases=evse.phases,
                          max_power_w=evse.max_current_a * NOMINAL_VOLTAGE_V * evse.phases)
             for evse in config.evses]
    station = config.station
    seeds = {**config.device_model, **station_seeds(
        station_id=station.id, serial_number=station.serial_number, model=station.model, vendor=station.vendor,
        firmware_version=firmware, security_profile=config.csms.security_profile,
        basic_auth_password=config.csms.password)}
    return DeviceModel(db or db_path(config.paths.data_dir), evses, seeds, clock=clock.now if clock else None,
                       extra_variables=(*block_variables(evses, has_modem=config.modem.enabled),
                                        *CERTIFICATE_VARIABLES))


def check(config: StationConfig) -> None:
    """Raise ConfigError for the first device-model value of the file that REON's device model refuses."""
    try:
        open_device_model(config, config.station.firmware_version, db=":memory:").close()
    except DeviceModelKeyError as exc:
        raise ConfigError(config_key(exc.key), exc.problem) from None


def config_key(device_model_key: str) -> str:
    """Where in the station file a device-model seed comes from."""
    return SEEDED_FROM.get(device_model_key, f"device_model.{device_model_key!r}".replace("'", '"'))
