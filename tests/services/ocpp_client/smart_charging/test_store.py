"""Installed profiles in SQLite: persistence over a reopen (TC_K_13_CS, K01.FR.27), replacement, removal."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from services.ocpp_client.smart_charging.store import Criteria, ProfileStore
from tests.services.ocpp_client.smart_charging.builders import at, open_db, profile


def test_profiles_survive_closing_and_reopening_the_database(tmp_path: Path) -> None:
    """TC_K_13_CS: the profile reported after a reboot is the one sent."""
    db = open_db(tmp_path / "ocpp.db")
    sent = profile(1, profile_id=7, periods=[(0, 6.0), (60, 10.0)], duration_s=300, valid_to=at(3600))
    ProfileStore(db).put(sent)
    db.close()
    again = ProfileStore(open_db(tmp_path / "ocpp.db"))
    assert [p.payload() for p in again.all()] == [sent.payload()]
    assert again.get(7) == sent


def test_same_id_replaces_the_row(tmp_path: Path) -> None:
    """TC_K_04_CS (K01.FR.05)."""
    store = ProfileStore(open_db(tmp_path / "ocpp.db"))
    store.put(profile(1, profile_id=1, periods=[(0, 6.0)]))
    store.put(profile(2, profile_id=1, periods=[(0, 10.0)]))
    assert len(store) == 1
    again = ProfileStore(store.db)
    assert again.get(1).evse_id == 2 and again.get(1).schedule.periods[0].limit == 10.0


def test_expired_profiles_are_removed_and_stay_removed(tmp_path: Path) -> None:
    store = ProfileStore(open_db(tmp_path / "ocpp.db"))
    store.put(profile(1, profile_id=1, valid_to=at(60)))
    store.put(profile(1, profile_id=2, stack_level=1))
    assert store.remove_expired(at(59)) == []
    assert store.remove_expired(at(60)) == [1]
    assert [p.profile_id for p in ProfileStore(store.db).all()] == [2]


def test_tx_profiles_go_when_their_transaction_ends(tmp_path: Path) -> None:
    store = ProfileStore(open_db(tmp_path / "ocpp.db"))
    store.put(profile(1, profile_id=1, purpose="TxProfile", transaction_id="TX-1"))
    store.put(profile(2, profile_id=2, purpose="TxProfile", transaction_id="TX-2"))
    store.put(profile(1, profile_id=3))
    assert store.remove_transaction("TX-1") == [1]
    assert sorted(p.profile_id for p in ProfileStore(store.db).all()) == [2, 3]


def test_criteria_select_by_evse_purpose_and_stack_level(tmp_path: Path) -> None:
    store = ProfileStore(open_db(tmp_path / "ocpp.db"))
    store.put(profile(1, profile_id=1, stack_level=0))
    store.put(profile(1, profile_id=2, stack_level=1))
    store.put(profile(0, profile_id=3, purpose="ChargingStationMaxProfile"))
    assert [p.profile_id for p in store.select(Criteria(evse_id=1, stack_level=1))] == [2]
    assert [p.profile_id for p in store.select(Criteria(purpose="ChargingStationMaxProfile"))] == [3]
    assert store.remove_matching(Criteria(purpose="TxDefaultProfile", stack_level=0)) == [1]


def test_an_unreadable_row_is_skipped_and_the_others_load(tmp_path: Path) -> None:
    db = open_db(tmp_path / "ocpp.db")
    store = ProfileStore(db)
    store.put(profile(1, profile_id=1))
    db.execute("INSERT INTO charging_profiles VALUES (2, 1, 'TxDefaultProfile', 1, NULL, NULL, 'x', 'CSO', '{bad')")
    assert [p.profile_id for p in ProfileStore(db).all()] == [1]
    assert db.execute("SELECT COUNT(*) FROM charging_profiles").fetchone()[0] == 2  # nothing lost


def test_a_failed_write_changes_nothing(tmp_path: Path) -> None:
    db = open_db(tmp_path / "ocpp.db")
    store = ProfileStore(db)
    store.put(profile(1, profile_id=1))
    db.execute("CREATE TRIGGER no_delete BEFORE DELETE ON charging_profiles BEGIN SELECT RAISE(ABORT, 'no'); END")
    with pytest.raises(sqlite3.IntegrityError):
        store.remove([1])
    assert store.get(1) is not None and len(ProfileStore(db)) == 1
