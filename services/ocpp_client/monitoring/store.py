"""Monitors, the monitoring base and level, reported hardware problems and event ids, in ocpp.db.

Tables (created here, CREATE TABLE IF NOT EXISTS): `monitoring_monitors` (one row per monitor: hard-wired,
preconfigured or custom), `monitoring_kv` (base, level, the last eventId, the offline-drop counter) and
`monitoring_problems` (the problem codes last reported per problem variable, so a problem that cleared while
the service was down is still reported cleared). Every change is one transaction (`atomic`), and the in-memory
copy of the monitors is reloaded after it, committed or not, so memory never runs ahead of the database.

Monitoring base (N03.FR.03-05): All → every preconfigured monitor active, custom ones kept; FactoryDefault →
preconfigured monitors back to their factory settings and active, custom ones removed; HardWiredOnly →
preconfigured monitors inactive, custom ones removed. Hard-wired monitors never change.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.ocpp_client.device_model.keys import VariableRef
from services.ocpp_client.monitoring.variables import DEFAULT_MONITORING_LEVEL
from services.ocpp_client.store import atomic

HARD_WIRED, PRECONFIGURED, CUSTOM = "HardWired", "Preconfigured", "Custom"
NOTIFICATION_TYPES = {HARD_WIRED: "HardWiredMonitor", PRECONFIGURED: "PreconfiguredMonitor",
                      CUSTOM: "CustomMonitor"}

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS monitoring_monitors (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
    " factory_key TEXT UNIQUE, target TEXT NOT NULL, type TEXT NOT NULL, value REAL NOT NULL,"
    " severity INTEGER NOT NULL, in_transaction INTEGER NOT NULL, enabled INTEGER NOT NULL DEFAULT 1,"
    " factory TEXT, state TEXT NOT NULL DEFAULT '{}')",
    "CREATE TABLE IF NOT EXISTS monitoring_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS monitoring_problems (key TEXT PRIMARY KEY, codes TEXT NOT NULL)",
)


@dataclass(frozen=True)
class Target(VariableRef):
    """A component/variable as OCPP addresses it (names as the CSMS wrote them; `key` compares them folded),
    with its text in ocpp.db."""

    @classmethod
    def from_ocpp(cls, component: dict[str, Any], variable: dict[str, Any]) -> Target:
        evse = component.get("evse") or {}
        return cls(component["name"], variable["name"], component.get("instance"), evse.get("id"),
                   evse.get("connectorId"), variable.get("instance"))

    @property
    def key(self) -> tuple[str, str, int, int, str, str]:
        return (self.component.casefold(), (self.component_instance or "").casefold(), self.evse_id or 0,
                self.connector_id or 0, self.variable.casefold(), (self.variable_instance or "").casefold())

    def to_text(self) -> str:
        return json.dumps([self.component, self.variable, self.component_instance, self.evse_id,
                           self.connector_id, self.variable_instance])

    @classmethod
    def from_text(cls, text: str) -> Target:
        return cls(*json.loads(text))


@dataclass(frozen=True)
class Settings:
    """What a monitor checks: MonitorEnumType, value, severity 0-9, only during a transaction."""

    type: str
    value: float
    severity: int
    transaction: bool = False


@dataclass(frozen=True)
class Monitor:
    id: int
    kind: str  # HardWired | Preconfigured | Custom
    target: Target
    settings: Settings
    enabled: bool = True
    factory: Settings | None = None
    state: dict[str, Any] = field(default_factory=dict)  # evaluation state (tripped, reference value)

    @property
    def notification_type(self) -> str:
        return NOTIFICATION_TYPES[self.kind]

    def to_ocpp(self) -> dict[str, Any]:
        """VariableMonitoringType."""
        s = self.settings
        return {"id": self.id, "transaction": s.transaction, "value": s.value, "type": s.type,
                "severity": s.severity}


@dataclass(frozen=True)
class FactoryMonitor:
    """A hard-wired or preconfigured monitor the station brings; `key` identifies it across restarts."""

    key: str
    kind: str
    target: Target
    settings: Settings


class MonitoringStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        for statement in _SCHEMA:
            conn.execute(statement)
        self._monitors: dict[int, Monitor] = {}
        self._reload()

    # ----- monitors -------------------------------------------------------------------------------

    def seed(self, factory: Iterable[FactoryMonitor]) -> None:
        """Add the station's own monitors not yet in the database (ids stay stable across restarts)."""
        try:
            with atomic(self.conn):
                for item in factory:
                    s = item.settings
                    self.conn.execute(
                        "INSERT OR IGNORE INTO monitoring_monitors (kind, factory_key, target, type, value,"
                        " severity, in_transaction, enabled, factory) VALUES (?,?,?,?,?,?,?,?,?)",
                        (item.kind, item.key, item.target.to_text(), s.type, s.value, s.severity,
                         int(s.transaction), int(self.base() != "HardWiredOnly" or item.kind == HARD_WIRED),
                         _settings_text(s)))
        finally:
            self._reload()

    def monitors(self, *, include_inactive: bool = False) -> list[Monitor]:
        """Monitors in id order; inactive (switched off by the base or cleared) ones only when asked."""
        return [m for m in self._monitors.values() if include_inactive or m.enabled]

    def get(self, monitor_id: int) -> Monitor | None:
        return self._monitors.get(monitor_id)

    def custom_count(self) -> int:
        return sum(1 for m in self._monitors.values() if m.kind == CUSTOM)

    def write(self, adds: Sequence[tuple[Target, Settings]], replaces: Sequence[tuple[int, Settings]]) -> list[int]:
        """Add custom monitors and replace the settings of existing ones, all or nothing; the new ids."""
        ids: list[int] = []
        try:
            with atomic(self.conn):
                for monitor_id, s in replaces:
                    self.conn.execute(
                        "UPDATE monitoring_monitors SET type=?, value=?, severity=?, in_transaction=?, enabled=1,"
                        " state='{}' WHERE id=?", (s.type, s.value, s.severity, int(s.transaction), monitor_id))
                for target, s in adds:
                    cursor = self.conn.execute(
                        "INSERT INTO monitoring_monitors (kind, target, type, value, severity, in_transaction)"
                        " VALUES (?,?,?,?,?,?)",
                        (CUSTOM, target.to_text(), s.type, s.value, s.severity, int(s.transaction)))
                    ids.append(int(cursor.lastrowid or 0))
        finally:
            self._reload()
        return ids

    def clear(self, monitor_ids: Sequence[int]) -> None:
        """Remove custom monitors; switch preconfigured ones off (FactoryDefault brings them back)."""
        try:
            with atomic(self.conn):
                for monitor_id in monitor_ids:
                    self.conn.execute("DELETE FROM monitoring_monitors WHERE id=? AND kind=?", (monitor_id, CUSTOM))
                    self.conn.execute("UPDATE monitoring_monitors SET enabled=0 WHERE id=? AND kind=?",
                                      (monitor_id, PRECONFIGURED))
        finally:
            self._reload()

    def set_state(self, monitor_id: int, state: dict[str, Any]) -> None:
        """Keep a monitor's evaluation state (a tripped threshold, a delta's reference value)."""
        try:
            self.conn.execute("UPDATE monitoring_monitors SET state=? WHERE id=?", (json.dumps(state), monitor_id))
        finally:
            self._reload_one(monitor_id)

    # ----- base and level --------------------------------------------------------------------------

    def base(self) -> str:
        return str(self._kv("base", "All"))

    def set_base(self, base: str) -> None:
        """Apply a monitoring base (see the module docstring) and remember it, in one transaction."""
        try:
            with atomic(self.conn):
                if base in ("FactoryDefault", "HardWiredOnly"):
                    self.conn.execute("DELETE FROM monitoring_monitors WHERE kind=?", (CUSTOM,))
                if base == "FactoryDefault":
                    for monitor in self.monitors(include_inactive=True):
                        if monitor.kind == PRECONFIGURED and monitor.factory is not None:
                            f = monitor.factory
                            self.conn.execute(
                                "UPDATE monitoring_monitors SET type=?, value=?, severity=?, in_transaction=?,"
                                " state='{}' WHERE id=?", (f.type, f.value, f.severity, int(f.transaction), monitor.id))
                enabled = int(base != "HardWiredOnly")
                self.conn.execute("UPDATE monitoring_monitors SET enabled=? WHERE kind=?", (enabled, PRECONFIGURED))
                self._set_kv("base", base)
        finally:
            self._reload()

    def level(self) -> int:
        return int(self._kv("level", DEFAULT_MONITORING_LEVEL))

    def set_level(self, severity: int) -> None:
        self._set_kv("level", severity)

    # ----- events ----------------------------------------------------------------------------------

    def next_event_ids(self, count: int) -> list[int]:
        """`count` eventIds never handed out before (N07: unique; kept across restarts)."""
        with atomic(self.conn):
            last = int(self._kv("last_event_id", 0))
            self._set_kv("last_event_id", last + count)
        return list(range(last + 1, last + count + 1))

    def count_dropped_offline(self, count: int) -> int:
        """Add to the events dropped while offline (below OfflineQueuingSeverity); the new total."""
        with atomic(self.conn):
            total = int(self._kv("dropped_offline", 0)) + count
            self._set_kv("dropped_offline", total)
        return total

    def dropped_offline(self) -> int:
        return int(self._kv("dropped_offline", 0))

    def problem_codes(self, key: str) -> frozenset[str]:
        row = self.conn.execute("SELECT codes FROM monitoring_problems WHERE key=?", (key,)).fetchone()
        return frozenset(json.loads(row[0])) if row else frozenset()

    def all_problems(self) -> dict[str, list[str]]:
        rows = self.conn.execute("SELECT key, codes FROM monitoring_problems ORDER BY key").fetchall()
        return {key: sorted(json.loads(codes)) for key, codes in rows if json.loads(codes)}

    def set_problem_codes(self, key: str, codes: Iterable[str]) -> None:
        """Joins the caller's transaction when one is open (the event and the new codes commit together)."""
        self.conn.execute("INSERT INTO monitoring_problems (key, codes) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                          " SET codes=excluded.codes", (key, json.dumps(sorted(codes))))

    # ----- helpers ---------------------------------------------------------------------------------

    def _kv(self, key: str, default: Any) -> Any:
        row = self.conn.execute("SELECT value FROM monitoring_kv WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def _set_kv(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT INTO monitoring_kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                          " SET value=excluded.value", (key, json.dumps(value)))

    def _reload(self) -> None:
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM monitoring_monitors ORDER BY id").fetchall()
        self._monitors = {row[0]: _monitor(row) for row in rows}

    def _reload_one(self, monitor_id: int) -> None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM monitoring_monitors WHERE id=?", (monitor_id,)).fetchone()
        if row is None:
            self._monitors.pop(monitor_id, None)
        else:
            self._monitors[monitor_id] = _monitor(row)


_COLUMNS = "id, kind, target, type, value, severity, in_transaction, enabled, factory, state"


def _settings_text(settings: Settings) -> str:
    return json.dumps([settings.type, settings.value, settings.severity, settings.transaction])


def _monitor(row: tuple[Any, ...]) -> Monitor:
    monitor_id, kind, target, type_, value, severity, in_tx, enabled, factory, state = row
    settings = Settings(type_, float(value), int(severity), bool(in_tx))
    factory_settings = Settings(*json.loads(factory)) if factory else None
    return Monitor(monitor_id, kind, Target.from_text(target), settings, bool(enabled), factory_settings,
                   json.loads(state))
