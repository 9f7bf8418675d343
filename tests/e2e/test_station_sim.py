"""The whole simulated station under supervisord: plug in, kill -9 of the broker, caches refill."""

import os
import signal

from tests.e2e.helpers import reonctl, status, wait_status
from tests.stations import write_station


def test_station_survives_kill_9_of_the_broker_and_its_cache_refills(tmp_path) -> None:
    config = write_station(tmp_path, sim=True)
    try:
        up = reonctl(config, "up", "--timeout", "60")
        assert up.returncode == 0, up.stdout + up.stderr
        plugged = reonctl(config, "sim", "plug", "1")
        assert plugged.returncode == 0, plugged.stdout + plugged.stderr
        doc = wait_status(config, lambda d: d["evses"]["1"]["connector_status"] == "Occupied")
        broker_pid = doc["services"]["bus"]["pid"]

        os.kill(broker_pid, signal.SIGKILL)
        doc = wait_status(config, lambda d: d["services"]["bus"]["pid"] not in (None, broker_pid)
                          and all(s["alive"] for s in d["services"].values())
                          and d["evses"]["1"]["connector_status"] == "Occupied")
        assert doc["evses"]["2"]["connector_status"] == "Available"
        assert reonctl(config, "status").returncode == 0
    finally:
        reonctl(config, "down")
    assert status(config)["services"]["bus"]["state"] in ("NOT_STARTED", "STOPPED")
