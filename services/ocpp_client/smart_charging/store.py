"""Installed charging profiles in ocpp.db: they survive restarts and power loss (K01.FR.27, TC_K_13_CS).

One row per profile id (a SetChargingProfile with a known id replaces it: K01.FR.05); every change is one
SQLite transaction. A row that no longer parses (hostile or old data) is skipped and logged once, never
deleted silently with its neighbours.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.ocpp_client.smart_charging.profiles import (
    PURPOSE_TX,
    Profile,
    ProfileError,
    format_datetime,
    parse_datetime,
    parse_profile,
)
from services.ocpp_client.store import atomic

log = logging.getLogger("reon.ocpp.smart_charging")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS charging_profiles (profile_id INTEGER PRIMARY KEY, evse_id INTEGER NOT NULL,"
    " purpose TEXT NOT NULL, stack_level INTEGER NOT NULL, transaction_id TEXT, valid_to TEXT,"
    " received_at TEXT NOT NULL, source TEXT NOT NULL, payload TEXT NOT NULL)"
)


@dataclass(frozen=True)
class Criteria:
    """A selection of profiles (ClearChargingProfile / GetChargingProfiles); None matches anything."""

    profile_ids: frozenset[int] | None = None
    evse_id: int | None = None
    purpose: str | None = None
    stack_level: int | None = None
    sources: frozenset[str] | None = None

    def matches(self, profile: Profile) -> bool:
        return ((self.profile_ids is None or profile.profile_id in self.profile_ids)
                and (self.evse_id is None or profile.evse_id == self.evse_id)
                and (self.purpose is None or profile.purpose == self.purpose)
                and (self.stack_level is None or profile.stack_level == self.stack_level)
                and (self.sources is None or profile.source in self.sources))


class ProfileStore:
    """The charging_profiles table, with an in-memory copy for the composite (read on every boundary)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.execute(_SCHEMA)
        self._profiles: dict[int, Profile] = {}
        self._load()

    def _load(self) -> None:
        rows = self.db.execute("SELECT profile_id, evse_id, received_at, source, payload FROM charging_profiles")
        for profile_id, evse_id, received_at, source, payload in rows:
            try:
                profile = parse_profile(evse_id, json.loads(payload), parse_datetime(received_at, "received_at"),
                                        source=source)
            except (ProfileError, ValueError, TypeError) as exc:
                log.error("charging profile %s in ocpp.db is unreadable, ignored: %s", profile_id, exc)
                continue
            self._profiles[profile.profile_id] = profile

    # ---- reads ----

    def all(self) -> list[Profile]:
        return sorted(self._profiles.values(), key=lambda p: (p.evse_id, p.purpose, p.stack_level, p.profile_id))

    def get(self, profile_id: int) -> Profile | None:
        return self._profiles.get(profile_id)

    def select(self, criteria: Criteria) -> list[Profile]:
        return [p for p in self.all() if criteria.matches(p)]

    def __len__(self) -> int:
        return len(self._profiles)

    # ---- writes (each one transaction) ----

    def put(self, profile: Profile) -> None:
        """Install or replace (same id) a profile."""
        with atomic(self.db):
            self.db.execute(
                "INSERT OR REPLACE INTO charging_profiles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (profile.profile_id, profile.evse_id, profile.purpose, profile.stack_level, profile.transaction_id,
                 None if profile.valid_to is None else format_datetime(profile.valid_to),
                 profile.received_at.isoformat(), profile.source, profile.raw_json))
        self._profiles[profile.profile_id] = profile

    def remove(self, profile_ids: Iterable[int]) -> list[int]:
        """Delete these ids; the ids that were installed."""
        ids = [i for i in dict.fromkeys(profile_ids) if i in self._profiles]
        if ids:
            with atomic(self.db):
                self.db.executemany("DELETE FROM charging_profiles WHERE profile_id = ?", [(i,) for i in ids])
            for profile_id in ids:
                del self._profiles[profile_id]
        return ids

    def remove_matching(self, criteria: Criteria) -> list[int]:
        return self.remove(p.profile_id for p in self.select(criteria))

    def remove_expired(self, now: datetime) -> list[int]:
        """Drop every profile whose validTo has passed."""
        return self.remove(p.profile_id for p in self._profiles.values() if p.expired(now))

    def remove_transaction(self, transaction_id: str) -> list[int]:
        """Drop the TxProfiles of a transaction that ended (K01: a TxProfile lives as long as its transaction)."""
        return self.remove(p.profile_id for p in self._profiles.values()
                           if p.purpose == PURPOSE_TX and p.transaction_id == transaction_id)
