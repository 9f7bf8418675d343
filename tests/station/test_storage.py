"""Opening a service database: private modes, a corrupt file set aside and recovered, clear errors (issue 11.5/6)."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from station import health
from station.storage import StorageError, open_database, private_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    db = tmp_path / "data" / "ocpp.db"
    open_database(db).close()
    assert mode(db.parent) == 0o700 and mode(db) == 0o600


def test_an_existing_open_directory_and_file_are_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    db = data / "evse_io.db"
    sqlite3.connect(db).close()
    os.chmod(db, 0o644)
    open_database(db).close()
    assert mode(data) == 0o700 and mode(db) == 0o600
    assert mode(private_dir(tmp_path / "run")) == 0o700


def _corrupt_copy_of_a_database_with_rows(db: Path, rows: int = 200) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY, payload TEXT)")
    conn.executemany("INSERT INTO queue (payload) VALUES (?)", [(f"TransactionEvent {i}" * 20,) for i in range(rows)])
    conn.commit()
    conn.close()
    data = bytearray(db.read_bytes())
    page = 4096
    data[page * 3: page * 3 + 64] = b"\xff" * 64  # damage one b-tree page in the middle of the table
    db.write_bytes(bytes(data))


def test_a_corrupt_database_is_set_aside_never_deleted_and_what_is_readable_is_kept(tmp_path: Path) -> None:
    db = tmp_path / "ocpp.db"
    _corrupt_copy_of_a_database_with_rows(db)
    original = db.read_bytes()
    conn = open_database(db)
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("ocpp.db.corrupt-")
             and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and aside[0].read_bytes() == original  # the damaged file, byte for byte
    recovered = conn.execute("SELECT COUNT(*) FROM queue").fetchone()[0]
    assert 0 < recovered < 200
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert any("ocpp.db" in p and "corrupt" in p and aside[0].name in p for p in health.problems())
    health.clear("storage:ocpp.db")


def test_a_file_that_is_not_a_database_is_set_aside_too(tmp_path: Path) -> None:
    db = tmp_path / "modem.db"
    db.write_bytes(b"this is not sqlite" * 100)
    open_database(db).execute("CREATE TABLE t (x)")
    assert [p.name.split("-")[0] for p in tmp_path.glob("modem.db.corrupt-*")] == ["modem.db.corrupt"]
    health.clear("storage:modem.db")


def test_a_database_that_cannot_be_opened_names_the_file(tmp_path: Path) -> None:
    db = tmp_path / "ocpp.db"
    db.mkdir()  # (root ignores read-only modes, so a directory in its place stands for an unopenable file)
    with pytest.raises(StorageError) as failed:
        open_database(db)
    assert str(db) in str(failed.value) and "cannot open database" in str(failed.value)
    assert db.is_dir()  # nothing was removed
