"""Network connection profiles (B09 SetNetworkProfile, B10 migration with fallback, A05 security-profile upgrade).

Profiles live in the `network_profiles` table of ocpp.db, one row per configuration slot; the highest security
profile the station ever connected with lives in `network_profile_state`, so a downgrade is refused across
restarts too (B09.FR.04, A05.FR.04..06). NetworkConfigurationPriority (a device-model variable) orders the slots;
`check_priority` is its write check (A05.FR.02/03: a slot needing TLS needs a CSMS root, profile 3 a station
certificate). `ConnectionPlan` walks the priority list: NetworkProfileConnectionAttempts failed attempts on a
slot move to the next one, wrapping around, so the station falls back to the previous profile (B10.FR.03/04/07).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from services.ocpp_client.store import atomic

log = logging.getLogger("reon.ocpp.network_profiles")

SLOTS = (1, 2, 3, 4)
INTERFACES = ("Wired0", "Wireless0")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS network_profiles (slot INTEGER PRIMARY KEY, connection_data TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS network_profile_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


class ProfileRefused(Exception):
    """A SetNetworkProfile or NetworkConfigurationPriority the station refuses; args[0] is a reasonCode."""

    def __init__(self, reason_code: str, info: str) -> None:
        super().__init__(reason_code, info)
        self.reason_code = reason_code
        self.info = info


def parse_priority(text: str) -> list[int]:
    """"2,1" → [2, 1]; ValueError for anything else (empty entries, non-integers, repeats)."""
    slots = [int(part.strip()) for part in text.split(",")] if text.strip() else []
    if not slots or len(set(slots)) != len(slots):
        raise ValueError(f"expected distinct slot numbers separated by commas, got {text!r}")
    return slots


class NetworkProfiles:
    """The slots, their checks and the security-profile floor."""

    def __init__(self, conn: sqlite3.Connection, *, active_slot: Callable[[], int | None],
                 has_csms_root: Callable[[], bool], has_station_certificate: Callable[[], bool],
                 slots: Iterable[int] = SLOTS, interfaces: Iterable[str] = INTERFACES) -> None:
        self._conn = conn
        self._active_slot = active_slot
        self._has_csms_root = has_csms_root
        self._has_station_certificate = has_station_certificate
        self.slots = tuple(slots)
        self.interfaces = tuple(interfaces)
        for statement in _SCHEMA:
            conn.execute(statement)

    # ---- reading ----------------------------------------------------------------------------------------
    def profile(self, slot: int) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT connection_data FROM network_profiles WHERE slot=?", (slot,)).fetchone()
        return json.loads(row[0]) if row else None

    def configured_slots(self) -> list[int]:
        return [row[0] for row in self._conn.execute("SELECT slot FROM network_profiles ORDER BY slot")]

    def highest_security_profile(self) -> int:
        row = self._conn.execute("SELECT value FROM network_profile_state WHERE key='highest_security_profile'"
                                 ).fetchone()
        return int(row[0]) if row else 0

    # ---- B09 --------------------------------------------------------------------------------------------
    def seed(self, slot: int, connection_data: dict[str, Any]) -> None:
        """The profile of the station config, stored when that slot is still empty (first start)."""
        self._conn.execute("INSERT OR IGNORE INTO network_profiles (slot, connection_data) VALUES (?, ?)",
                           (slot, json.dumps(connection_data, sort_keys=True)))

    def store(self, slot: int, connection_data: dict[str, Any]) -> None:
        """Store (or replace) the profile of a slot, station-side (the `[csms]` config as slot 1)."""
        with atomic(self._conn):
            self._conn.execute("INSERT INTO network_profiles (slot, connection_data) VALUES (?, ?) ON CONFLICT"
                               " (slot) DO UPDATE SET connection_data=excluded.connection_data",
                               (slot, json.dumps(connection_data, sort_keys=True)))

    async def set_network_profile(self, request: dict[str, Any]) -> dict[str, Any]:
        """B09.FR.01/02/04: Accepted and stored, Rejected when invalid or a downgrade, Failed when not stored."""
        slot = request.get("configurationSlot")
        data = request.get("connectionData") or {}
        try:
            self._check_profile(slot, data)
        except ProfileRefused as exc:
            log.warning("SetNetworkProfile slot %s rejected: %s", slot, exc.info)
            return {"status": "Rejected", "statusInfo": {"reasonCode": exc.reason_code, "additionalInfo": exc.info}}
        try:
            with atomic(self._conn):
                self._conn.execute("INSERT INTO network_profiles (slot, connection_data) VALUES (?, ?) ON CONFLICT"
                                   " (slot) DO UPDATE SET connection_data=excluded.connection_data",
                                   (slot, json.dumps(data, sort_keys=True)))
        except sqlite3.Error as exc:
            log.error("SetNetworkProfile slot %s not stored: %s", slot, exc)
            return {"status": "Failed", "statusInfo": {"reasonCode": "InternalError"}}
        log.info("network profile slot %s: %s, security profile %s", slot, data.get("ocppCsmsUrl"),
                 data.get("securityProfile"))
        return {"status": "Accepted"}

    def _check_profile(self, slot: Any, data: dict[str, Any]) -> None:
        if not isinstance(slot, int) or slot not in self.slots:
            raise ProfileRefused("InvalidConfSlot", f"configurationSlot {slot!r}: the station has {self.slots}")
        if slot == self._active_slot():
            raise ProfileRefused("InvalidConfSlot", f"configurationSlot {slot} is the profile in use")
        if data.get("ocppVersion") != "OCPP20" or data.get("ocppTransport") != "JSON":
            raise ProfileRefused("InvalidValue", "only OCPP20 over JSON is supported")
        if data.get("ocppInterface") not in self.interfaces:
            raise ProfileRefused("InvalidValue", f"ocppInterface {data.get('ocppInterface')!r}: the station has "
                                                  f"{self.interfaces}")
        if "vpn" in data:
            raise ProfileRefused("UnsupportedParam", "VPN is not supported")
        security_profile = data.get("securityProfile")
        if security_profile not in (1, 2, 3):
            raise ProfileRefused("InvalidValue", f"securityProfile {security_profile!r}: 1, 2 or 3")
        floor = self.highest_security_profile()
        if security_profile < floor:
            raise ProfileRefused("InvalidValue", f"securityProfile {security_profile} is lower than {floor}, "
                                                  "the highest the station has used")
        if not isinstance(data.get("messageTimeout"), int) or data["messageTimeout"] <= 0:
            raise ProfileRefused("InvalidValue", "messageTimeout must be > 0")
        url = str(data.get("ocppCsmsUrl", ""))
        wanted = "ws" if security_profile == 1 else "wss"
        parts = urlsplit(url)
        if parts.scheme != wanted or not parts.hostname:
            raise ProfileRefused("InvalidURL", f"ocppCsmsUrl {url!r}: security profile {security_profile} "
                                               f"needs {wanted}://host/...")

    # ---- NetworkConfigurationPriority -------------------------------------------------------------------
    def check_priority(self, text: str) -> str | None:
        """None when `text` may become NetworkConfigurationPriority, else why not (the write is Rejected)."""
        try:
            slots = parse_priority(text)
        except ValueError as exc:
            return str(exc)
        floor = self.highest_security_profile()
        for slot in slots:
            data = self.profile(slot)
            if data is None:
                return f"slot {slot} has no network profile"
            security_profile = int(data["securityProfile"])
            if security_profile < floor:
                return f"slot {slot} uses security profile {security_profile}, lower than {floor}"
            if security_profile >= 2 and not self._has_csms_root():
                return f"slot {slot} needs a CSMSRootCertificate (A05.FR.02)"
            if security_profile == 3 and not self._has_station_certificate():
                return f"slot {slot} needs a ChargingStationCertificate (A05.FR.03)"
        return None

    def usable(self, priority: list[int]) -> list[int]:
        """The slots of `priority` the station may connect with (stored, not below the floor)."""
        floor = self.highest_security_profile()
        return [slot for slot in priority
                if (data := self.profile(slot)) is not None and int(data["securityProfile"]) >= floor]

    def record_connected(self, slot: int, priority: list[int]) -> list[int]:
        """The link is up through `slot`: raise the floor to its security profile (A05.FR.04) and return the
        priority without the slots below it (A05.FR.05/06: TC_A_19 step 13)."""
        data = self.profile(slot)
        if data is None:
            return priority
        security_profile = int(data["securityProfile"])
        if security_profile > self.highest_security_profile():
            with atomic(self._conn):
                self._conn.execute("INSERT INTO network_profile_state (key, value) VALUES"
                                   " ('highest_security_profile', ?) ON CONFLICT (key) DO UPDATE"
                                   " SET value=excluded.value", (security_profile,))
            log.info("security profile %d in use: lower profiles are refused from now on", security_profile)
        return self.usable(priority)


class ConnectionPlan:
    """Which slot to try next (B10.FR.03/04/07): each slot gets NetworkProfileConnectionAttempts attempts in
    priority order, then the next one, wrapping around to the first."""

    def __init__(self, priority: list[int], attempts_per_slot: Callable[[], int]) -> None:
        if not priority:
            raise ValueError("no network profile to connect with")
        self._priority = list(priority)
        self._attempts_per_slot = attempts_per_slot
        self._index = 0
        self._failures = 0

    @property
    def slot(self) -> int:
        return self._priority[self._index]

    @property
    def is_fallback(self) -> bool:
        return self._index != 0

    def failed(self) -> int:
        """Count a failed attempt on the current slot; the slot to try next."""
        self._failures += 1
        if self._failures >= max(int(self._attempts_per_slot()), 1):
            self._failures = 0
            self._index = (self._index + 1) % len(self._priority)
            log.warning("network profile: falling back to slot %d", self.slot)
        return self.slot

    def connected(self) -> int:
        """The attempt on the current slot succeeded; returns that slot."""
        self._failures = 0
        return self.slot
