"""SQLite tables of authorization: the Local Authorization List (with its version) and the Authorization Cache.

Both survive restarts (D01.FR.10 / TC_D_07, C10.FR.02 / TC_C_32). Tokens are keyed by (type, idToken):
two idTokens are equal when both fields are equal; additionalInfo does not count (C01.FR.25, errata
2025-01). The cache keeps, per entry, when it was stored and last used and how often it was used, so any
replacement policy (LRU, LFU, FIFO) can pick the entry to drop, and its size in bytes (AuthCacheCtrlr.Storage).
No commit happens here: callers wrap writes in `store.atomic` (services/ocpp_client/store.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_local_list (
    token_type    TEXT NOT NULL,
    token         TEXT NOT NULL,
    id_token      TEXT NOT NULL,
    id_token_info TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    PRIMARY KEY (token_type, token)
);
CREATE TABLE IF NOT EXISTS auth_cache (
    token_type    TEXT NOT NULL,
    token         TEXT NOT NULL,
    id_token      TEXT NOT NULL,
    id_token_info TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    inserted_seq  INTEGER NOT NULL,
    cached_at     REAL NOT NULL,
    last_used_at  REAL NOT NULL,
    use_count     INTEGER NOT NULL,
    PRIMARY KEY (token_type, token)
);
"""

ENTRY_OVERHEAD_BYTES = 16  # key columns and timestamps, roughly; Storage is an estimate of bytes in use

#: ORDER BY clause per cache replacement policy: the first row is the one to drop.
_EVICTION_ORDER = {
    "LRU": "last_used_at, inserted_seq",
    "LFU": "use_count, last_used_at, inserted_seq",
    "FIFO": "inserted_seq",
}


def token_key(id_token: Mapping[str, Any]) -> tuple[str, str]:
    """(type, idToken): what makes two IdTokens equal (C01.FR.25)."""
    return str(id_token.get("type", "")), str(id_token.get("idToken", ""))


def same_token(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two IdTokens are equal (idToken and type; additionalInfo ignored)."""
    return a is not None and b is not None and token_key(a) == token_key(b)


@dataclass(frozen=True)
class CacheEntry:
    """An Authorization Cache row."""

    id_token: dict[str, Any]
    id_token_info: dict[str, Any]
    cached_at: float
    last_used_at: float
    use_count: int


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _size(id_token: Mapping[str, Any], info: Mapping[str, Any]) -> int:
    return len(_dump(id_token)) + len(_dump(info)) + ENTRY_OVERHEAD_BYTES


class AuthStore:
    """The authorization tables on the ocpp_client database connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)

    # ----- local list ------------------------------------------------------------------------------------

    def local_list_version(self) -> int:
        row = self.conn.execute("SELECT value FROM auth_meta WHERE key='local_list_version'").fetchone()
        return int(row[0]) if row else 0

    def set_local_list_version(self, version: int) -> None:
        self.conn.execute("INSERT INTO auth_meta VALUES ('local_list_version', ?) ON CONFLICT (key)"
                          " DO UPDATE SET value=excluded.value", (str(version),))

    def local_entry(self, id_token: Mapping[str, Any]) -> dict[str, Any] | None:
        """The idTokenInfo the local list holds for this token, or None."""
        row = self.conn.execute("SELECT id_token_info FROM auth_local_list WHERE token_type=? AND token=?",
                                token_key(id_token)).fetchone()
        return json.loads(row[0]) if row else None

    def put_local(self, id_token: Mapping[str, Any], info: Mapping[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO auth_local_list VALUES (?,?,?,?,?) ON CONFLICT (token_type, token) DO UPDATE SET"
            " id_token=excluded.id_token, id_token_info=excluded.id_token_info, size_bytes=excluded.size_bytes",
            (*token_key(id_token), _dump(id_token), _dump(info), _size(id_token, info)))

    def delete_local(self, id_token: Mapping[str, Any]) -> None:
        self.conn.execute("DELETE FROM auth_local_list WHERE token_type=? AND token=?", token_key(id_token))

    def clear_local(self) -> None:
        self.conn.execute("DELETE FROM auth_local_list")

    def local_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM auth_local_list").fetchone()[0])

    def local_bytes(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(SUM(size_bytes), 0) FROM auth_local_list").fetchone()[0])

    # ----- cache -----------------------------------------------------------------------------------------

    def cache_entry(self, id_token: Mapping[str, Any]) -> CacheEntry | None:
        row = self.conn.execute(
            "SELECT id_token, id_token_info, cached_at, last_used_at, use_count FROM auth_cache"
            " WHERE token_type=? AND token=?", token_key(id_token)).fetchone()
        if row is None:
            return None
        return CacheEntry(json.loads(row[0]), json.loads(row[1]), row[2], row[3], row[4])

    def put_cache(self, id_token: Mapping[str, Any], info: Mapping[str, Any], now: float) -> None:
        """Store or refresh an entry; a refresh keeps its place in FIFO order and its use count."""
        seq = int(self.conn.execute("SELECT COALESCE(MAX(inserted_seq), 0) + 1 FROM auth_cache").fetchone()[0])
        self.conn.execute(
            "INSERT INTO auth_cache VALUES (?,?,?,?,?,?,?,?,0) ON CONFLICT (token_type, token) DO UPDATE SET"
            " id_token=excluded.id_token, id_token_info=excluded.id_token_info, size_bytes=excluded.size_bytes,"
            " cached_at=excluded.cached_at, last_used_at=excluded.last_used_at",
            (*token_key(id_token), _dump(id_token), _dump(info), _size(id_token, info), seq, now, now))

    def touch_cache(self, id_token: Mapping[str, Any], now: float) -> None:
        """Record one use of a cached token (for LRU / LFU and the LifeTime count)."""
        self.conn.execute("UPDATE auth_cache SET last_used_at=?, use_count=use_count+1"
                          " WHERE token_type=? AND token=?", (now, *token_key(id_token)))

    def delete_cache(self, id_token: Mapping[str, Any]) -> None:
        self.conn.execute("DELETE FROM auth_cache WHERE token_type=? AND token=?", token_key(id_token))

    def clear_cache(self) -> int:
        return self.conn.execute("DELETE FROM auth_cache").rowcount

    def cache_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM auth_cache").fetchone()[0])

    def cache_bytes(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(SUM(size_bytes), 0) FROM auth_cache").fetchone()[0])

    def delete_unused_since(self, before: float) -> int:
        """Drop entries not used since `before` (AuthCacheCtrlr.LifeTime, C10.FR.08)."""
        return self.conn.execute("DELETE FROM auth_cache WHERE last_used_at < ?", (before,)).rowcount

    def evict(self, policy: str, max_bytes: int, keep: Iterable[tuple[str, str]] = ()) -> int:
        """Drop entries until the cache fits `max_bytes`: first those not Accepted, then by `policy`."""
        order = _EVICTION_ORDER.get(policy.upper(), _EVICTION_ORDER["LRU"])
        kept = set(keep)
        dropped = 0
        while self.cache_bytes() > max_bytes:
            rows = self.conn.execute(
                "SELECT token_type, token, json_extract(id_token_info, '$.status') = 'Accepted' AS ok"
                f" FROM auth_cache ORDER BY ok, {order}").fetchall()
            victim = next(((row[0], row[1]) for row in rows if (row[0], row[1]) not in kept), None)
            if victim is None:
                break
            self.conn.execute("DELETE FROM auth_cache WHERE token_type=? AND token=?", victim)
            dropped += 1
        return dropped
