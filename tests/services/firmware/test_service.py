"""reon-firmware in-process on the bus: every status of an update on the durable stream, restarts at any step,
cancellation by a new request, waiting for transactions, refusals and failures. The installer and the reboot
are the simulation scripts; the "reboot" restarts the service in-process."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import bus.contract
from bus.client import BusClient
from bus.contract import Command, Contract
from bus.harness import Probe, wait_until
from bus.runtime import running
from services.firmware import updater
from services.firmware.service import FirmwareService
from sim.file_server import FileServer
from station.config import StationConfig
from tests.services.firmware.conftest import Signing
from tests.services.firmware.signing import Signer

IMAGE = "reon-0.2.0.raucb"
TO_REBOOT = ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting"]


def iso(offset_s: float = -7200) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_s)).isoformat()


@dataclass
class Rig:
    config: StationConfig
    probe: Probe
    server: FileServer
    signing: Signing

    def request(self, request_id: int, name: str = IMAGE, content: bytes | None = None, *,
                signer: Signer | None = None, signature: str | None = None, **extra: Any) -> dict[str, Any]:
        """Put an image on the file server; the UpdateFirmwareRequest for it, signed by `signer`."""
        data = content if content is not None else b"version=0.2.0\n" + os.urandom(300_000)
        (self.server.root / name).write_bytes(data)
        signer = signer or self.signing.ec256
        firmware = {"location": self.server.url(name), "retrieveDateTime": iso(),
                    "signingCertificate": signer.chain_pem, "signature": signature or signer.sign(data)}
        firmware.update(extra.pop("firmware", {}))
        return {"requestId": request_id, "firmware": firmware, "retries": 0, "retryInterval": 0, **extra}

    async def update(self, request: dict[str, Any]) -> str:
        return (await self.probe.call("firmware", "update_firmware", {"request": request}))["status"]

    async def job(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 8.0) -> dict[str, Any]:
        _, env = await self.probe.wait_for("firmware.state.job", lambda e: predicate(e.body), timeout)
        return env.body

    async def entries(self, name: str | None = None) -> list[dict[str, Any]]:
        reply = await self.probe.call("firmware", "replay", {"stream": "status", "after_seq": 0})
        return [e["data"] for e in reply["entries"] if name is None or e["name"] == name]

    async def statuses(self, request_id: int) -> list[str]:
        return [d["status"] for d in await self.entries("firmware_status") if d["request_id"] == request_id]

    async def idle(self, idle: bool = True) -> None:
        await self.probe.call("firmware", "transactions_idle", {"idle": idle})

    @property
    def version_file(self) -> Path:
        return self.config.paths.data_dir / "firmware_version"

    def sim_log(self) -> str:
        path = self.config.sim_dir / "firmware.log"
        return path.read_text() if path.exists() else ""


@pytest.fixture
def rig(station: StationConfig, probe: Probe, file_server: FileServer, signing: Signing) -> Rig:
    return Rig(station, probe, file_server, signing)


def service(rig: Rig) -> Any:
    return running(FirmwareService, rig.config)


async def test_accepted_update_reports_every_status_through_installed(rig: Rig,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus.contract, "_loaded", dict(bus.contract._loaded))  # the stand-in's contract is ours only
    boot_reasons: list[str] = []

    async def set_boot_reason(args: dict[str, Any]) -> dict[str, Any]:
        boot_reasons.append(args["reason"])
        return {"reason": args["reason"]}

    await rig.probe.implement("ocpp", {"set_boot_reason": set_boot_reason}, Contract("ocpp", "stand-in", commands=(
        Command("set_boot_reason", {"reason": "str"}, {"reason": "str"}, "stand-in", idempotent=True),)))
    async with service(rig):
        await rig.idle()
        assert await rig.update(rig.request(11)) == "Accepted"
        await rig.job(lambda j: j["status"] == "InstallRebooting")
        await wait_until(rig.version_file.exists)  # the sim reboot switched the slot
        assert boot_reasons == ["FirmwareUpdate"]
        assert (await rig.probe.call("firmware", "status", {}))["firmware"] == {"status": "InstallRebooting",
                                                                                "request_id": 11}
    async with service(rig):  # the station came back
        job = await rig.job(lambda j: j["step"] == "done")
        assert (job["status"], job["version"], job["request_id"]) == ("Installed", "0.2.0", 11)
        assert await rig.statuses(11) == ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                                          "InstallRebooting", "Installed"]
        events = await rig.entries("security_event")
        assert [e["type"] for e in events] == ["FirmwareUpdated"] and "0.1.1 -> 0.2.0" in events[0]["tech_info"]
        assert (await rig.probe.call("firmware", "status", {}))["firmware"] == {"status": "Idle", "request_id": None}
    assert '"action": "install"' in rig.sim_log() and '"version": "0.2.0"' in rig.sim_log()


async def test_service_killed_during_download_resumes_with_range(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(updater, "PROGRESS_S", 0.02)
    request = rig.request(12)
    rig.server.stall(IMAGE, after_bytes=200_000)
    async with service(rig):
        await rig.idle()
        assert await rig.update(request) == "Accepted"
        job = await rig.job(lambda j: (j["downloaded_bytes"] or 0) >= 200_000)
        assert job["total_bytes"] == len((rig.server.root / IMAGE).read_bytes())
    async with service(rig):
        await rig.job(lambda j: j["status"] == "InstallRebooting")
        assert await rig.statuses(12) == TO_REBOOT  # Downloading once: the resumed download is the same one
    assert rig.server.requests[-1]["range"] == "bytes=200000-"


async def test_service_killed_during_install_adopts_the_running_installer(rig: Rig, tmp_path: Path) -> None:
    fifo = tmp_path / "hold-install"
    os.mkfifo(fifo)
    request = rig.request(13, content=f"sim:wait-fifo={fifo}\n".encode() + os.urandom(1000))
    async with service(rig):
        await rig.idle()
        assert await rig.update(request) == "Accepted"
        await rig.job(lambda j: j["status"] == "Installing")
    async with service(rig):  # the installer outlived the service; this one adopts it
        await rig.job(lambda j: j["step"] == "installing")
        fifo.write_text("go\n")
        await rig.job(lambda j: j["status"] == "InstallRebooting")
        await wait_until(rig.version_file.exists)
    async with service(rig):
        job = await rig.job(lambda j: j["step"] == "done")
        assert (job["status"], job["version"]) == ("Installed", "0.2.0")
        assert await rig.statuses(13) == ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                                          "InstallRebooting", "Installed"]


async def test_new_request_during_a_download_cancels_it(rig: Rig) -> None:
    first = rig.request(21, name="reon-0.2.0-a.raucb")
    rig.server.stall("reon-0.2.0-a.raucb", after_bytes=100_000)
    async with service(rig):
        await rig.idle()
        assert await rig.update(first) == "Accepted"
        await rig.job(lambda j: j["status"] == "Downloading")
        assert await rig.update(rig.request(22)) == "AcceptedCanceled"
        await rig.job(lambda j: j["status"] == "InstallRebooting" and j["request_id"] == 22)
        assert await rig.statuses(21) == ["Downloading"]
        assert await rig.statuses(22) == TO_REBOOT
        assert not (rig.config.paths.data_dir / "firmware" / "21").exists()
        rejected = await rig.probe.call("firmware", "update_firmware", {"request": rig.request(23)})
        assert rejected["status"] == "Rejected" and "cannot be cancelled" in rejected["reason"]


async def test_install_waits_for_the_running_transaction(rig: Rig) -> None:
    async with service(rig):
        await rig.idle(False)
        assert await rig.update(rig.request(31)) == "Accepted"
        await rig.job(lambda j: j["status"] == "InstallScheduled")
        _, pending = await rig.probe.wait_for("firmware.state.install_pending", lambda e: e.body["pending"])
        assert pending.body == {"pending": True, "allow_new_sessions": False}
        ocpp = BusClient(rig.config.paths.run_dir, "ocpp", strict=False)
        await ocpp.start()
        try:
            await ocpp.publish_state("transactions", {"active": 0})  # the transaction ended
            await rig.job(lambda j: j["status"] == "InstallRebooting")
        finally:
            await ocpp.close()
        assert await rig.statuses(31) == ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled",
                                          "Installing", "InstallRebooting"]


async def test_download_and_install_wait_for_their_date_times(rig: Rig) -> None:
    request = rig.request(32, firmware={"retrieveDateTime": iso(0.4), "installDateTime": iso(0.8)})
    async with service(rig):
        await rig.idle()
        assert await rig.update(request) == "Accepted"
        await rig.job(lambda j: j["status"] == "InstallRebooting")
        assert await rig.statuses(32) == ["DownloadScheduled", "Downloading", "Downloaded", "SignatureVerified",
                                          "InstallScheduled", "Installing", "InstallRebooting"]


async def test_certificate_from_another_root_is_invalid_with_a_security_event(rig: Rig) -> None:
    async with service(rig):
        assert await rig.update(rig.request(41, signer=rig.signing.stranger)) == "InvalidCertificate"
        events = await rig.entries("security_event")
        assert [e["type"] for e in events] == ["InvalidFirmwareSigningCertificate"]
        assert await rig.statuses(41) == []


async def test_request_without_certificate_is_rejected_when_a_root_is_configured(rig: Rig) -> None:
    request = rig.request(42)
    del request["firmware"]["signingCertificate"], request["firmware"]["signature"]
    async with service(rig):
        assert await rig.update(request) == "Rejected"


async def test_bad_signature_is_invalid_signature_with_a_security_event(rig: Rig) -> None:
    async with service(rig):
        await rig.idle()
        assert await rig.update(rig.request(43, signature=rig.signing.ec256.sign(b"another image"))) == "Accepted"
        job = await rig.job(lambda j: j["step"] == "done")
        assert job["status"] == "InvalidSignature"
        assert await rig.statuses(43) == ["Downloading", "Downloaded", "InvalidSignature"]
        assert [e["type"] for e in await rig.entries("security_event")] == ["InvalidFirmwareSignature"]


async def test_rsa_pss_signed_image_is_verified(rig: Rig) -> None:
    async with service(rig):
        await rig.idle()
        assert await rig.update(rig.request(44, signer=rig.signing.rsa)) == "Accepted"
        await rig.job(lambda j: j["status"] == "InstallRebooting")


async def test_missing_file_is_download_failed_after_the_retries(rig: Rig) -> None:
    request = rig.request(45, retries=1)
    request["firmware"]["location"] += "_does_not_exist"
    rig.server.fail(IMAGE + "_does_not_exist", 503)  # the first attempt: a retryable error, then 404
    async with service(rig):
        assert await rig.update(request) == "Accepted"
        await rig.job(lambda j: j["step"] == "done")
        assert await rig.statuses(45) == ["Downloading", "DownloadFailed"]
        assert [r["method"] for r in rig.server.requests] == ["GET", "GET"]


async def test_installer_failure_is_installation_failed(rig: Rig) -> None:
    async with service(rig):
        await rig.idle()
        assert await rig.update(rig.request(46, content=b"sim:fail-install\n")) == "Accepted"
        job = await rig.job(lambda j: j["step"] == "done")
        assert job["status"] == "InstallationFailed"
        assert (await rig.statuses(46))[-2:] == ["Installing", "InstallationFailed"]
        _, pending = await rig.probe.wait_for("firmware.state.install_pending")
        assert pending.body["pending"] is False


async def test_image_that_does_not_boot_is_install_verification_failed(rig: Rig) -> None:
    async with service(rig):
        await rig.idle()
        assert await rig.update(rig.request(47, content=b"version=0.2.0\nsim:no-boot\n")) == "Accepted"
        await rig.job(lambda j: j["status"] == "InstallRebooting")
        await wait_until(lambda: '"action": "reboot"' in rig.sim_log())
    async with service(rig):
        job = await rig.job(lambda j: j["step"] == "done")
        assert (job["status"], job["version"]) == ("InstallVerificationFailed", "0.1.1")
        assert (await rig.probe.call("firmware", "status", {}))["firmware"] == {
            "status": "InstallVerificationFailed", "request_id": 47}


def write_logs(rig: Rig) -> None:
    log_dir = rig.config.paths.log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "ocpp.log").write_text("2024-05-06 10:00:00.000 ocpp INFO BootNotification accepted\n")
    (log_dir / "security.log").write_text("2024-05-06T10:00:00Z SettingSystemTime\n")


async def test_get_log_uploads_the_logs_to_the_file_server(rig: Rig) -> None:
    write_logs(rig)
    request = {"logType": "DiagnosticsLog", "requestId": 51, "log": {"remoteLocation": rig.server.url("logs/")}}
    async with service(rig):
        reply = await rig.probe.call("firmware", "get_log", {"request": request})
        assert reply["status"] == "Accepted" and reply["filename"].endswith(".tar.gz")
        await rig.job(lambda j: j["log_status"] == "Uploaded" and j["log_request_id"] == 51)
        assert [(e["status"], e["request_id"]) for e in await rig.entries("log_status")] == [
            ("Uploading", 51), ("Uploaded", 51)]
        assert reply["filename"] in rig.server.uploads
        assert (await rig.probe.call("firmware", "status", {}))["log"] == {"status": "Idle", "request_id": None}


async def test_second_get_log_cancels_the_first(rig: Rig) -> None:
    write_logs(rig)
    rig.server.fail("slow", 503)
    first = {"logType": "SecurityLog", "requestId": 52, "retries": 2, "retryInterval": 60,
             "log": {"remoteLocation": rig.server.url("slow")}}
    second = {"logType": "SecurityLog", "requestId": 53, "log": {"remoteLocation": rig.server.url("logs/")}}
    async with service(rig):
        assert (await rig.probe.call("firmware", "get_log", {"request": first}))["status"] == "Accepted"
        await wait_until(lambda: any(r["path"] == "slow" for r in rig.server.requests))
        assert (await rig.probe.call("firmware", "status", {}))["log"] == {"status": "Uploading", "request_id": 52}
        assert (await rig.probe.call("firmware", "get_log", {"request": second}))["status"] == "AcceptedCanceled"
        await rig.job(lambda j: j["log_status"] == "Uploaded")
        assert [(e["status"], e["request_id"]) for e in await rig.entries("log_status")] == [
            ("Uploading", 52), ("AcceptedCanceled", 52), ("Uploading", 53), ("Uploaded", 53)]


async def test_get_log_without_such_a_log_is_rejected(rig: Rig) -> None:
    request = {"logType": "SecurityLog", "requestId": 54, "log": {"remoteLocation": rig.server.url("logs/")}}
    async with service(rig):
        assert (await rig.probe.call("firmware", "get_log", {"request": request}))["status"] == "Rejected"
