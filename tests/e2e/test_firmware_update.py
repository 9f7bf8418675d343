"""A whole signed firmware update under supervisord: `reonctl csms update-firmware` (the simulated manufacturer
makes and signs the image, the development CSMS sends UpdateFirmware with signingCertificate and signature)
→ … → Installed, new version booted."""

import json

from tests.e2e.helpers import reonctl, wait_status
from tests.stations import write_station


def csms_messages(config, action: str) -> list[dict]:
    out = reonctl(config, "csms", "messages", action, "--json")
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_a_signed_update_runs_to_installed_and_the_station_boots_the_new_version(tmp_path) -> None:
    root = tmp_path / "manufacturer" / "root.pem"
    config = write_station(tmp_path, sim=True, extra=f'[firmware]\nmanufacturer_root = "{root}"\n')
    try:
        up = reonctl(config, "up", "--timeout", "60")
        assert up.returncode == 0, up.stdout + up.stderr
        assert root.exists() and (root.parent / "signing.key").stat().st_mode & 0o077 == 0
        wait_status(config, lambda d: d["csms"]["registration"] == "Accepted")
        certs = reonctl(config, "certs")  # made before the ocpp service started: imported at its first start
        assert "ManufacturerRootCertificate" in certs.stdout and "simulated manufacturer root" in certs.stdout
        unsigned = reonctl(config, "csms", "update-firmware", "0.1.9", "--unsigned", "--request-id", "6")
        assert unsigned.returncode == 0, unsigned.stderr
        assert '"status": "Rejected"' in unsigned.stdout  # a station with a manufacturer root: signed only

        answer = reonctl(config, "csms", "update-firmware", "0.2.0", "--request-id", "7")
        assert answer.returncode == 0, answer.stderr
        assert "(signed)" in answer.stdout and '"status": "Accepted"' in answer.stdout

        doc = wait_status(config, lambda d: d["firmware"]["update_status"] == "Installed", timeout=90)
        assert doc["station"]["firmware_version"] == "0.2.0"
        statuses = [m["payload"]["status"] for m in csms_messages(config, "FirmwareStatusNotification")
                    if m["kind"] == "call"]
        assert statuses[0] == "Downloading" and statuses[-1] == "Installed"
        assert {"Downloaded", "SignatureVerified", "Installing", "InstallRebooting"} <= set(statuses)
        boots = [m["payload"] for m in csms_messages(config, "BootNotification") if m["kind"] == "call"]
        assert boots[-1]["reason"] == "FirmwareUpdate"
        assert boots[-1]["chargingStation"]["firmwareVersion"] == "0.2.0"
    finally:
        reonctl(config, "down")
