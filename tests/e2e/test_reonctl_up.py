"""A real station under supervisord: `reonctl up`, `status --json`, `restart`, `down`."""

import json
import subprocess
import sys

from tests.stations import write_station


def reonctl(config, *args, timeout=90):
    return subprocess.run([sys.executable, "-m", "reonctl.main", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_up_status_restart_down_under_supervisord(tmp_path) -> None:
    config = write_station(tmp_path, sim=False)
    try:
        up = reonctl(config, "up", "--timeout", "60")
        assert up.returncode == 0, up.stdout + up.stderr
        status = reonctl(config, "status", "--json")
        assert status.returncode == 0, status.stdout
        doc = json.loads(status.stdout)
        assert doc["services"]["bus"]["state"] == "RUNNING"
        assert all(s["alive"] for s in doc["services"].values())
        assert doc["station"]["id"].startswith("TEST-")
        first_pid = doc["services"]["bus"]["pid"]

        restarted = reonctl(config, "restart", "bus")
        assert restarted.returncode == 0, restarted.stderr
        again = json.loads(reonctl(config, "status", "--json").stdout)
        assert again["services"]["bus"]["pid"] != first_pid
    finally:
        down = reonctl(config, "down")
    assert "stopped" in down.stdout
    assert reonctl(config, "status").returncode == 1
