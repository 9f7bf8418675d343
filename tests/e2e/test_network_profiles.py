"""Network profiles under supervisord (B09/B10, A05): a migration to a CSMS that does not answer falls back to
slot 1 after NetworkProfileConnectionAttempts; TC_A_19 from security profile 2 to 3 over real TLS, with the
station certificate renewed on the station (RenewChargingStationCertificate) and a Reset."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sim.csms.control import request
from tests.e2e.helpers import ROOT, poll, reonctl, wait_status
from tests.pki import Pki, make_pki
from tests.services.ocpp_client.certificates.pki_tools import Issued, sign_csr
from tests.stations import free_port, write_station

C = "OCPPCommCtrlr"
DEVICE_MODEL = """
[device_model]
"OCPPCommCtrlr.RetryBackOffWaitMinimum" = 1
"OCPPCommCtrlr.RetryBackOffRandomRange" = 0
"OCPPCommCtrlr.NetworkProfileConnectionAttempts" = 2
"""


def profile(url: str, security_profile: int) -> dict[str, Any]:
    return {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppInterface": "Wired0", "messageTimeout": 30,
            "securityProfile": security_profile, "ocppCsmsUrl": url}


def priority(value: str) -> dict[str, Any]:
    return {"setVariableData": [{"component": {"name": C}, "variable": {"name": "NetworkConfigurationPriority"},
                                 "attributeValue": value}]}


def get_variables(*names: tuple[str, str]) -> dict[str, Any]:
    return {"getVariableData": [{"component": {"name": c}, "variable": {"name": v}} for c, v in names]}


class Listener:
    """A TCP port that accepts and at once closes every connection: a CSMS that is there and never answers.
    Counts the connection attempts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.attempts = 0
        self.url = f"ws://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.attempts += 1
                conn.close()

    def close(self) -> None:
        self.sock.close()


def sim_csms(config: Path, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A CALL through the supervisord development CSMS (`reonctl csms call`)."""
    out = reonctl(config, "csms", "call", action, json.dumps(payload))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def sim_boots(config: Path) -> list[dict[str, Any]]:
    out = reonctl(config, "csms", "messages", "BootNotification", "--json")
    records = [json.loads(line) for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []
    return [r["payload"] for r in records if r["kind"] == "call"]


def test_a_migration_to_a_csms_that_never_answers_falls_back_to_slot_1(tmp_path: Path) -> None:
    """TC_B_46 under supervisord: slot 2 = a CSMS that closes every connection, priority "2,1", Reset: two
    attempts on slot 2, then the station boots again through slot 1 (the development CSMS)."""
    config = write_station(tmp_path, sim=True, extra=DEVICE_MODEL)
    silent = Listener()
    try:
        up = reonctl(config, "up", "--timeout", "60")
        assert up.returncode == 0, up.stdout + up.stderr
        slot_1_url = wait_status(config, lambda d: d["csms"]["registration"] == "Accepted")["csms"]["url"]
        reply = sim_csms(config, "SetNetworkProfile", {"configurationSlot": 2, "connectionData":
                                                       profile(silent.url, 1)})
        assert reply["status"] == "Accepted"
        assert sim_csms(config, "SetVariables", priority("2,1"))["setVariableResult"][0]["attributeStatus"] \
            == "RebootRequired"
        assert sim_csms(config, "Reset", {"type": "OnIdle"})["status"] == "Accepted"

        boots = poll(lambda: sim_boots(config), lambda b: any(p["reason"] == "RemoteReset" for p in b),
                     timeout=60, what="a BootNotification after the Reset")
        assert boots
        assert silent.attempts == 2
        doc = wait_status(config, lambda d: d["csms"]["registration"] == "Accepted")
        assert doc["csms"]["url"] == slot_1_url
        reply = sim_csms(config, "GetVariables", get_variables((C, "NetworkConfigurationPriority")))
        assert reply["getVariableResult"][0]["attributeValue"] == "2,1"  # slot 2 stays for a later try
    finally:
        reonctl(config, "down")
        silent.close()


@contextlib.contextmanager
def tls_csms(pki: Pki, password: str, control: Path) -> Iterator[str]:
    """The development CSMS as its own process, serving wss with the test PKI and taking station certificates
    (profile 3) issued by its root; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sim.csms", "--port", str(port), "--password", password, "--tls-cert",
         pki.server.cert, "--tls-key", pki.server.key, "--tls-client-ca", pki.ca, "--control", str(control)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None and "listening" in process.stdout.readline()
        yield f"wss://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def ask(control: Path, command: dict[str, Any]) -> Any:
    reply = request(str(control), command)
    assert reply["ok"], reply
    return reply["result"]


def messages(control: Path, station: str, action: str, since: int = 0) -> list[dict[str, Any]]:
    records = ask(control, {"cmd": "messages", "station": station, "action": action, "since": since})
    return [r for r in records if r["kind"] == "call"]


def ca_of(pki: Pki) -> Issued:
    cert = x509.load_pem_x509_certificate(Path(pki.ca).read_bytes())
    key = serialization.load_pem_private_key(Path(pki.ca_key).read_bytes(), password=None)
    return Issued(cert, key)  # type: ignore[arg-type]


def test_tc_a_19_upgrade_from_security_profile_2_to_3(tmp_path: Path) -> None:
    """The station on profile 2 (TLS + password): the CSMS installs its root, has the station certificate
    renewed (TriggerMessage → SignCertificate → CertificateSigned), sets slot 2 with profile 3 and priority
    "2,1", resets: the station comes back on profile 3 with its new client certificate, slot 1 pruned."""
    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki")
    control = Path(f"/tmp/reon-csms-{free_port()}.sock")
    config = write_station(tmp_path, sim=True, extra=DEVICE_MODEL)
    text = config.read_text()
    password = text.split('password = "', 1)[1].split('"', 1)[0]
    station_id = text.split('id = "', 1)[1].split('"', 1)[0]
    serial = text.split('serial_number = "', 1)[1].split('"', 1)[0]
    with tls_csms(pki, password, control) as url:
        config.write_text(re.sub(r'url = "ws://[^"]*"', f'url = "{url}"', text, count=1)
                          .replace("security_profile = 1", f'security_profile = 2\nca_file = "{pki.ca}"'))
        try:
            up = reonctl(config, "up", "--timeout", "60")
            assert up.returncode == 0, up.stdout + up.stderr
            poll(lambda: messages(control, station_id, "BootNotification"), bool, timeout=30, what="a boot")
            call = lambda action, payload: ask(control, {"cmd": "call", "station": station_id,  # noqa: E731
                                                         "action": action, "payload": payload})
            root = Path(pki.ca).read_text()
            assert call("InstallCertificate", {"certificateType": "CSMSRootCertificate",
                                               "certificate": root})["status"] == "Accepted"
            assert ask(control, {"cmd": "client_certificate", "station": station_id}) is None

            since = len(ask(control, {"cmd": "messages", "station": station_id, "action": None, "since": 0}))
            assert call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"}) == \
                {"status": "Accepted"}
            csr = poll(lambda: messages(control, station_id, "SignCertificate", since), bool, timeout=30,
                       what="SignCertificate")[0]["payload"]["csr"]
            signed = sign_csr(csr, ca_of(pki))
            assert call("CertificateSigned", {"certificateChain": signed.pem,
                                              "certificateType": "ChargingStationCertificate"})["status"] \
                == "Accepted"

            assert call("SetNetworkProfile", {"configurationSlot": 2, "connectionData": profile(url, 3)})[
                "status"] == "Accepted"
            assert call("SetVariables", priority("2,1"))["setVariableResult"][0]["attributeStatus"] \
                == "RebootRequired"
            boots = len(messages(control, station_id, "BootNotification"))
            assert call("Reset", {"type": "OnIdle"})["status"] == "Accepted"

            poll(lambda: messages(control, station_id, "BootNotification"), lambda b: len(b) > boots,
                 timeout=60, what="the boot after the Reset")
            subject = ask(control, {"cmd": "client_certificate", "station": station_id})
            assert subject is not None and f"commonName={serial}" in subject
            doc = wait_status(config, lambda d: d["csms"]["registration"] == "Accepted")
            assert doc["csms"]["security_profile"] == 3
            reply = call("GetVariables", get_variables(("SecurityCtrlr", "SecurityProfile"),
                                                       (C, "NetworkConfigurationPriority")))
            assert [r["attributeValue"] for r in reply["getVariableResult"]] == ["3", "2"]
        finally:
            reonctl(config, "down")
