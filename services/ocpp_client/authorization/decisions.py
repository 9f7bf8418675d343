"""Authorization decisions (use cases C01, C09-C16) and Local Authorization List management (D01, D02).

Plain code, no bus or network: the glue asks `decide_local(token, online=…)` and, when the answer is
ASK_CSMS, sends AuthorizeRequest and hands the response to `on_csms_result`, which keeps the cache.

Decision order for a presented idToken (first match wins):
1. AuthCtrlr.Enabled false, or type NoAuthorization: accept.
2. Local Authorization List (LocalAuthListCtrlr.Enabled), which overrides the cache (C13.FR.01, C14.FR.01,
   TC_C_25): Accepted → accept when online with LocalPreAuthorize (C14.FR.02) or offline with
   LocalAuthorizeOffline (C13.FR.02), else ask the CSMS while online; other status → ask the CSMS while
   online (C14.FR.03) unless LocalAuthListCtrlr.DisablePostAuthorize (TC_C_58), else reject.
3. Authorization Cache (AuthCacheCtrlr.Enabled): the same with LocalPreAuthorize / LocalAuthorizeOffline
   (C12.FR.02/04) and AuthCacheCtrlr.DisablePostAuthorize (C12.FR.05, TC_C_57). An entry unused for
   LifeTime seconds is gone (C10.FR.08); one past its cacheExpiryDateTime counts as Expired. The cache
   never holds status Unknown or ConcurrentTx (`on_csms_result`).
4. Unknown (in neither): ask the CSMS while online unless DisableRemoteAuthorization (TC_E_52: reject); offline, accept
   only with OfflineTxForUnknownIdEnabled (C15.FR.02, TC_C_26), without idTokenInfo (the CSMS's verdict
   arrives later in a TransactionEventResponse).
DisableRemoteAuthorization also turns every other "ask the CSMS" into a local verdict (accept if Accepted).

An idTokenInfo counts as Accepted for an EVSE when its status is Accepted and its evseId list, if any,
names the EVSE. A token whose groupIdToken is AuthCtrlr.MasterPassGroupId is a Master Pass: it can stop
transactions but never start one (C16, TC_C_45).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.ocpp_client.authorization.store import AuthStore, token_key
from services.ocpp_client.meter_values.sampling import parse_utc, read_setting
from services.ocpp_client.store import atomic

ACCEPTED = "Accepted"
UNKNOWN = "Unknown"
#: Statuses that say nothing lasting about the card, so the cache never stores them (see __init__.py).
NOT_CACHED_STATUSES = frozenset({UNKNOWN, "ConcurrentTx"})
NO_AUTHORIZATION = "NoAuthorization"
CACHE_POLICIES = ("LRU", "LFU", "FIFO")


class Action(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    ASK_CSMS = "ask_csms"


@dataclass(frozen=True)
class Decision:
    """What to do with a presented token; `id_token_info` is what is known locally (None: unknown token)."""

    action: Action
    id_token_info: dict[str, Any] | None
    source: str  # "disabled", "no_authorization", "local_list", "cache", "unknown"

    @property
    def accepted(self) -> bool:
        return self.action is Action.ACCEPT


@dataclass(frozen=True)
class AuthSettings:
    """AuthCtrlr, AuthCacheCtrlr and LocalAuthListCtrlr variables (factory values as in the catalog)."""

    enabled: bool = True
    local_pre_authorize: bool = False
    local_authorize_offline: bool = True
    offline_tx_for_unknown_id: bool = False
    disable_remote_authorization: bool = False
    authorize_remote_start: bool = False
    master_pass_group_id: str = ""
    cache_enabled: bool = True
    cache_lifetime_s: int = 86400  # <= 0: entries never age out
    cache_policy: str = "LRU"
    cache_disable_post_authorize: bool = False
    cache_max_bytes: int = 1048576
    local_list_enabled: bool = True
    local_list_disable_post_authorize: bool = False
    local_list_max_entries: int = 10000
    local_list_items_per_message: int = 100

    @classmethod
    def from_device_model(cls, dm: Any) -> AuthSettings:
        """Read the settings from a DeviceModel; a variable it does not declare keeps the default above."""
        d = cls()
        a, c, ll = "AuthCtrlr", "AuthCacheCtrlr", "LocalAuthListCtrlr"
        flag = dm.get_bool
        return cls(
            enabled=read_setting(flag, a, "Enabled", d.enabled),
            local_pre_authorize=read_setting(flag, a, "LocalPreAuthorize", d.local_pre_authorize),
            local_authorize_offline=read_setting(flag, a, "LocalAuthorizeOffline", d.local_authorize_offline),
            offline_tx_for_unknown_id=read_setting(flag, a, "OfflineTxForUnknownIdEnabled",
                                                   d.offline_tx_for_unknown_id),
            disable_remote_authorization=read_setting(flag, a, "DisableRemoteAuthorization",
                                                      d.disable_remote_authorization),
            authorize_remote_start=read_setting(flag, a, "AuthorizeRemoteStart", d.authorize_remote_start),
            master_pass_group_id=read_setting(dm.get_str, a, "MasterPassGroupId", d.master_pass_group_id),
            cache_enabled=read_setting(flag, c, "Enabled", d.cache_enabled),
            cache_lifetime_s=read_setting(dm.get_int, c, "LifeTime", d.cache_lifetime_s),
            cache_policy=read_setting(dm.get_str, c, "Policy", d.cache_policy),
            cache_disable_post_authorize=read_setting(flag, c, "DisablePostAuthorize",
                                                      d.cache_disable_post_authorize),
            local_list_enabled=read_setting(flag, ll, "Enabled", d.local_list_enabled),
            local_list_disable_post_authorize=read_setting(flag, ll, "DisablePostAuthorize",
                                                           d.local_list_disable_post_authorize),
            local_list_items_per_message=read_setting(dm.get_int, ll, "ItemsPerMessage",
                                                      d.local_list_items_per_message),
        )


def accepted_for_evse(info: Mapping[str, Any] | None, evse_id: int | None = None) -> bool:
    """Status Accepted, and the EVSE is allowed when the idTokenInfo restricts EVSEs."""
    if not info or info.get("status") != ACCEPTED:
        return False
    allowed = info.get("evseId")
    return evse_id is None or not allowed or evse_id in allowed


def group_of(info: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The groupIdToken of an idTokenInfo, or None."""
    group = info.get("groupIdToken") if info else None
    return dict(group) if isinstance(group, Mapping) else None


def is_master_pass(info: Mapping[str, Any] | None, master_pass_group_id: str) -> bool:
    """Whether the token belongs to the Master Pass group (AuthCtrlr.MasterPassGroupId, C16)."""
    group = group_of(info)
    return bool(master_pass_group_id) and group is not None and group.get("idToken") == master_pass_group_id


def _reply(status: str, reason_code: str | None = None, detail: str | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"status": status}
    if reason_code:
        reply["statusInfo"] = {"reasonCode": reason_code, **({"additionalInfo": detail[:512]} if detail else {})}
    return reply


class Authorizer:
    """Local authorization state (list + cache) on the ocpp_client database, and the decision rules."""

    def __init__(self, conn: sqlite3.Connection, settings: Callable[[], AuthSettings] | None = None) -> None:
        self.conn = conn
        self.settings = settings or AuthSettings
        with atomic(conn):
            self.store = AuthStore(conn)

    # ----- decisions -------------------------------------------------------------------------------------

    def decide_local(self, id_token: Mapping[str, Any], *, online: bool, now: float,
                     evse_id: int | None = None) -> Decision:
        """What to do with a presented token (see the module docstring for the order)."""
        s = self.settings()
        if not s.enabled:
            return Decision(Action.ACCEPT, {"status": ACCEPTED}, "disabled")
        if id_token.get("type") == NO_AUTHORIZATION:
            return Decision(Action.ACCEPT, {"status": ACCEPTED}, "no_authorization")
        with atomic(self.conn):
            if s.local_list_enabled:
                info = self.store.local_entry(id_token)
                if info is not None:
                    info = _with_expiry(info, now)
                    return self._known(info, "local_list", s.local_list_disable_post_authorize, online, s,
                                       evse_id)
            if s.cache_enabled:
                entry = self._fresh_cache_entry(id_token, now, s)
                if entry is not None:
                    self.store.touch_cache(id_token, now)
                    info = _with_expiry(entry, now)
                    return self._known(info, "cache", s.cache_disable_post_authorize, online, s, evse_id)
        if online and not s.disable_remote_authorization:
            return Decision(Action.ASK_CSMS, None, "unknown")
        if not online and s.offline_tx_for_unknown_id:
            return Decision(Action.ACCEPT, None, "unknown")
        return Decision(Action.REJECT, None, "unknown")

    def _known(self, info: dict[str, Any], source: str, disable_post_authorize: bool, online: bool,
               s: AuthSettings, evse_id: int | None) -> Decision:
        accepted = accepted_for_evse(info, evse_id)
        if not online:
            ok = accepted and s.local_authorize_offline
            return Decision(Action.ACCEPT if ok else Action.REJECT, info, source)
        if s.disable_remote_authorization:
            return Decision(Action.ACCEPT if accepted else Action.REJECT, info, source)
        if accepted:
            return Decision(Action.ACCEPT if s.local_pre_authorize else Action.ASK_CSMS, info, source)
        return Decision(Action.REJECT if disable_post_authorize else Action.ASK_CSMS, info, source)

    def _fresh_cache_entry(self, id_token: Mapping[str, Any], now: float, s: AuthSettings
                           ) -> dict[str, Any] | None:
        entry = self.store.cache_entry(id_token)
        if entry is None:
            return None
        if s.cache_lifetime_s > 0 and now - entry.last_used_at > s.cache_lifetime_s:
            self.store.delete_cache(id_token)  # not used within LifeTime (C10.FR.08)
            return None
        return entry.id_token_info

    def on_csms_result(self, id_token: Mapping[str, Any], id_token_info: Mapping[str, Any] | None,
                       now: float) -> None:
        """An idTokenInfo from AuthorizeResponse or TransactionEventResponse: update the cache (C10.FR.04/05).

        What the cache keeps is in the package docstring (authorization/__init__.py): a verdict on the card
        (Accepted or a refusal) replaces the entry; Unknown removes it, so the card is unknown again and
        C15 applies offline; ConcurrentTx leaves it as it was. Tokens of the local list and NoAuthorization
        tokens are never cached.
        """
        s = self.settings()
        status = id_token_info.get("status") if id_token_info else None
        if not (s.enabled and s.cache_enabled and status) or id_token.get("type") == NO_AUTHORIZATION:
            return
        with atomic(self.conn):
            if status in NOT_CACHED_STATUSES:
                if status == UNKNOWN:
                    self.store.delete_cache(id_token)
                return
            if s.local_list_enabled and self.store.local_entry(id_token) is not None:
                return
            self.store.put_cache(id_token, dict(id_token_info), now)
            self.store.evict(s.cache_policy, s.cache_max_bytes, keep=[token_key(id_token)])

    def purge_cache(self, now: float) -> int:
        """Drop entries unused for LifeTime seconds; returns how many went."""
        s = self.settings()
        if s.cache_lifetime_s <= 0:
            return 0
        with atomic(self.conn):
            return self.store.delete_unused_since(now - s.cache_lifetime_s)

    def clear_cache(self) -> dict[str, Any]:
        """ClearCacheResponse: Rejected while the cache is disabled (C11.FR.04, TC_C_38)."""
        if not self.settings().cache_enabled:
            return _reply("Rejected", "NotEnabled")
        with atomic(self.conn):
            self.store.clear_cache()
        return _reply("Accepted")

    # ----- local list (D01, D02) ---------------------------------------------------------------------------

    def get_local_list_version(self) -> dict[str, Any]:
        """GetLocalListVersionResponse: 0 while the list is disabled (D02.FR.03, TC_D_10)."""
        if not self.settings().local_list_enabled:
            return {"versionNumber": 0}
        return {"versionNumber": self.store.local_list_version()}

    def send_local_list(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a SendLocalListRequest all or nothing; returns the SendLocalListResponse.

        A versionNumber below 1 is Failed (D01.FR.18: 0 is reserved for "no list"), not VersionMismatch.
        Full replaces the list (an empty one clears it, D01.FR.04). Differential needs a version above the
        current one (else VersionMismatch, D01.FR.19); an entry with idTokenInfo is added or replaced, one
        without is removed (D01.FR.16/17); an empty list only moves the version (D01.FR.05).
        """
        s = self.settings()
        if not s.local_list_enabled:
            return _reply("Failed", "NotEnabled")
        version = request.get("versionNumber")
        update = request.get("updateType")
        entries = list(request.get("localAuthorizationList") or [])
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            return _reply("Failed", "InvalidValue", "versionNumber must be 1 or more")  # D01.FR.18
        if update not in ("Full", "Differential"):
            return _reply("Failed", "InvalidValue", f"unknown updateType {update!r}")
        if len(entries) > s.local_list_items_per_message:
            return _reply("Failed", "TooManyElements")
        keys = [token_key(entry.get("idToken") or {}) for entry in entries]
        if len(set(keys)) != len(keys):
            return _reply("Failed", "InvalidValue", "the same idToken appears twice")
        try:
            with atomic(self.conn):
                if update == "Differential" and version <= self.store.local_list_version():
                    return _reply("VersionMismatch")
                if update == "Full":
                    self.store.clear_local()
                for entry in entries:
                    info = entry.get("idTokenInfo")
                    if info:
                        self.store.put_local(entry["idToken"], info)
                    elif update == "Differential":
                        self.store.delete_local(entry["idToken"])
                if self.store.local_count() > s.local_list_max_entries:
                    raise _ListFull
                self.store.set_local_list_version(version)
        except _ListFull:
            return _reply("Failed", "OutOfStorage", f"more than {s.local_list_max_entries} entries")
        return _reply("Accepted")

    def local_list_entries(self) -> int:
        """LocalAuthListCtrlr.Entries."""
        return self.store.local_count()

    def local_list_storage_bytes(self) -> int:
        """LocalAuthListCtrlr.Storage (estimated bytes in use)."""
        return self.store.local_bytes()

    def cache_storage_bytes(self) -> int:
        """AuthCacheCtrlr.Storage (estimated bytes in use)."""
        return self.store.cache_bytes()


class _ListFull(Exception):
    """Raised inside the SendLocalList transaction to roll it back."""


def _with_expiry(info: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The idTokenInfo, with status Expired once its cacheExpiryDateTime has passed."""
    result = json.loads(json.dumps(info))
    expiry = info.get("cacheExpiryDateTime")
    if isinstance(expiry, str):
        try:
            if parse_utc(expiry) < now:
                result["status"] = "Expired"
        except ValueError:
            pass
    return result
