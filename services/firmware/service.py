"""reon-firmware: the glue between the bus and the firmware / log jobs (read contract.py first).

Commands accept or refuse a request and persist it; a task walks the job (updater.py, log_job.py) and every
status it reaches goes onto the durable stream `status` for the ocpp client. At start the persisted jobs
resume where they stopped, which is also how the reboot an update causes is confirmed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bus import runtime
from bus.client import BusClient
from bus.durable import DurableProducer
from bus.rpc import RpcError
from services.firmware.contract import CONTRACT, STREAM, STREAM_CONSUMERS, StatusEntry
from services.firmware.download import SCHEMES
from services.firmware.installer import target_version
from services.firmware.log_job import LogSettings, LogUpload
from services.firmware.log_upload import archive_name, log_files
from services.firmware.store import DEFAULT_RETRIES, DEFAULT_RETRY_INTERVAL_S, FirmwareJob, LogJob, Store
from services.firmware.updater import FirmwareUpdate, IdleGate, UpdateSettings, discard, work_dir
from station.config import StationConfig
from station.host import running_firmware_version
from station.sqlite import open_db

ALLOW_NEW_SESSIONS_KEY = "ChargingStation.AllowNewSessionsPendingFirmwareUpdate"
UNCANCELLABLE_STEPS = ("installing", "rebooting")
BOOT_REASON_DEADLINE_S = 3.0


def parse_time(text: str | None) -> float | None:
    """UTC seconds of an OCPP dateTime (a time without zone is taken as UTC); ValueError when malformed."""
    if text is None:
        return None
    value = dt.datetime.fromisoformat(text)
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()


def station_commands(config: StationConfig) -> tuple[str, str]:
    """(installer template, reboot command): the sim scripts in simulation, else the configured ones."""
    if not config.sim.enabled:
        return config.firmware.installer, config.firmware.reboot_command
    python, station = shlex.quote(sys.executable), shlex.quote(str(config.path))
    return (f"{python} -m sim.firmware_installer --config {station} --version {{version}} {{bundle}}",
            f"{python} -m sim.reboot --config {station}")


def _remove_other_dirs(root: Path, request_id: int) -> None:
    """Leftovers of earlier jobs (a crash between steps) go when a new job starts: the board's disk is small."""
    if root.is_dir():
        for path in root.iterdir():
            if path.name != str(request_id):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


class FirmwareService(runtime.Service):
    contract = CONTRACT

    def __init__(self, config: StationConfig, bus: BusClient) -> None:
        super().__init__(config, bus)
        data_dir = config.paths.data_dir
        self.conn = open_db(str(data_dir / "firmware.db"))
        self.store = Store(self.conn)
        self.stream = DurableProducer(bus, self.conn, {STREAM: STREAM_CONSUMERS})
        self.extra_handlers = self.stream.handlers()
        self.gate = IdleGate(self.store.get("transactions_idle"))
        installer, reboot = station_commands(config)
        self.settings = UpdateSettings(
            work_root=data_dir / "firmware", data_dir=data_dir, configured_version=config.station.firmware_version,
            max_bytes=config.firmware.max_image_mb * 1024 * 1024, ca_file=config.csms.ca_file,
            installer=installer, reboot_command=reboot)
        self.log_settings = LogSettings(log_dir=config.paths.log_dir, work_root=data_dir / "logs",
                                        ca_file=config.csms.ca_file)
        self.allow_new_sessions = bool(config.device_model.get(ALLOW_NEW_SESSIONS_KEY, False))
        self.update: FirmwareUpdate | None = None
        self.update_task: asyncio.Task[None] | None = None
        self.upload: LogUpload | None = None
        self.upload_task: asyncio.Task[None] | None = None
        self.install_pending = False
        self.firmware_lock = asyncio.Lock()
        self.log_lock = asyncio.Lock()

    # -- life ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.stream.publish_heads()
        job = self.store.firmware_job()
        self.install_pending = bool(job and job.step == "installing")  # rebooting: confirmed right away
        await self.publish_state("install_pending", self._pending_body())
        await self.publish_job()
        self.subscribe("ocpp.state.transactions", self._on_transactions)
        if job is not None and not job.finished:
            self.log.info("resuming firmware request %d at step %s", job.request_id, job.step)
            self._run_update(job)
        log_job = self.store.log_job()
        if log_job is not None and log_job.step != "done":
            self.log.info("resuming log upload %d", log_job.request_id)
            self._run_upload(log_job)

    async def stop(self) -> None:
        await asyncio.gather(discard(self.update, self.update_task), discard(None, self.upload_task))
        self.conn.close()

    def _run_update(self, job: FirmwareJob) -> None:
        self.update = FirmwareUpdate(job, self.store, self.settings, self, self.gate)
        self.update_task = asyncio.create_task(self.update.run(), name=f"firmware-{job.request_id}")
        self.update_task.add_done_callback(self._on_task_done)

    def _run_upload(self, job: LogJob) -> None:
        self.upload = LogUpload(job, self.store, self.log_settings, self)
        self.upload_task = asyncio.create_task(self.upload.run(), name=f"log-{job.request_id}")
        self.upload_task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.error("%s crashed: %r", task.get_name(), task.exception(), exc_info=task.exception())

    # -- commands --------------------------------------------------------------------------------------
    async def cmd_update_firmware(self, args: dict[str, Any]) -> dict[str, Any]:
        request = args["request"]
        async with self.firmware_lock:
            installed = args.get("manufacturer_roots") or []
            refusal = await self._refusal(request, installed if isinstance(installed, list) else [])
            if refusal is not None:
                self.log.warning("UpdateFirmware %d: %s (%s)", request["requestId"], *refusal)
                return {"status": refusal[0], "reason": refusal[1]}
            status = "Accepted"
            running = self.update.job if self.update is not None and not self.update.job.finished else None
            if running is not None:
                if running.step in UNCANCELLABLE_STEPS:
                    reason = f"request {running.request_id} is {running.step} and cannot be cancelled"
                    self.log.warning("UpdateFirmware %d: Rejected (%s)", request["requestId"], reason)
                    return {"status": "Rejected", "reason": reason}
                await discard(self.update, self.update_task)
                shutil.rmtree(work_dir(self.settings, running.request_id), ignore_errors=True)
                await self.set_install_pending(False)
                self.log.info("firmware request %d cancelled for request %d", running.request_id,
                              request["requestId"])
                status = "AcceptedCanceled"
            job = self._new_job(request)
            self.store.save(job)
            _remove_other_dirs(self.settings.work_root, job.request_id)
            self._run_update(job)
            await self.publish_job()
            self.log.info("UpdateFirmware %d: %s, %s (target version %s)", job.request_id, status, job.location,
                          job.target_version or "unknown")
            return {"status": status}

    async def _refusal(self, request: dict[str, Any], installed_roots: list[Any]) -> tuple[str, str] | None:
        """(status, reason) when the request cannot be accepted (L01.FR.02, TC_L_18), else None. Trusted: the
        configured manufacturer root and the ManufacturerRootCertificates the CSMS installed (PEM)."""
        firmware = request["firmware"]
        if urlsplit(firmware["location"]).scheme.lower() not in SCHEMES:
            return "Rejected", f"unsupported location {firmware['location']!r} (http, https, ftp, ftps)"
        try:
            parse_time(firmware["retrieveDateTime"])
            parse_time(firmware.get("installDateTime"))
        except ValueError as exc:
            return "Rejected", f"bad dateTime: {exc}"
        certificate, signature = firmware.get("signingCertificate"), firmware.get("signature")
        root = self.config.firmware.manufacturer_root
        secure = root is not None or bool(installed_roots)
        if not secure and not certificate:
            return None if not signature else ("Rejected", "a signature without a signing certificate")
        if secure and not (certificate and signature):
            return "Rejected", "secure firmware update needs signingCertificate and signature"
        from services.firmware.signature import CertificateError, check_signing_certificate, trusted_roots

        try:  # cryptography is imported only here and in the updater: ~10 MB the idle service need not hold
            roots, problems = trusted_roots(root, installed_roots)
            for problem in problems:
                self.log.warning("UpdateFirmware %d: %s (ignored)", request["requestId"], problem)
            check_signing_certificate(certificate or "", roots)
        except CertificateError as exc:
            await self.security_event("InvalidFirmwareSigningCertificate", str(exc))
            return "InvalidCertificate", str(exc)
        return None

    def _new_job(self, request: dict[str, Any]) -> FirmwareJob:
        firmware = request["firmware"]
        retries, interval = request.get("retries"), request.get("retryInterval")
        return FirmwareJob(
            request_id=request["requestId"], location=firmware["location"],
            retrieve_at=parse_time(firmware["retrieveDateTime"]) or 0.0,
            install_at=parse_time(firmware.get("installDateTime")),
            retries=max(0, DEFAULT_RETRIES if retries is None else retries),
            retry_interval_s=max(0, DEFAULT_RETRY_INTERVAL_S if interval is None else interval),
            signing_certificate=firmware.get("signingCertificate"), signature=firmware.get("signature"),
            previous_version=self._version(), target_version=target_version(firmware["location"]))

    async def cmd_get_log(self, args: dict[str, Any]) -> dict[str, Any]:
        request = args["request"]
        params = request["log"]
        async with self.log_lock:
            if urlsplit(params["remoteLocation"]).scheme.lower() not in SCHEMES:
                return {"status": "Rejected", "reason": f"unsupported remoteLocation {params['remoteLocation']!r}"}
            try:
                oldest, latest = parse_time(params.get("oldestTimestamp")), parse_time(params.get("latestTimestamp"))
            except ValueError as exc:
                return {"status": "Rejected", "reason": f"bad timestamp: {exc}"}
            if not log_files(self.config.paths.log_dir, request["logType"]):
                return {"status": "Rejected", "reason": f"no {request['logType']} in {self.config.paths.log_dir}"}
            status = "Accepted"
            if self.upload is not None and self.upload.job.step != "done":
                old = self.upload.job
                await discard(None, self.upload_task)
                shutil.rmtree(self.upload.work_dir, ignore_errors=True)
                await self.log_status(old, "AcceptedCanceled")
                status = "AcceptedCanceled"
            retries, interval = request.get("retries"), request.get("retryInterval")
            job = LogJob(request_id=request["requestId"], log_type=request["logType"],
                         remote_location=params["remoteLocation"], oldest_at=oldest, latest_at=latest,
                         retries=max(0, DEFAULT_RETRIES if retries is None else retries),
                         retry_interval_s=max(0, DEFAULT_RETRY_INTERVAL_S if interval is None else interval),
                         filename=archive_name(self.config.station.id, request["logType"], request["requestId"]))
            self.store.save(job)
            _remove_other_dirs(self.log_settings.work_root, job.request_id)
            self._run_upload(job)
            await self.publish_job()
            return {"status": status, "filename": job.filename}

    async def cmd_status(self, args: dict[str, Any]) -> dict[str, Any]:
        job = self.store.firmware_job()
        idle = job is None or job.status in (None, "Installed")
        log_job = self.store.log_job()
        uploading = log_job is not None and log_job.step != "done"
        return {"firmware": {"status": "Idle" if idle else job.status, "request_id": None if idle else job.request_id},
                "log": {"status": "Uploading" if uploading else "Idle",
                        "request_id": log_job.request_id if uploading else None}}

    async def cmd_transactions_idle(self, args: dict[str, Any]) -> dict[str, Any]:
        await self._set_idle(bool(args["idle"]))
        return {"idle": bool(args["idle"])}

    async def _on_transactions(self, topic: str, env: Any) -> None:
        active = env.body.get("active") if isinstance(env.body, dict) else None
        if isinstance(active, int) and not isinstance(active, bool):
            await self._set_idle(active == 0)

    async def _set_idle(self, idle: bool) -> None:
        if self.gate.idle != idle:
            self.log.info("transactions %s", "idle" if idle else "running")
            self.store.put("transactions_idle", idle)
            self.gate.set(idle)
            await self.publish_job()

    # -- hooks of the jobs -----------------------------------------------------------------------------
    async def firmware_status(self, job: FirmwareJob, status: str) -> None:
        await self.stream.append(STREAM, StatusEntry.FIRMWARE_STATUS, {"status": status, "request_id": job.request_id})
        job.status = status
        self.store.save(job)
        await self.publish_job()

    async def log_status(self, job: LogJob, status: str) -> None:
        await self.stream.append(STREAM, StatusEntry.LOG_STATUS, {"status": status, "request_id": job.request_id})
        job.status = status
        self.store.save(job)
        await self.publish_job()

    async def security_event(self, kind: str, tech_info: str) -> None:
        (self.log.info if kind == "FirmwareUpdated" else self.log.warning)("security event %s: %s", kind, tech_info)
        await self.stream.append(STREAM, StatusEntry.SECURITY_EVENT, {"type": kind, "tech_info": tech_info[:255]})

    async def job_changed(self) -> None:
        await self.publish_job()

    async def set_install_pending(self, pending: bool) -> None:
        if pending != self.install_pending:
            self.install_pending = pending
            await self.publish_state("install_pending", self._pending_body())

    async def before_reboot(self) -> None:
        """The next BootNotification says FirmwareUpdate (ocpp's set_boot_reason); no ocpp running: go on."""
        if not (self.config.paths.run_dir / "ocpp.rpc").exists():
            self.log.warning("reon-ocpp is not running: the boot after this reboot will not say FirmwareUpdate")
            return
        try:
            await self.call("ocpp", "set_boot_reason", {"reason": "FirmwareUpdate"}, deadline_s=BOOT_REASON_DEADLINE_S)
        except RpcError as exc:
            self.log.warning("ocpp set_boot_reason failed (%s): rebooting anyway", exc)

    # -- state -----------------------------------------------------------------------------------------
    def _version(self) -> str:
        return running_firmware_version(self.config.paths.data_dir, self.config.station.firmware_version)

    def _pending_body(self) -> dict[str, Any]:
        return {"pending": self.install_pending, "allow_new_sessions": self.allow_new_sessions}

    async def publish_job(self) -> None:
        job = self.update.job if self.update is not None else self.store.firmware_job()
        done_bytes, total_bytes = self.update.progress if self.update is not None else (None, None)
        log_job = self.upload.job if self.upload is not None else self.store.log_job()
        await self.publish_state("job", {
            "version": self._version(),
            "status": (job.status if job else None) or "Idle",
            "request_id": job.request_id if job else None,
            "step": job.step if job else "idle",
            "location": job.location if job else None,
            "target_version": job.target_version if job else None,
            "downloaded_bytes": done_bytes, "total_bytes": total_bytes,
            "transactions_idle": self.gate.idle,
            "log_status": (log_job.status if log_job else None) or "Idle",
            "log_request_id": log_job.request_id if log_job else None,
        })


def main() -> int:
    return runtime.main(FirmwareService)


if __name__ == "__main__":
    sys.exit(main())
