"""authorization.py decisions, following the C test cases (TC_C_xx_CS) step by step."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from services.ocpp_client.authorization.decisions import (
    Action,
    Authorizer,
    AuthSettings,
    accepted_for_evse,
    group_of,
    is_master_pass,
)
from services.ocpp_client.device_model.catalog import ConnectorTopology, EvseTopology
from services.ocpp_client.device_model.model import DeviceModel
from station.sqlite import open_db

T0 = 1_700_000_000.0
VALID = {"idToken": "AA11", "type": "ISO14443"}
INVALID = {"idToken": "BB22", "type": "ISO14443"}
UNKNOWN = {"idToken": "CC33", "type": "ISO14443"}
GROUP = {"idToken": "FAMILY", "type": "Central"}


class Auth:
    """An Authorizer on a database file with settings the test changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.settings = AuthSettings(local_pre_authorize=True)
        self.conn = open_db(str(path))
        self.auth = Authorizer(self.conn, lambda: self.settings)

    def set(self, **changes: object) -> None:
        self.settings = replace(self.settings, **changes)

    def reopen(self) -> None:
        self.conn.close()
        self.conn = open_db(str(self.path))
        self.auth = Authorizer(self.conn, lambda: self.settings)

    def cache(self, token: dict, status: str, now: float = T0, **info: object) -> None:
        self.auth.on_csms_result(token, {"status": status, **info}, now)

    def listed(self, token: dict, status: str, **info: object) -> None:
        version = self.auth.get_local_list_version()["versionNumber"] + 1
        reply = self.auth.send_local_list({"versionNumber": version, "updateType": "Differential",
                                           "localAuthorizationList": [{"idToken": token,
                                                                       "idTokenInfo": {"status": status, **info}}]})
        assert reply["status"] == "Accepted"


@pytest.fixture
def a(tmp_path: Path) -> Iterator[Auth]:
    auth = Auth(tmp_path / "ocpp.db")
    yield auth
    auth.conn.close()


def decide(a: Auth, token: dict, online: bool = True, now: float = T0, evse_id: int | None = None) -> Action:
    return a.auth.decide_local(token, online=online, now=now, evse_id=evse_id).action


@pytest.mark.parametrize("status", ["Invalid", "Blocked", "Expired", "Unknown"])
def test_tc_c_02_06_07_56_unknown_token_is_asked_and_a_refusal_is_not_accepted(a: Auth, status: str) -> None:
    assert decide(a, UNKNOWN) is Action.ASK_CSMS
    info = {"status": status}
    a.auth.on_csms_result(UNKNOWN, info, T0)
    assert not accepted_for_evse(info, 1)


def test_tc_c_08_cached_accepted_token_is_accepted_without_asking(a: Auth) -> None:
    a.cache(VALID, "Accepted")
    decision = a.auth.decide_local(VALID, online=True, now=T0 + 5)
    assert decision.action is Action.ACCEPT and decision.source == "cache"


@pytest.mark.parametrize("status", ["Invalid", "Blocked", "Expired"])
def test_tc_c_09_10_11_12_cached_refused_token_is_asked_again(a: Auth, status: str) -> None:
    a.cache(INVALID, status)
    assert decide(a, INVALID) is Action.ASK_CSMS


def test_tc_c_57_cache_disable_post_authorize_refuses_without_asking(a: Auth) -> None:
    a.cache(INVALID, "Invalid")
    a.set(cache_disable_post_authorize=True)
    assert decide(a, INVALID) is Action.REJECT


def test_tc_c_36_without_local_pre_authorize_a_cached_token_is_asked(a: Auth) -> None:
    a.cache(VALID, "Accepted")
    a.set(local_pre_authorize=False)
    assert decide(a, VALID) is Action.ASK_CSMS


def test_tc_c_46_entry_unused_for_lifetime_is_removed(a: Auth) -> None:
    a.set(cache_lifetime_s=100)
    a.cache(VALID, "Accepted")
    assert decide(a, VALID, now=T0 + 90) is Action.ACCEPT  # a use restarts the count
    assert decide(a, VALID, now=T0 + 180) is Action.ACCEPT
    assert decide(a, VALID, now=T0 + 281) is Action.ASK_CSMS
    assert a.auth.store.cache_entry(VALID) is None


def test_entry_past_its_cache_expiry_date_counts_as_expired(a: Auth) -> None:
    a.cache(VALID, "Accepted", cacheExpiryDateTime="2023-11-14T22:15:00Z")  # T0 + 100 s
    assert decide(a, VALID, now=T0 + 50) is Action.ACCEPT
    decision = a.auth.decide_local(VALID, online=True, now=T0 + 150)
    assert decision.action is Action.ASK_CSMS and decision.id_token_info["status"] == "Expired"


def test_tc_c_27_local_list_accepted_token_is_accepted_online(a: Auth) -> None:
    a.listed(VALID, "Accepted")
    decision = a.auth.decide_local(VALID, online=True, now=T0)
    assert decision.action is Action.ACCEPT and decision.source == "local_list"


@pytest.mark.parametrize("status", ["Invalid", "Blocked", "Expired"])
def test_tc_c_28_29_30_31_local_list_refused_token_is_asked(a: Auth, status: str) -> None:
    a.listed(INVALID, status)
    assert decide(a, INVALID) is Action.ASK_CSMS


def test_tc_c_58_local_list_disable_post_authorize_refuses_without_asking(a: Auth) -> None:
    a.listed(INVALID, "Invalid")
    a.set(local_list_disable_post_authorize=True)
    assert decide(a, INVALID) is Action.REJECT


def test_tc_c_21_offline_local_list_token_is_accepted_with_local_authorize_offline(a: Auth) -> None:
    a.listed(VALID, "Accepted")
    assert decide(a, VALID, online=False) is Action.ACCEPT
    a.set(local_authorize_offline=False)
    assert decide(a, VALID, online=False) is Action.REJECT


@pytest.mark.parametrize("status", ["Invalid", "Blocked", "Expired"])
def test_tc_c_22_23_24_offline_refused_local_list_token_is_refused(a: Auth, status: str) -> None:
    a.set(offline_tx_for_unknown_id=True)
    a.listed(INVALID, status)
    assert decide(a, INVALID, online=False) is Action.REJECT


def test_tc_c_25_local_list_overrides_the_cache(a: Auth) -> None:
    a.set(offline_tx_for_unknown_id=True, local_list_enabled=False)
    a.cache(VALID, "Accepted")
    a.set(local_list_enabled=True)
    a.listed(VALID, "Invalid")
    assert decide(a, VALID, online=False) is Action.REJECT


def test_tc_c_15_to_18_offline_cached_token_is_accepted(a: Auth) -> None:
    a.cache(VALID, "Accepted")
    assert decide(a, VALID, online=False) is Action.ACCEPT


def test_tc_c_26_offline_unknown_token_only_with_offline_tx_for_unknown_id(a: Auth) -> None:
    assert decide(a, UNKNOWN, online=False) is Action.REJECT
    a.set(offline_tx_for_unknown_id=True)
    decision = a.auth.decide_local(UNKNOWN, online=False, now=T0)
    assert decision.action is Action.ACCEPT and decision.id_token_info is None


def test_a_token_the_csms_answered_unknown_starts_offline_with_offline_tx_for_unknown_id(a: Auth) -> None:
    """An Unknown answer is not cached: the token stays unknown, so C15.FR.02 applies offline."""
    a.set(offline_tx_for_unknown_id=True)
    a.cache(UNKNOWN, "Unknown")
    decision = a.auth.decide_local(UNKNOWN, online=False, now=T0 + 60)
    assert decision.action is Action.ACCEPT and decision.source == "unknown" and decision.id_token_info is None
    assert decide(a, UNKNOWN) is Action.ASK_CSMS  # online: asked again


def test_an_unknown_answer_removes_the_older_cache_entry_of_the_token(a: Auth) -> None:
    a.cache(VALID, "Accepted")
    a.cache(VALID, "Unknown", now=T0 + 10)  # the CSMS no longer knows the card
    assert a.auth.store.cache_entry(VALID) is None
    assert decide(a, VALID, online=False) is Action.REJECT  # OfflineTxForUnknownIdEnabled false


def test_a_concurrent_tx_answer_is_not_cached_and_keeps_the_older_entry(a: Auth) -> None:
    """ConcurrentTx is about another transaction at that moment, not about the card."""
    a.cache(VALID, "Accepted")
    a.cache(VALID, "ConcurrentTx", now=T0 + 10)
    assert a.auth.store.cache_entry(VALID).id_token_info["status"] == "Accepted"
    assert decide(a, VALID, online=False) is Action.ACCEPT


@pytest.mark.parametrize("status", ["Invalid", "Blocked", "Expired", "NoCredit", "NotAllowedTypeEVSE",
                                    "NotAtThisLocation", "NotAtThisTime"])
def test_a_refusal_of_the_card_is_cached_and_refused_offline_even_for_unknown_ids(a: Auth, status: str) -> None:
    a.set(offline_tx_for_unknown_id=True)
    a.cache(INVALID, status)
    decision = a.auth.decide_local(INVALID, online=False, now=T0 + 60)
    assert decision.action is Action.REJECT and decision.source == "cache"


def test_tc_e_52_disable_remote_authorization_refuses_an_unknown_token(a: Auth) -> None:
    a.set(disable_remote_authorization=True)
    assert decide(a, UNKNOWN) is Action.REJECT


def test_disable_remote_authorization_decides_known_tokens_locally(a: Auth) -> None:
    a.set(disable_remote_authorization=True, local_pre_authorize=False)
    a.cache(VALID, "Accepted")
    a.cache(INVALID, "Invalid")
    assert decide(a, VALID) is Action.ACCEPT
    assert decide(a, INVALID) is Action.REJECT


def test_authorization_disabled_accepts_everything(a: Auth) -> None:
    a.set(enabled=False)
    assert decide(a, UNKNOWN, online=False) is Action.ACCEPT


def test_no_authorization_token_is_accepted(a: Auth) -> None:
    assert decide(a, {"idToken": "", "type": "NoAuthorization"}, online=False) is Action.ACCEPT


def test_token_restricted_to_other_evses_is_not_accepted_here(a: Auth) -> None:
    a.cache(VALID, "Accepted", evseId=[2])
    assert decide(a, VALID, evse_id=2) is Action.ACCEPT
    assert decide(a, VALID, evse_id=1) is Action.ASK_CSMS
    assert decide(a, VALID, evse_id=1, online=False) is Action.REJECT


def test_tokens_differ_by_type_not_by_additional_info(a: Auth) -> None:
    a.cache(VALID, "Accepted")
    assert decide(a, {**VALID, "additionalInfo": [{"additionalIdToken": "x", "type": "y"}]}) is Action.ACCEPT
    assert decide(a, {**VALID, "type": "ISO15693"}) is Action.ASK_CSMS


def test_tc_c_32_cache_survives_a_restart(a: Auth) -> None:
    a.cache(VALID, "Accepted")
    a.reopen()
    assert decide(a, VALID) is Action.ACCEPT


def test_tc_c_33_34_a_later_csms_result_replaces_the_cached_one(a: Auth) -> None:
    a.cache(VALID, "Accepted")
    a.cache(VALID, "Invalid", now=T0 + 10)  # e.g. from a TransactionEventResponse
    assert decide(a, VALID) is Action.ASK_CSMS


def test_local_list_tokens_and_no_authorization_tokens_are_not_cached(a: Auth) -> None:
    a.listed(VALID, "Accepted")
    a.cache(VALID, "Blocked")
    a.cache({"idToken": "", "type": "NoAuthorization"}, "Accepted")
    assert a.auth.store.cache_count() == 0


def test_nothing_is_cached_while_the_cache_is_disabled(a: Auth) -> None:
    a.set(cache_enabled=False)
    a.cache(VALID, "Accepted")
    a.set(cache_enabled=True)
    assert decide(a, VALID) is Action.ASK_CSMS


def test_group_and_master_pass_helpers() -> None:
    info = {"status": "Accepted", "groupIdToken": GROUP}
    assert group_of(info) == GROUP
    assert group_of({"status": "Accepted"}) is None
    assert is_master_pass(info, "FAMILY")
    assert not is_master_pass(info, "")
    assert not is_master_pass({"status": "Accepted"}, "FAMILY")


def test_settings_come_from_the_device_model(tmp_path: Path) -> None:
    evses = [EvseTopology(1, (ConnectorTopology(1, "sType2"),))]
    seeds = {"AuthCtrlr.LocalPreAuthorize": True, "AuthCacheCtrlr.LifeTime": 600,
             "AuthCtrlr.MasterPassGroupId": "POLICE"}
    with DeviceModel(tmp_path / "dm.db", evses, seeds) as dm:
        settings = AuthSettings.from_device_model(dm)
    assert settings.local_pre_authorize is True
    assert settings.cache_lifetime_s == 600
    assert settings.master_pass_group_id == "POLICE"
    assert settings.cache_policy == "LRU"
