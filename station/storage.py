"""Opening a service's SQLite database safely: private files, clear errors, a corrupt file set aside, not lost.

Every database of the station lives in the data directory, which is made (or put back to) mode 0700; each
database file is 0600, so neither queued transaction messages nor the CSMS password are readable by other
local users. A database that SQLite reports as corrupt is never deleted or overwritten: it is renamed to
``<name>.corrupt-<UTC time>`` (with its -wal and -shm files), a new file takes its place, and every row SQLite
can still read is copied into it. What happened is logged once and kept in `station.health` so that
`reonctl status` shows it. A database that cannot be opened at all raises `StorageError`, whose message names
the file and the reason (read-only file system, permission denied, no space left, …).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from station import health

log = logging.getLogger("station.storage")

DIR_MODE = 0o700
FILE_MODE = 0o600
_CORRUPT_MARKERS = ("malformed", "not a database", "corrupt", "file is encrypted")


class StorageError(Exception):
    """A database that cannot be opened; the message names the file and what is wrong."""


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make it 0700; an existing directory of ours is tightened to 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        with contextlib.suppress(PermissionError):  # not ours: leave it, the files themselves are 0600
            os.chmod(path, DIR_MODE)
    return path


def open_database(path: str | Path) -> sqlite3.Connection:
    """The service's database at `path`: WAL, full sync, 0600; corrupt → set aside and recovered."""
    path = Path(path)
    try:
        private_dir(path.parent)
        _private_file(path)
        conn = _connect(path)
    except sqlite3.DatabaseError as exc:
        if not _is_corruption(exc):
            raise StorageError(_explain(path, exc)) from None
        conn = _set_aside_and_recover(path, str(exc))
    except OSError as exc:
        raise StorageError(_explain(path, exc)) from None
    return conn


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]  # before anything writes to the file
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"database disk image is malformed ({verdict})")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def _private_file(path: Path) -> None:
    if path.exists():
        if path.stat().st_mode & 0o077:
            os.chmod(path, FILE_MODE)
        return
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _CORRUPT_MARKERS)


def _explain(path: Path, exc: BaseException) -> str:
    """One line: which file and why, checked against the directory as the kernel sees it."""
    directory = path.parent
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC):
        reason = os.strerror(exc.errno).lower()
    elif not os.access(directory, os.W_OK | os.X_OK):
        reason = f"the directory {directory} is not writable (read-only file system or permissions)"
    elif path.exists() and not os.access(path, os.R_OK | os.W_OK):
        reason = "the file is not readable and writable by this user"
    else:
        reason = str(exc)
    return f"cannot open database {path}: {reason}"


def _set_aside_and_recover(path: Path, why: str) -> sqlite3.Connection:
    """Rename the corrupt file (never delete it), start a new one and copy in every row still readable."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{aside}{suffix}"))
    try:
        _private_file(path)
        conn = _connect(path)
    except (sqlite3.DatabaseError, OSError) as exc:
        raise StorageError(_explain(path, exc)) from None
    rows, tables = _copy_readable(aside, conn)
    message = (f"database {path} was corrupt ({why}); set aside as {aside.name}, recovered {rows} rows"
               f" of {tables} tables into a new file")
    log.error("%s", message)
    health.report(f"storage:{path.name}", message, logged=True)
    return conn


def _copy_readable(source: Path, dest: sqlite3.Connection) -> tuple[int, int]:
    """Copy schema and rows from a damaged file, table by table, row by row where a table is half-readable."""
    try:
        old = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        schema = old.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"
                             " AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index'").fetchall()
    except sqlite3.DatabaseError:
        return 0, 0
    rows = tables = 0
    with contextlib.closing(old):
        for kind, name, sql in schema:
            try:
                dest.execute(sql)
            except sqlite3.DatabaseError:
                continue
            if kind != "table":
                continue
            tables += 1
            rows += _copy_table(old, dest, name)
    return rows, tables


def _copy_table(old: sqlite3.Connection, dest: sqlite3.Connection, table: str) -> int:
    quoted = '"' + table.replace('"', '""') + '"'
    copied = 0
    try:
        cursor = old.execute(f"SELECT * FROM {quoted}")
        dest.execute("BEGIN")
        for row in cursor:
            marks = ", ".join("?" * len(row))
            with contextlib.suppress(sqlite3.DatabaseError):
                dest.execute(f"INSERT OR IGNORE INTO {quoted} VALUES ({marks})", row)
                copied += 1
    except sqlite3.DatabaseError:
        pass  # the rest of this table is unreadable: keep what was read
    finally:
        if dest.in_transaction:
            dest.execute("COMMIT")
    return copied
