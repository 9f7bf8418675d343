"""SQLite tables of the device model: the persisted value of every variable attribute.

One row per (component, instance, evse, connector, variable, instance, attribute), names case-folded.
`seed_value` remembers the seed (station config value, else catalog default) applied at the last start,
so a seed the operator changed can be told apart from a value the CSMS set (see DeviceModel docstring).
WAL mode; synchronous=FULL because a SetVariablesResponse promises the value survives a power cut.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SCHEMA_VERSION = 1

Ident = tuple[str, str, int, int, str, str]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dm_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dm_attribute (
    component          TEXT    NOT NULL,
    component_instance TEXT    NOT NULL,
    evse_id            INTEGER NOT NULL,
    connector_id       INTEGER NOT NULL,
    variable           TEXT    NOT NULL,
    variable_instance  TEXT    NOT NULL,
    attribute          TEXT    NOT NULL,
    value              TEXT,
    seed_value         TEXT,
    source             TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    PRIMARY KEY (component, component_instance, evse_id, connector_id, variable, variable_instance, attribute)
);
"""


@dataclass(frozen=True)
class StoredAttribute:
    """A persisted attribute value; `source` is "seed", "csms" or "station"."""

    value: str | None
    seed_value: str | None
    source: str


class DeviceModelStore:
    """The device model's SQLite tables (one connection, used from the owning thread)."""

    def __init__(self, db_path: str | Path) -> None:
        self._conn = sqlite3.connect(str(db_path), isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute("INSERT OR IGNORE INTO dm_meta (key, value) VALUES ('schema_version', ?)",
                               (str(SCHEMA_VERSION),))

    def load(self) -> dict[tuple[Ident, str], StoredAttribute]:
        """Every stored attribute keyed by (variable ident, attribute type)."""
        rows = self._conn.execute(
            "SELECT component, component_instance, evse_id, connector_id, variable, variable_instance,"
            " attribute, value, seed_value, source FROM dm_attribute"
        ).fetchall()
        return {(tuple(row[:6]), row[6]): StoredAttribute(row[7], row[8], row[9]) for row in rows}

    def save(self, rows: Iterable[tuple[Ident, str, StoredAttribute]]) -> None:
        """Insert or replace the given attributes in one committed transaction."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        params = [(*ident, attribute, stored.value, stored.seed_value, stored.source, now)
                  for ident, attribute, stored in rows]
        if not params:
            return
        with self._transaction():
            self._conn.executemany(
                "INSERT OR REPLACE INTO dm_attribute (component, component_instance, evse_id, connector_id,"
                " variable, variable_instance, attribute, value, seed_value, source, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )

    def close(self) -> None:
        self._conn.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, ROLLBACK on error (the connection runs in autocommit mode)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type else "COMMIT")
