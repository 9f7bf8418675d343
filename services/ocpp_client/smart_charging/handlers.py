"""The CSMS's smart-charging CALLs (K01 SetChargingProfile, K08 GetCompositeSchedule, K09 GetChargingProfiles,
K10 ClearChargingProfile) and the K05/F01 rule for a RequestStartTransaction that carries a chargingProfile.

Depends only on what it is given: the profile store, the station view, the settings getter, a clock, `send`
for ReportChargingProfiles and `on_change` (the limiter re-computes). While SmartChargingCtrlr is not
Available/Enabled every K CALL is answered CALLERROR NotSupported (K01.FR.29, TC_K_15_CS).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from services.ocpp_client.link.rpc import Reply
from services.ocpp_client.link.rpc_errors import CallError
from services.ocpp_client.smart_charging.composite import composite
from services.ocpp_client.smart_charging.profiles import Profile, ProfileError, parse_profile, with_transaction
from services.ocpp_client.smart_charging.station import StationView
from services.ocpp_client.smart_charging.store import Criteria, ProfileStore
from services.ocpp_client.smart_charging.validation import Limits, check_profile, check_remote_start_profile
from services.ocpp_client.smart_charging.variables import Settings

log = logging.getLogger("reon.ocpp.smart_charging")

Send = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]
REPORT_PAGE_PROFILES = 4  # profiles per ReportChargingProfilesRequest (K09: tbc until the last page)


def _rejected(reason_code: str, info: str = "") -> dict[str, Any]:
    status_info: dict[str, Any] = {"reasonCode": reason_code}
    if info:
        status_info["additionalInfo"] = info[:512]
    return {"status": "Rejected", "statusInfo": status_info}


class SmartChargingHandlers:
    """K01/K05/K08/K09/K10 for the CSMS; `changed()` tells the limiter after every change of the profiles."""

    def __init__(self, store: ProfileStore, station: StationView, settings: Callable[[], Settings],
                 now: Callable[[], datetime], send: Send, on_change: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.station = station
        self.settings = settings
        self.now = now
        self.send = send
        self.on_change = on_change
        self._remote_start: dict[int, Profile] = {}  # evse id → TxProfile waiting for its transaction id

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any] | Reply]]]:
        return {
            "SetChargingProfile": self.set_charging_profile,
            "ClearChargingProfile": self.clear_charging_profile,
            "GetChargingProfiles": self.get_charging_profiles,
            "GetCompositeSchedule": self.get_composite_schedule,
        }

    def _require_enabled(self) -> Settings:
        settings = self.settings()
        if not settings.enabled:
            raise CallError("NotSupported", "smart charging is not enabled (SmartChargingCtrlr)")
        return settings

    def limits(self, settings: Settings) -> Limits:
        return Limits(self.station.evse_ids, settings.rate_units, settings.periods_per_schedule,
                      settings.max_stack_level, settings.max_entries, settings.phase_switching,
                      self.station.active_transactions())

    def remove_expired(self) -> None:
        """Drop every profile whose validTo has passed."""
        if self.store.remove_expired(self.now()):
            self.on_change()

    # ---- K01 ----

    async def set_charging_profile(self, request: dict[str, Any]) -> dict[str, Any]:
        settings = self._require_enabled()
        self.remove_expired()
        try:
            profile = parse_profile(request.get("evseId"), request.get("chargingProfile"), self.now())
            check_profile(profile, self.store.all(), self.limits(settings))
        except ProfileError as exc:
            log.info("SetChargingProfile rejected: %s", exc)
            return _rejected(exc.reason_code, exc.info)
        self.store.put(profile)
        log.info("charging profile %d installed: %s stackLevel %d on EVSE %d", profile.profile_id,
                 profile.purpose, profile.stack_level, profile.evse_id)
        self.on_change()
        return {"status": "Accepted"}

    # ---- K10 ----

    async def clear_charging_profile(self, request: dict[str, Any]) -> dict[str, Any]:
        """By id (K10.FR.03) or by criteria (K10.FR.04); nothing matched: Unknown (K10.FR.01/08)."""
        self._require_enabled()
        profile_id = request.get("chargingProfileId")
        if profile_id is not None:
            removed = self.store.remove([profile_id])
        else:
            given = request.get("chargingProfileCriteria") or {}
            removed = self.store.remove_matching(Criteria(
                evse_id=given.get("evseId"), purpose=given.get("chargingProfilePurpose"),
                stack_level=given.get("stackLevel")))
        if not removed:
            return {"status": "Unknown"}
        log.info("charging profiles cleared: %s", removed)
        self.on_change()
        return {"status": "Accepted"}

    # ---- K09 ----

    async def get_charging_profiles(self, request: dict[str, Any]) -> dict[str, Any] | Reply:
        """Accepted + ReportChargingProfiles pages per EVSE (K09.FR.02), or NoProfiles (K09.FR.03)."""
        self._require_enabled()
        self.remove_expired()
        wanted = request.get("chargingProfile") or {}
        ids, sources = wanted.get("chargingProfileId"), wanted.get("chargingLimitSource")
        criteria = Criteria(
            profile_ids=None if ids is None else frozenset(ids), evse_id=request.get("evseId"),
            purpose=wanted.get("chargingProfilePurpose"), stack_level=wanted.get("stackLevel"),
            sources=None if sources is None else frozenset(sources))
        found = self.store.select(criteria)
        if not found:
            return {"status": "NoProfiles"}
        pages = _report_pages(request["requestId"], found)

        async def send_pages() -> None:
            for page in pages:
                if await self.send("ReportChargingProfiles", page) is None:
                    log.warning("ReportChargingProfiles %d: not delivered; the rest is not sent", page["requestId"])
                    return

        return Reply({"status": "Accepted"}, after_sent=send_pages)

    # ---- K08 ----

    async def get_composite_schedule(self, request: dict[str, Any]) -> dict[str, Any]:
        """Accepted + the composite (K08.FR.02); Rejected: unknown EVSE (K08.FR.05), rate unit (K08.FR.07)."""
        settings = self._require_enabled()
        self.remove_expired()
        evse_id = request.get("evseId")
        if evse_id != 0 and evse_id not in self.station.evse_ids:
            return _rejected("UnknownEvse", f"EVSE {evse_id} does not exist")
        unit = request.get("chargingRateUnit") or settings.rate_units[0]
        if unit not in settings.rate_units:
            return _rejected("UnsupportedRateUnit", f"chargingRateUnit {unit} not supported")
        duration_s = int(request.get("duration", 0))
        if duration_s < 0:
            return _rejected("InvalidValue", "negative duration")
        result = composite(self.store.all(), self.station.evse(evse_id), self.now(), duration_s, unit)
        return {"status": "Accepted", "schedule": result.payload()}

    # ---- K05 / F01 (called by the transactions block) ----

    def remote_start_profile(self, evse_id: int, payload: dict[str, Any]) -> dict[str, Any] | None:
        """A RequestStartTransaction's chargingProfile: None = go ahead (kept until the transaction id is known,
        or ignored when smart charging is off: F01.FR.12); else the statusInfo to answer Rejected with."""
        settings = self.settings()
        if not settings.enabled:
            log.info("RequestStartTransaction chargingProfile ignored: smart charging is not enabled")
            return None
        try:
            profile = parse_profile(evse_id, payload, self.now())
            check_remote_start_profile(profile, self.store.all(), self.limits(settings))
        except ProfileError as exc:
            log.info("RequestStartTransaction chargingProfile rejected: %s", exc)
            return _rejected(exc.reason_code, exc.info)["statusInfo"]
        self._remote_start[evse_id] = profile
        return None

    def transaction_started(self, evse_id: int, transaction_id: str, started_at: datetime) -> None:
        """A transaction runs on the EVSE: a waiting RequestStartTransaction profile becomes its TxProfile (K05)."""
        self.station.transaction_started(evse_id, transaction_id, started_at)
        pending = self._remote_start.pop(evse_id, None)
        if pending is not None:
            self.store.put(with_transaction(pending, transaction_id))
            log.info("charging profile %d installed for transaction %s", pending.profile_id, transaction_id)
        self.on_change()

    def has_remote_start(self, evse_id: int) -> bool:
        """A RequestStartTransaction profile waits for the EVSE's transaction."""
        return evse_id in self._remote_start

    def remote_start_abandoned(self, evse_id: int) -> None:
        """The remote start did not become a transaction (timeout, refused): forget its profile."""
        if self._remote_start.pop(evse_id, None) is not None:
            log.info("EVSE %d: the remote start ended without a transaction; its chargingProfile is dropped", evse_id)

    def transaction_ended(self, evse_id: int, transaction_id: str) -> None:
        """The transaction's TxProfiles go with it."""
        self.station.transaction_ended(evse_id)
        removed = self.store.remove_transaction(transaction_id)
        if removed:
            log.info("TxProfiles %s of transaction %s removed", removed, transaction_id)
        self.on_change()


def _report_pages(request_id: int, profiles: list[Profile]) -> list[dict[str, Any]]:
    """ReportChargingProfilesRequests: one evseId and chargingLimitSource each, tbc on all but the last."""
    groups: dict[tuple[int, str], list[Profile]] = {}
    for profile in profiles:
        groups.setdefault((profile.evse_id, profile.source), []).append(profile)
    pages: list[dict[str, Any]] = []
    for (evse_id, source), members in groups.items():
        for first in range(0, len(members), REPORT_PAGE_PROFILES):
            chunk = members[first:first + REPORT_PAGE_PROFILES]
            pages.append({"requestId": request_id, "chargingLimitSource": source, "evseId": evse_id,
                          "chargingProfile": [p.payload() for p in chunk], "tbc": True})
    pages[-1]["tbc"] = False
    return pages

