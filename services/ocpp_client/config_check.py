"""The OCPP service's own checks of the station file, run by `reonctl up` before anything starts and by
reon-ocpp at its start: every device-model value the file seeds (the `[device_model]` table, and `[csms]` /
`[station]` values that become variables, e.g. `[csms] password` → SecurityCtrlr.BasicAuthPassword, at least
16 characters) must be one REON's device model accepts. A bad value is a ConfigError naming the key in the file.
"""

from __future__ import annotations

from services.ocpp_client.device_model.keys import DeviceModelKeyError
from station.config import ConfigError, StationConfig

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


def check(config: StationConfig) -> None:
    """Raise ConfigError for the first device-model value of the file that REON's device model refuses."""
    from services.ocpp_client.service import open_device_model  # the service module: only when checking

    try:
        open_device_model(config, config.station.firmware_version, db=":memory:").close()
    except DeviceModelKeyError as exc:
        raise ConfigError(config_key(exc.key), exc.problem) from None


def config_key(device_model_key: str) -> str:
    return SEEDED_FROM.get(device_model_key, f"device_model.{device_model_key!r}".replace("'", '"'))
