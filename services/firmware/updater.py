"""One firmware job (L01), walked step by step from its persisted state: no bus here, the service's hooks
report each status and publish the job.

scheduled → (DownloadScheduled until retrieveDateTime) → downloading (Downloading; retries × retryInterval,
resumable; Downloaded or DownloadFailed) → verifying (SignatureVerified, or InvalidSignature + security event
InvalidFirmwareSignature) → install_scheduled (InstallScheduled until installDateTime and while transactions
run; install pending) → installing (Installing; the detached installer; InstallationFailed on a non-zero
exit) → InstallRebooting, the reboot command → rebooting: found at the next start, the running version decides
Installed (+ security event FirmwareUpdated) or InstallVerificationFailed → done.
A status is reported before the step that follows it is saved, so a restart repeats at most the last one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from services.firmware.download import Download, DownloadError, in_thread, sha256_file
from services.firmware.installer import CommandError, Installer, render, run_reboot
from services.firmware.store import FirmwareJob, Store
from station.host import os_boot_id, running_firmware_version

log = logging.getLogger("firmware")

PROGRESS_S = 2.0


@dataclass(frozen=True)
class UpdateSettings:
    work_root: Path                 # <data_dir>/firmware: one directory per job
    data_dir: Path
    configured_version: str
    max_bytes: int
    ca_file: Path | None
    installer: str                  # command template with {bundle} and {version}
    reboot_command: str
    download_timeout_s: float = 30.0
    allow_rsa_pkcs1v15: bool = True


class Hooks(Protocol):
    async def firmware_status(self, job: FirmwareJob, status: str) -> None: ...
    async def security_event(self, kind: str, tech_info: str) -> None: ...
    async def job_changed(self) -> None: ...
    async def set_install_pending(self, pending: bool) -> None: ...
    async def before_reboot(self) -> None: ...


class IdleGate:
    """Whether no transaction runs (None = not told yet, which counts as busy)."""

    def __init__(self, idle: bool | None) -> None:
        self.idle = idle
        self._idle = asyncio.Event()
        if idle:
            self._idle.set()

    def set(self, idle: bool) -> None:
        self.idle = idle
        self._idle.set() if idle else self._idle.clear()

    async def wait_idle(self) -> None:
        while not self.idle:
            await self._idle.wait()


async def sleep_until(when: float) -> None:
    """Wall-clock wait (re-checked every 30 s, so a clock set by the CSMS takes effect)."""
    while (left := when - time.time()) > 0:
        await asyncio.sleep(min(left, 30.0))


def work_dir(settings: UpdateSettings, request_id: int) -> Path:
    return settings.work_root / str(request_id)


class FirmwareUpdate:
    def __init__(self, job: FirmwareJob, store: Store, settings: UpdateSettings, hooks: Hooks,
                 gate: IdleGate) -> None:
        self.job = job
        self.store = store
        self.settings = settings
        self.hooks = hooks
        self.gate = gate
        self.work_dir = work_dir(settings, job.request_id)
        name = re.sub(r"[^0-9A-Za-z._-]", "_", unquote(urlsplit(job.location).path.rsplit("/", 1)[-1]))
        self.bundle = self.work_dir / (name.lstrip(".") or "firmware.img")
        self.download: Download | None = None
        self._digest: bytes | None = None

    @property
    def progress(self) -> tuple[int | None, int | None]:
        """(bytes on disk, total bytes) of the download running now."""
        if self.download is None:
            return None, None
        return self.download.done_bytes, self.download.total_bytes

    async def run(self) -> None:
        steps = {"scheduled": self._scheduled, "downloading": self._downloading, "verifying": self._verifying,
                 "install_scheduled": self._install_scheduled, "installing": self._installing,
                 "rebooting": self._confirm_after_reboot}
        while not self.job.finished:
            await steps[self.job.step]()

    # -- bookkeeping -----------------------------------------------------------------------------------
    async def _report(self, status: str) -> None:
        if self.job.status != status:
            await self.hooks.firmware_status(self.job, status)

    async def _advance(self, step: str) -> None:
        self.job.step = step
        self.store.save(self.job)
        await self.hooks.job_changed()

    async def _finish(self, status: str, reason: str) -> None:
        (log.info if status == "Installed" else log.warning)("firmware request %d: %s (%s)",
                                                           self.job.request_id, status, reason)
        await self._report(status)
        await self._advance("done")
        await self.hooks.set_install_pending(False)
        await asyncio.to_thread(shutil.rmtree, self.work_dir, True)

    # -- steps -----------------------------------------------------------------------------------------
    async def _scheduled(self) -> None:
        if self.job.retrieve_at > time.time():
            await self._report("DownloadScheduled")
            await sleep_until(self.job.retrieve_at)
        await self._advance("downloading")

    async def _downloading(self) -> None:
        job = self.job
        await self._report("Downloading")
        ticker = asyncio.create_task(self._publish_progress())
        try:
            while True:
                self.download = Download(job.location, self.bundle, max_bytes=self.settings.max_bytes,
                                         timeout_s=self.settings.download_timeout_s, ca_file=self.settings.ca_file)
                try:
                    result = await in_thread(self.download.run, self.download.cancel)
                    break
                except DownloadError as exc:
                    job.attempts += 1
                    self.store.save(job)
                    if exc.permanent or job.attempts > job.retries:
                        await self._finish("DownloadFailed", f"{exc} (attempt {job.attempts})")
                        return
                    log.warning("firmware request %d: download attempt %d of %d failed: %s; again in %d s",
                                job.request_id, job.attempts, job.retries + 1, exc, job.retry_interval_s)
                    await asyncio.sleep(job.retry_interval_s)
        finally:
            ticker.cancel()
            self.download = None
        log.info("firmware request %d: downloaded %d bytes%s", job.request_id, result.size_bytes,
                 f" (resumed at {result.resumed_from})" if result.resumed_from else "")
        self._digest = result.sha256
        await self._report("Downloaded")
        await self._advance("verifying")

    async def _publish_progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_S)
            await self.hooks.job_changed()

    async def _verifying(self) -> None:
        job = self.job
        if not job.signing_certificate or not job.signature:  # non-secure update (L02): nothing to verify
            await self._advance("install_scheduled")
            return
        if not self.bundle.exists():
            await self._finish("DownloadFailed", f"the image {self.bundle} is gone")
            return
        digest = self._digest or (await asyncio.to_thread(sha256_file, self.bundle)).digest()
        from cryptography import x509  # loaded only when a signature is checked

        from services.firmware.signature import verify_signature

        cert = x509.load_pem_x509_certificates(job.signing_certificate.encode())[0]
        if not verify_signature(cert, job.signature, digest, allow_rsa_pkcs1v15=self.settings.allow_rsa_pkcs1v15):
            await self._report("InvalidSignature")
            await self.hooks.security_event("InvalidFirmwareSignature",
                                            f"request {job.request_id}: signature does not match {job.location}")
            await self._finish("InvalidSignature", "the signature does not match the image")
            return
        await self._report("SignatureVerified")
        await self._advance("install_scheduled")

    async def _install_scheduled(self) -> None:
        job = self.job
        if job.install_at is not None and job.install_at > time.time():
            await self._report("InstallScheduled")
            await sleep_until(job.install_at)
        await self.hooks.set_install_pending(True)
        if not self.gate.idle:
            log.info("firmware request %d: waiting for the transactions to end", job.request_id)
            await self._report("InstallScheduled")
            await self.gate.wait_idle()
        job.install_boot_id = os_boot_id()
        await self._advance("installing")

    async def _installing(self) -> None:
        job = self.job
        installer = Installer(self.work_dir)
        if installer.pid_file.exists() or installer.rc_file.exists():
            log.info("firmware request %d: the installer was started before this process; waiting for it",
                     job.request_id)
            status = await installer.wait(same_boot=job.install_boot_id == os_boot_id())
        else:
            try:
                command = render(self.settings.installer, bundle=self.bundle, version=job.target_version)
            except CommandError as exc:
                await self._finish("InstallationFailed", str(exc))
                return
            await self._report("Installing")
            log.info("firmware request %d: installing: %s", job.request_id, command)
            await installer.start(command)
            status = await installer.wait()
        if status != 0:
            detail = "vanished without an exit status" if status is None else f"exited with {status}"
            await self._finish("InstallationFailed", f"installer {detail}: {installer.output_tail()}"[:500])
            return
        await self._report("InstallRebooting")
        await self._advance("rebooting")
        log.info("firmware request %d: installed; rebooting: %s", job.request_id, self.settings.reboot_command)
        await self.hooks.before_reboot()
        code = await run_reboot(self.settings.reboot_command, self.work_dir / "reboot.log")
        if code not in (0, None):
            await self._finish("InstallationFailed", f"the reboot command exited with {code}")
            return
        await asyncio.Event().wait()  # going down; the next start confirms the version (_confirm_after_reboot)

    async def _confirm_after_reboot(self) -> None:
        job = self.job
        running = running_firmware_version(self.settings.data_dir, self.settings.configured_version)
        if job.target_version and running != job.target_version:
            await self._finish("InstallVerificationFailed", f"running {running}, expected {job.target_version}")
            return
        await self._report("Installed")
        await self.hooks.security_event("FirmwareUpdated", f"firmware {job.previous_version} -> {running}"
                                                           f" (request {job.request_id})")
        await self._finish("Installed", f"running {running}")


async def discard(update: FirmwareUpdate | None, task: asyncio.Task[None] | None) -> None:
    """Stop a job's task (the job stays where it was persisted)."""
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
