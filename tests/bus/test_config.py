"""Every way a station file can be wrong gives one ConfigError naming the key."""

from pathlib import Path

import pytest

from station.config import ConfigError, load_config

GOOD = """
[station]
id = "ST-1"
serial_number = "SN-1"
firmware_version = "1.0"
[paths]
run_dir = "run"
data_dir = "/tmp/reon-data"
log_dir = "log"
[csms]
url = "ws://127.0.0.1:9000"
security_profile = 1
password = "secret-password-1"
[[evse]]
id = 1
meter = { model = "SDM120", unit_id = 3 }
[[evse.connector]]
id = 1
type = "cType2"
[device_model]
"OCPPCommCtrlr.HeartbeatInterval" = 60
"OCPPCommCtrlr.MessageAttempts[TransactionEvent]" = 3
"EVSE@1.Power" = 11000
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(text)
    return path


def test_good_file_loads_with_defaults_and_relative_paths(tmp_path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.station.model == "REON" and config.station.vendor == "REWATT"
    assert config.paths.run_dir == tmp_path / "run"
    assert config.evses[0].meter.baud == 2400 and config.evses[0].meter.unit_id == 3
    assert config.evses[0].connectors[0].type == "cType2"
    assert config.device_model["EVSE@1.Power"] == 11000
    assert config.sim.enabled is False and config.modem.enabled is False


def test_default_file_is_simulation_with_two_evses() -> None:
    config = load_config()
    assert config.sim.enabled and [e.id for e in config.evses] == [1, 2]
    assert all(len(e.connectors) == 1 and e.connectors[0].type == "sType2" for e in config.evses)


def test_reon_config_names_the_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REON_CONFIG", str(write(tmp_path, GOOD)))
    assert load_config().station.id == "ST-1"


@pytest.mark.parametrize("change,key", [
    (("[station]\nid = \"ST-1\"\n", "[station]\n"), "station.id"),
    (('id = "ST-1"', 'id = "ST 1/x"'), "station.id"),
    (('serial_number = "SN-1"', 'serial_number = 5'), "station.serial_number"),
    (('serial_number = "SN-1"', 'serial_number = "' + "x" * 30 + '"'), "station.serial_number"),
    (('firmware_version = "1.0"', 'firmware_version = ""'), "station.firmware_version"),
    (('run_dir = "run"', 'run_dir = "' + "r" * 95 + '"'), "paths.run_dir"),
    (('log_dir = "log"\n', ''), "paths.log_dir"),
    (('url = "ws://127.0.0.1:9000"', 'url = "http://x"'), "csms.url"),
    (('security_profile = 1', 'security_profile = 7'), "csms.security_profile"),
    (('security_profile = 1', 'security_profile = 2'), "csms.url"),
    (('password = "secret-password-1"\n', ''), "csms.password"),
    (('id = 1\nmeter', 'id = 2\nmeter'), "evse"),
    (('id = 1\nmeter', 'id = "one"\nmeter'), "evse[0].id"),
    (('unit_id = 3', 'unit_id = 300'), "evse[0].meter.unit_id"),
    (('model = "SDM120"', 'model = "XYZ"'), "evse[0].meter.model"),
    (('type = "cType2"', 'type = "Schuko"'), "evse[0].connector[0].type"),
    (('[[evse.connector]]\nid = 1', '[[evse.connector]]\nid = 2'), "evse[0].connector"),
    (('"EVSE@1.Power" = 11000', '"EVSE@1Power" = 11000'), "device_model.'EVSE@1Power'"),
    (('"EVSE@1.Power" = 11000', '"EVSE@1.Power" = [1]'), "device_model.'EVSE@1.Power'"),
    (('[device_model]', '[devise_model]'), "devise_model"),
    (('[[evse]]\nid = 1', '[[evse]]\nid = 1\nmax_current_a = 100'), "evse[0].max_current_a"),
    (('[[evse]]\nid = 1', '[[evse]]\nid = 1\nphases = 2'), "evse[0].phases"),
    (('[[evse]]\nid = 1', '[[evse]]\nid = 1\nlock_on_plug = "yes"'), "evse[0].lock_on_plug"),
    (('[paths]', '[sim]\nenabled = 1\n[paths]'), "sim.enabled"),
])
def test_each_error_names_its_key(tmp_path, change, key) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace(old, new, 1)))
    assert info.value.key == key, str(info.value)
    assert str(info.value).startswith(key + ": ")


def test_missing_file_and_bad_toml(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[station\n"))


def test_no_evse_is_an_error(tmp_path) -> None:
    text = GOOD.split("[[evse]]")[0] + "[device_model]\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.key == "evse"
