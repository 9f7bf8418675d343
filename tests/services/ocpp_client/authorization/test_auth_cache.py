"""Authorization Cache: replacement policies, Storage, ClearCache (C10, C11)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.ocpp_client.authorization.decisions import Authorizer, AuthSettings
from services.ocpp_client.authorization.store import ENTRY_OVERHEAD_BYTES
from station.sqlite import open_db
from tests.services.ocpp_client.tx_fixtures import assert_valid_response

T0 = 1_700_000_000.0


def token(n: int) -> dict:
    return {"idToken": f"T{n:03d}", "type": "ISO14443"}


ENTRY_BYTES = len('{"idToken":"T000","type":"ISO14443"}') + len('{"status":"Accepted"}') + ENTRY_OVERHEAD_BYTES


@pytest.fixture
def conn(tmp_path: Path) -> Iterator:
    connection = open_db(str(tmp_path / "ocpp.db"))
    yield connection
    connection.close()


def authorizer(conn, **settings: object) -> Authorizer:
    fixed = AuthSettings(local_pre_authorize=True, **settings)  # type: ignore[arg-type]
    return Authorizer(conn, lambda: fixed)


def fill_three(auth: Authorizer) -> None:
    for n in range(3):
        auth.on_csms_result(token(n), {"status": "Accepted"}, T0 + n)


def cached(auth: Authorizer) -> set[str]:
    return {t["idToken"] for t in (token(n) for n in range(10)) if auth.store.cache_entry(t) is not None}


def test_lru_drops_the_least_recently_used_entry(conn) -> None:
    auth = authorizer(conn, cache_policy="LRU", cache_max_bytes=3 * ENTRY_BYTES)
    fill_three(auth)
    auth.decide_local(token(0), online=True, now=T0 + 10)  # T000 used last
    auth.on_csms_result(token(3), {"status": "Accepted"}, T0 + 11)
    assert cached(auth) == {"T000", "T002", "T003"}


def test_lfu_drops_the_least_frequently_used_entry(conn) -> None:
    auth = authorizer(conn, cache_policy="LFU", cache_max_bytes=3 * ENTRY_BYTES)
    fill_three(auth)
    for n, uses in ((0, 3), (1, 1), (2, 2)):
        for k in range(uses):
            auth.decide_local(token(n), online=True, now=T0 + 20 + k)
    auth.on_csms_result(token(3), {"status": "Accepted"}, T0 + 30)
    assert cached(auth) == {"T000", "T002", "T003"}


def test_fifo_drops_the_oldest_entry_however_often_it_was_used(conn) -> None:
    auth = authorizer(conn, cache_policy="FIFO", cache_max_bytes=3 * ENTRY_BYTES)
    fill_three(auth)
    auth.decide_local(token(0), online=True, now=T0 + 10)
    auth.on_csms_result(token(3), {"status": "Accepted"}, T0 + 11)
    assert cached(auth) == {"T001", "T002", "T003"}


def test_entries_that_are_not_accepted_go_first(conn) -> None:
    auth = authorizer(conn, cache_policy="LRU", cache_max_bytes=3 * ENTRY_BYTES + 10)
    fill_three(auth)
    auth.on_csms_result(token(2), {"status": "Blocked"}, T0 + 5)  # the most recent, but refused
    auth.on_csms_result(token(3), {"status": "Accepted"}, T0 + 6)
    assert cached(auth) == {"T000", "T001", "T003"}


def test_an_entry_larger_than_the_cache_still_keeps_the_new_token(conn) -> None:
    auth = authorizer(conn, cache_max_bytes=10)
    auth.on_csms_result(token(0), {"status": "Accepted"}, T0)
    assert cached(auth) == {"T000"}


def test_storage_counts_the_bytes_in_use(conn) -> None:
    auth = authorizer(conn)
    assert auth.cache_storage_bytes() == 0
    fill_three(auth)
    assert auth.cache_storage_bytes() == 3 * ENTRY_BYTES


def test_tc_c_37_clear_cache_empties_it(conn) -> None:
    auth = authorizer(conn)
    fill_three(auth)
    reply = auth.clear_cache()
    assert reply == {"status": "Accepted"}
    assert_valid_response("ClearCache", reply)
    assert auth.store.cache_count() == 0
    assert auth.decide_local(token(0), online=True, now=T0).action == "ask_csms"


def test_tc_c_38_clear_cache_is_rejected_while_the_cache_is_disabled(conn) -> None:
    auth = authorizer(conn, cache_enabled=False)
    reply = auth.clear_cache()
    assert reply["status"] == "Rejected"
    assert_valid_response("ClearCache", reply)


def test_purge_drops_entries_unused_for_lifetime(conn) -> None:
    auth = authorizer(conn, cache_lifetime_s=100)
    fill_three(auth)
    assert auth.purge_cache(T0 + 101.5) == 2
    assert cached(auth) == {"T002"}
