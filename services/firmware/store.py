"""The firmware service's SQLite tables (<data_dir>/firmware.db): the current firmware job, the current log
upload, and a few remembered values. One row per kind: a new request replaces the old one.

Every change is committed before the step it describes starts, so a restart (the reboot the job causes, or
a kill -9 at any moment) resumes from the persisted step.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from station.sqlite import atomic

# Steps of a firmware job, in order; `done` is final (the last status says how it ended).
STEPS = ("scheduled", "downloading", "verifying", "install_scheduled", "installing", "rebooting", "done")
DEFAULT_RETRIES = 3
DEFAULT_RETRY_INTERVAL_S = 60


@dataclass
class FirmwareJob:
    request_id: int
    location: str
    retrieve_at: float              # UTC seconds
    install_at: float | None        # UTC seconds, None = as soon as verified
    retries: int                    # attempts after the first
    retry_interval_s: int
    signing_certificate: str | None
    signature: str | None
    previous_version: str
    target_version: str | None
    step: str = "scheduled"
    status: str | None = None       # the last FirmwareStatus reported for this job
    attempts: int = 0               # download attempts made
    install_boot_id: str | None = None
    created_at: float = field(default_factory=time.time)

    @property
    def finished(self) -> bool:
        return self.step == "done"


@dataclass
class LogJob:
    request_id: int
    log_type: str                   # DiagnosticsLog | SecurityLog
    remote_location: str
    oldest_at: float | None
    latest_at: float | None
    retries: int
    retry_interval_s: int
    filename: str
    step: str = "uploading"         # uploading | done
    status: str | None = None       # the last UploadLogStatus reported
    attempts: int = 0
    created_at: float = field(default_factory=time.time)


class Store:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.execute("CREATE TABLE IF NOT EXISTS jobs (kind TEXT PRIMARY KEY, request_id INTEGER, step TEXT,"
                     " status TEXT, body TEXT, updated_at REAL)")
        conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT)")

    # -- jobs ------------------------------------------------------------------------------------------
    def firmware_job(self) -> FirmwareJob | None:
        return self._load("firmware", FirmwareJob)

    def log_job(self) -> LogJob | None:
        return self._load("log", LogJob)

    def save(self, job: FirmwareJob | LogJob) -> None:
        kind = "firmware" if isinstance(job, FirmwareJob) else "log"
        with atomic(self.conn):
            self.conn.execute("INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?)",
                              (kind, job.request_id, job.step, job.status, json.dumps(asdict(job)), time.time()))

    def _load(self, kind: str, cls: type[Any]) -> Any:
        row = self.conn.execute("SELECT body FROM jobs WHERE kind=?", (kind,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    # -- remembered values -----------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, key: str, value: Any) -> None:
        with atomic(self.conn):
            self.conn.execute("INSERT OR REPLACE INTO kv VALUES (?,?)", (key, json.dumps(value)))
