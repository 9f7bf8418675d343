"""Device-model values in the station file are checked at `reonctl up`, before anything starts (issue 11.4)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from reonctl.main import cli
from station.config import load_config
from station.supervisor import is_running
from tests.stations import write_station

ROOT = Path(__file__).resolve().parents[2]


def short_password_station(tmp_path: Path) -> Path:
    path = write_station(tmp_path)
    text = path.read_text()
    start = text.index("password = ")
    end = text.index("\n", start)
    path.write_text(text[:start] + 'password = "short"' + text[end:])
    return path


def test_up_refuses_a_csms_password_the_device_model_refuses_before_anything_starts(tmp_path: Path) -> None:
    path = short_password_station(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(path), "up", "--no-wait"])
    assert result.exit_code == 2
    assert result.output.startswith("reonctl: bad config: csms.password: ")
    assert len(result.output.strip().splitlines()) == 1
    assert not is_running(load_config(path))


def test_up_refuses_a_bad_device_model_value_naming_its_key(tmp_path: Path) -> None:
    path = write_station(tmp_path, extra='[device_model]\n"OCPPCommCtrlr.HeartbeatInterval" = "often"\n')
    result = CliRunner().invoke(cli, ["--config", str(path), "up", "--no-wait"])
    assert result.exit_code == 2
    assert 'device_model."OCPPCommCtrlr.HeartbeatInterval"' in result.output


def test_reon_ocpp_itself_exits_2_with_one_line_instead_of_a_traceback(tmp_path: Path) -> None:
    path = short_password_station(tmp_path)
    done = subprocess.run([sys.executable, "-m", "services.ocpp_client.service", "--config", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert "reon-ocpp: bad config: csms.password: " in done.stderr
