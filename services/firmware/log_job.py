"""One GetLog upload (N01), run from its persisted state: no bus here, the service's hooks report statuses.

Uploading → the archive is built once (kept across restarts under its announced file name) → upload with
retries × retryInterval → Uploaded, or the status of the last failure (UploadFailure, PermissionDenied,
BadMessage, NotSupportedOperation).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from services.firmware.download import in_thread
from services.firmware.log_upload import Upload, UploadError, build_archive, log_files
from services.firmware.store import LogJob, Store

log = logging.getLogger("firmware")


@dataclass(frozen=True)
class LogSettings:
    log_dir: Path
    work_root: Path                 # <data_dir>/logs: one directory per request
    ca_file: Path | None
    timeout_s: float = 30.0


class LogHooks(Protocol):
    async def log_status(self, job: LogJob, status: str) -> None: ...


class LogUpload:
    def __init__(self, job: LogJob, store: Store, settings: LogSettings, hooks: LogHooks) -> None:
        self.job = job
        self.store = store
        self.settings = settings
        self.hooks = hooks
        self.work_dir = settings.work_root / str(job.request_id)

    async def _report(self, status: str) -> None:
        if self.job.status != status:
            await self.hooks.log_status(self.job, status)

    async def run(self) -> None:
        job = self.job
        await self._report("Uploading")
        archive = self.work_dir / job.filename
        if not archive.exists():
            await asyncio.to_thread(self._build, archive)
        while True:
            upload = Upload(archive, job.remote_location, timeout_s=self.settings.timeout_s,
                            ca_file=self.settings.ca_file)
            try:
                await in_thread(upload.run, upload.cancel)
                await self._finish("Uploaded", f"{archive.stat().st_size} bytes to {job.remote_location}")
                return
            except UploadError as exc:
                job.attempts += 1
                self.store.save(job)
                if exc.permanent or job.attempts > job.retries:
                    await self._finish(exc.status, f"{exc} (attempt {job.attempts})")
                    return
                log.warning("log request %d: upload attempt %d of %d failed: %s; again in %d s", job.request_id,
                            job.attempts, job.retries + 1, exc, job.retry_interval_s)
                await asyncio.sleep(job.retry_interval_s)

    def _build(self, archive: Path) -> None:
        files = log_files(self.settings.log_dir, self.job.log_type)
        scratch = archive.with_name(archive.name + ".tmp")
        build_archive(files, scratch, oldest=self.job.oldest_at, latest=self.job.latest_at)
        os.replace(scratch, archive)

    async def _finish(self, status: str, reason: str) -> None:
        (log.info if status == "Uploaded" else log.warning)("log request %d: %s (%s)", self.job.request_id,
                                                          status, reason)
        await self._report(status)
        self.job.step = "done"
        self.store.save(self.job)
        await asyncio.to_thread(shutil.rmtree, self.work_dir, True)
