"""Local Authorization List: SendLocalList and GetLocalListVersion, following TC_D_01..TC_D_10_CS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.ocpp_client.authorization.decisions import Action, Authorizer, AuthSettings
from station.sqlite import open_db
from tests.services.ocpp_client.tx_fixtures import assert_valid_request, assert_valid_response

T0 = 1_700_000_000.0
VALID = {"idToken": "AA11", "type": "ISO14443"}
VALID2 = {"idToken": "AA22", "type": "ISO15693"}


class ListStation:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.settings = AuthSettings(local_pre_authorize=True, local_list_items_per_message=5,
                                     local_list_max_entries=6)
        self.open()

    def open(self) -> None:
        self.conn = open_db(str(self.path))
        self.auth = Authorizer(self.conn, lambda: self.settings)

    def send(self, version: int, update: str, *entries: tuple[dict, str | None]) -> dict:
        request: dict = {"versionNumber": version, "updateType": update}
        items = [{"idToken": tok, **({"idTokenInfo": {"status": status}} if status else {})}
                 for tok, status in entries]
        if items:
            request["localAuthorizationList"] = items
        assert_valid_request("SendLocalList", request)
        reply = self.auth.send_local_list(request)
        assert_valid_response("SendLocalList", reply)
        return reply

    def version(self) -> int:
        reply = self.auth.get_local_list_version()
        assert_valid_response("GetLocalListVersion", reply)
        return reply["versionNumber"]

    def knows(self, token: dict) -> bool:
        return self.auth.decide_local(token, online=True, now=T0).source == "local_list"


@pytest.fixture
def ls(tmp_path: Path) -> Iterator[ListStation]:
    station = ListStation(tmp_path / "ocpp.db")
    yield station
    station.conn.close()


def test_tc_d_01_full_list_replaces_and_sets_the_version(ls: ListStation) -> None:
    assert ls.send(3, "Full", (VALID, "Accepted"))["status"] == "Accepted"
    assert ls.version() == 3
    assert ls.auth.decide_local(VALID, online=True, now=T0).action is Action.ACCEPT
    assert ls.auth.local_list_entries() == 1


def test_tc_d_02_differential_update_adds_and_moves_the_version(ls: ListStation) -> None:
    ls.send(3, "Full", (VALID, "Accepted"))
    assert ls.send(4, "Differential", (VALID2, "Accepted"))["status"] == "Accepted"
    assert ls.version() == 4
    assert ls.knows(VALID) and ls.knows(VALID2)


def test_differential_update_replaces_an_entry(ls: ListStation) -> None:
    ls.send(3, "Full", (VALID, "Accepted"))
    ls.send(4, "Differential", (VALID, "Blocked"))
    assert ls.auth.decide_local(VALID, online=True, now=T0).id_token_info == {"status": "Blocked"}


def test_tc_d_03_differential_entry_without_id_token_info_removes_it(ls: ListStation) -> None:
    ls.send(3, "Full", (VALID, "Accepted"), (VALID2, "Accepted"))
    assert ls.send(4, "Differential", (VALID, None))["status"] == "Accepted"
    assert ls.version() == 4
    assert not ls.knows(VALID) and ls.knows(VALID2)


def test_tc_d_04_full_with_empty_list_clears_it(ls: ListStation) -> None:
    ls.send(3, "Full", (VALID, "Accepted"))
    assert ls.send(3, "Full")["status"] == "Accepted"
    assert ls.version() == 3
    assert ls.auth.local_list_entries() == 0


def test_tc_d_05_differential_with_empty_list_only_moves_the_version(ls: ListStation) -> None:
    ls.send(3, "Full", (VALID, "Accepted"))
    assert ls.send(4, "Differential")["status"] == "Accepted"
    assert ls.version() == 4
    assert ls.knows(VALID)


@pytest.mark.parametrize("version", [2, 3])
def test_tc_d_06_differential_with_an_old_version_is_a_version_mismatch(ls: ListStation, version: int) -> None:
    ls.send(3, "Full", (VALID, "Accepted"))
    assert ls.send(version, "Differential", (VALID2, "Accepted"))["status"] == "VersionMismatch"
    assert ls.version() == 3
    assert not ls.knows(VALID2)


def test_tc_d_07_list_and_version_survive_a_restart(ls: ListStation) -> None:
    ls.send(7, "Full", (VALID, "Accepted"))
    ls.conn.close()
    ls.open()
    assert ls.version() == 7
    assert ls.knows(VALID)


def test_tc_d_08_version_of_a_fresh_station_is_zero(ls: ListStation) -> None:
    assert ls.version() == 0


def test_tc_d_10_version_is_zero_while_the_list_is_disabled(ls: ListStation) -> None:
    ls.send(3, "Full", (VALID, "Accepted"))
    ls.settings = AuthSettings(local_list_enabled=False)
    assert ls.version() == 0
    assert ls.send(4, "Full", (VALID2, "Accepted"))["status"] == "Failed"
    assert not ls.knows(VALID)


def test_same_token_twice_in_one_list_fails_and_changes_nothing(ls: ListStation) -> None:
    ls.send(3, "Full", (VALID, "Accepted"))
    reply = ls.send(4, "Full", (VALID2, "Accepted"), ({**VALID2, "additionalInfo": [
        {"additionalIdToken": "x", "type": "y"}]}, "Blocked"))
    assert reply["status"] == "Failed"
    assert ls.version() == 3 and ls.knows(VALID)


def test_more_items_than_items_per_message_fail(ls: ListStation) -> None:
    tokens = [({"idToken": f"T{n}", "type": "ISO14443"}, "Accepted") for n in range(6)]
    assert ls.send(3, "Full", *tokens)["status"] == "Failed"


def test_a_list_beyond_the_storage_limit_fails_and_is_rolled_back(ls: ListStation) -> None:
    ls.send(3, "Full", *[({"idToken": f"A{n}", "type": "ISO14443"}, "Accepted") for n in range(5)])
    reply = ls.send(4, "Differential", *[({"idToken": f"B{n}", "type": "ISO14443"}, "Accepted") for n in range(2)])
    assert reply["status"] == "Failed" and reply["statusInfo"]["reasonCode"] == "OutOfStorage"
    assert ls.version() == 3 and ls.auth.local_list_entries() == 5


@pytest.mark.parametrize("update", ["Full", "Differential"])
def test_version_zero_is_answered_failed_and_changes_nothing(ls: ListStation, update: str) -> None:
    """versionNumber 0 is not a list version (D01.FR.18): Failed, not VersionMismatch; list and version stay."""
    ls.send(3, "Full", (VALID, "Accepted"))
    reply = ls.send(0, update, (VALID2, "Accepted"))
    assert reply["status"] == "Failed" and reply["statusInfo"]["reasonCode"] == "InvalidValue"
    assert ls.version() == 3 and ls.knows(VALID) and not ls.knows(VALID2)


def test_storage_counts_bytes_of_the_list(ls: ListStation) -> None:
    assert ls.auth.local_list_storage_bytes() == 0
    ls.send(3, "Full", (VALID, "Accepted"))
    assert ls.auth.local_list_storage_bytes() > 0
