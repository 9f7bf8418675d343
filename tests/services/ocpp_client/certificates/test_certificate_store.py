"""The certificate store: files and permissions, the SQLite index, and crashes between the steps of a change."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from services.ocpp_client.certificates import store as store_module
from services.ocpp_client.certificates.store import CertificateStore, StoreError
from services.ocpp_client.store import open_store
from tests.services.ocpp_client.certificates.pki_tools import issue


class Crash(BaseException):
    """Power lost at this point: nothing after it runs."""


def _reopen(data_dir: Path) -> tuple[sqlite3.Connection, CertificateStore]:
    conn = open_store(data_dir)
    return conn, CertificateStore(conn, data_dir)


def _subjects(store: CertificateStore) -> list[str]:
    return [e.cert.subject.rfc4514_string() for e in store.entries()]


def test_certs_directory_is_private_and_keys_are_0600(store: CertificateStore) -> None:
    store.import_station_certificate([issue("station", issue("root"), ca=False).cert], issue("k").key)
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    active = store.station_certificate()
    assert active is not None and active.key_file is not None
    assert stat.S_IMODE(active.key_file.stat().st_mode) == 0o600


def test_installed_roots_survive_a_restart(conn: sqlite3.Connection, store: CertificateStore,
                                           data_dir: Path) -> None:
    store.install_root("CSMSRootCertificate", issue("csms root").cert)
    store.install_root("ManufacturerRootCertificate", issue("maker root").cert)
    conn.close()
    _, reopened = _reopen(data_dir)
    assert _subjects(reopened) == ["CN=csms root", "CN=maker root"]
    assert reopened.count() == 2


def test_installing_the_same_root_twice_keeps_one_entry(store: CertificateStore) -> None:
    root = issue("root").cert
    store.install_root("CSMSRootCertificate", root)
    store.install_root("CSMSRootCertificate", root)
    assert store.count() == 1


def test_csms_root_bundle_holds_every_csms_root_and_goes_with_the_last(store: CertificateStore) -> None:
    first = store.install_root("CSMSRootCertificate", issue("one").cert)
    second = store.install_root("CSMSRootCertificate", issue("two").cert)
    bundle = store.csms_root_bundle()
    assert bundle is not None and bundle.read_text().count("BEGIN CERTIFICATE") == 2
    store.delete(first.entry_id)
    store.delete(second.entry_id)
    assert store.csms_root_bundle() is None


def test_crash_after_the_file_before_the_index_leaves_the_old_set(conn: sqlite3.Connection,
                                                                  store: CertificateStore, data_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store.install_root("CSMSRootCertificate", issue("old").cert)
    files_before = sorted(p.name for p in store.directory.iterdir())

    def crash(*args: object, **kwargs: object) -> None:
        raise Crash

    monkeypatch.setattr(CertificateStore, "_index", crash)
    with pytest.raises(Crash):
        store.install_root("CSMSRootCertificate", issue("new").cert)
    monkeypatch.undo()
    conn.close()
    _, reopened = _reopen(data_dir)
    assert _subjects(reopened) == ["CN=old"]
    assert sorted(p.name for p in reopened.directory.iterdir()) == files_before  # the orphan file is swept


def test_crash_between_temp_file_and_rename_leaves_the_old_set(conn: sqlite3.Connection,
                                                               store: CertificateStore, data_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    store.install_root("CSMSRootCertificate", issue("old").cert)

    def crash(*args: object) -> None:
        raise Crash

    monkeypatch.setattr(store_module.os, "replace", crash)
    with pytest.raises(Crash):
        store.install_root("CSMSRootCertificate", issue("new").cert)
    monkeypatch.undo()
    assert any(p.name.endswith(".tmp") for p in store.directory.iterdir())
    conn.close()
    _, reopened = _reopen(data_dir)
    assert _subjects(reopened) == ["CN=old"]
    assert not any(p.name.endswith(".tmp") for p in reopened.directory.iterdir())


def test_crash_after_the_index_commit_of_a_delete_keeps_the_delete(conn: sqlite3.Connection,
                                                                   store: CertificateStore, data_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    kept = store.install_root("CSMSRootCertificate", issue("kept").cert)
    gone = store.install_root("CSMSRootCertificate", issue("gone").cert)

    def crash(*args: object) -> None:
        raise Crash

    monkeypatch.setattr(CertificateStore, "_unlink", crash)
    with pytest.raises(Crash):
        store.delete(gone.entry_id)
    monkeypatch.undo()
    conn.close()
    _, reopened = _reopen(data_dir)
    assert _subjects(reopened) == ["CN=kept"]
    assert gone.cert_file is not None and not gone.cert_file.exists()
    assert kept.cert_file is not None and kept.cert_file.exists()


def test_a_write_error_is_a_store_error_and_changes_nothing(store: CertificateStore,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, "write", disk_full)
    with pytest.raises(StoreError, match="No space left"):
        store.install_root("CSMSRootCertificate", issue("root").cert)
    monkeypatch.undo()
    assert store.count() == 0
    assert list(store.directory.iterdir()) == []


def test_pending_station_certificate_replaces_the_old_one_only_when_promoted(store: CertificateStore) -> None:
    root = issue("root")
    old_key = issue("k").key
    store.import_station_certificate([issue("old", root, ca=False, key=old_key).cert], old_key)
    new_key = issue("k2").key
    store.save_csr_key(new_key)
    store.set_pending_station_certificate([issue("new", root, ca=False, key=new_key).cert])
    active = store.station_certificate()
    assert active is not None and active.cert.subject.rfc4514_string() == "CN=old"
    assert store.promote_pending()
    active = store.station_certificate()
    assert active is not None and active.cert.subject.rfc4514_string() == "CN=new"
    assert store.load_key(active).public_key() == new_key.public_key()
    assert store.csr_key() is None
    names = {p.name for p in store.directory.iterdir()}
    assert len([n for n in names if n.startswith("station-")]) == 1  # the new cert; its key is the csr file


def test_discarding_the_pending_certificate_keeps_the_one_in_use(store: CertificateStore) -> None:
    root = issue("root")
    key = issue("k").key
    store.import_station_certificate([issue("old", root, ca=False, key=key).cert], key)
    new_key = issue("k2").key
    store.save_csr_key(new_key)
    store.set_pending_station_certificate([issue("new", root, ca=False, key=new_key).cert])
    assert store.discard_pending()
    active = store.station_certificate()
    assert active is not None and active.cert.subject.rfc4514_string() == "CN=old"
    assert store.station_certificate("pending") is None


def test_private_key_bytes_never_reach_the_log(store: CertificateStore, caplog: pytest.LogCaptureFixture) -> None:
    key = issue("k").key
    caplog.set_level("DEBUG")
    store.import_station_certificate([issue("station", issue("root"), ca=False, key=key).cert], key)
    store.save_csr_key(issue("k3").key)
    assert "PRIVATE KEY" not in caplog.text
    assert os.stat(store.directory).st_mode & 0o077 == 0
