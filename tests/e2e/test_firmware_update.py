"""A whole firmware update under supervisord: UpdateFirmware from the CSMS → … → Installed, new version booted."""

import datetime as dt
import json
import os

from sim.file_server import FileServer
from tests.e2e.helpers import reonctl, wait_status
from tests.stations import write_station


def csms_messages(config, action: str) -> list[dict]:
    out = reonctl(config, "csms", "messages", action, "--json")
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_update_firmware_runs_to_installed_and_the_station_boots_the_new_version(tmp_path) -> None:
    image_dir = tmp_path / "images"
    image_dir.mkdir()
    (image_dir / "reon-0.2.0.raucb").write_bytes(os.urandom(256 * 1024))
    server = FileServer(image_dir)
    server.start()
    config = write_station(tmp_path, sim=True)
    try:
        up = reonctl(config, "up", "--timeout", "60")
        assert up.returncode == 0, up.stdout + up.stderr
        wait_status(config, lambda d: d["csms"]["registration"] == "Accepted")
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        request = {"requestId": 7, "firmware": {"location": server.url("reon-0.2.0.raucb"), "retrieveDateTime": now}}
        answer = reonctl(config, "csms", "call", "UpdateFirmware", json.dumps(request))
        assert answer.returncode == 0, answer.stderr
        assert json.loads(answer.stdout)["status"] == "Accepted"

        doc = wait_status(config, lambda d: d["firmware"]["update_status"] == "Installed", timeout=90)
        assert doc["station"]["firmware_version"] == "0.2.0"
        statuses = [m["payload"]["status"] for m in csms_messages(config, "FirmwareStatusNotification")
                    if m["kind"] == "call"]
        assert statuses[0] == "Downloading" and statuses[-1] == "Installed"
        assert {"Downloaded", "Installing", "InstallRebooting"} <= set(statuses)
        boots = [m["payload"] for m in csms_messages(config, "BootNotification") if m["kind"] == "call"]
        assert boots[-1]["reason"] == "FirmwareUpdate"
        assert boots[-1]["chargingStation"]["firmwareVersion"] == "0.2.0"
    finally:
        reonctl(config, "down")
        server.stop()
