"""The certificate store of the OCPP service: root certificates (CSMSRootCertificate, ManufacturerRootCertificate,
V2GRootCertificate, MORootCertificate) and the ChargingStationCertificate with its private key.

PEM files live in `<data_dir>/certs/` (directory 0700, private keys 0600, key bytes never logged); the index is
the `certificates` table of ocpp.db. A file is named after its content's SHA-256, so a new file never replaces
one the index points at. Every change writes its files first (temp file, fsync, rename, fsync of the directory),
then commits the index in one transaction; removals commit the index first, then unlink. A crash at any step
leaves the old set: files the index does not name are swept when the store opens.

Station certificate states: `active` (in use), `pending` (signed by the CSMS, used from the next connection on,
A02.FR.08), `csr` (the key of an outstanding SignCertificateRequest, no certificate yet).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from services.ocpp_client.store import atomic
from station.files import fsync_dir, write_atomically

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

log = logging.getLogger("reon.ocpp.certificates")

ROOT_TYPES = ("CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate", "MORootCertificate")
STATION_TYPE = "ChargingStationCertificate"
CERTS_DIR = "certs"
CSMS_BUNDLE = "csms-roots.pem"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    certificate_type TEXT NOT NULL,
    state TEXT NOT NULL,
    cert_file TEXT,
    key_file TEXT,
    fingerprint TEXT,
    subject TEXT NOT NULL DEFAULT '',
    issuer TEXT NOT NULL DEFAULT '',
    serial TEXT NOT NULL DEFAULT '',
    not_before TEXT,
    not_after TEXT,
    installed_at TEXT NOT NULL
)
"""


class StoreError(Exception):
    """The store could not write a file or its index (InstallCertificate answers Failed)."""


@dataclass(frozen=True)
class StoredCertificate:
    """One row of the index with its certificate (the leaf, then the rest of its chain, if any)."""

    entry_id: int
    certificate_type: str
    state: str
    cert_file: Path | None
    key_file: Path | None
    chain: tuple[x509.Certificate, ...]
    installed_at: str

    @property
    def cert(self) -> x509.Certificate:
        return self.chain[0]


def _fingerprint(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _pem(chain: Sequence[x509.Certificate]) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in chain)


def key_pem(key: PrivateKeyTypes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class CertificateStore:
    """Files + index; `now()` (UTC) dates installs. Opening sweeps files left by an interrupted change."""

    def __init__(self, conn: sqlite3.Connection, data_dir: Path,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._conn = conn
        self._now = now
        self.directory = Path(data_dir) / CERTS_DIR
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        conn.execute(_SCHEMA)
        self._sweep()

    # ---- reading ----------------------------------------------------------------------------------------
    def entries(self, types: Iterable[str] | None = None, *, state: str = "active") -> list[StoredCertificate]:
        """Installed certificates (of `types`, when given) in install order (cryptography imported only to parse
        one: a store with none, e.g. security profile 1, never loads it)."""
        rows = self._conn.execute(
            "SELECT id, certificate_type, state, cert_file, key_file, installed_at FROM certificates"
            " WHERE state=? ORDER BY id", (state,)).fetchall()
        wanted = set(types) if types is not None else None
        found = []
        for entry_id, cert_type, row_state, cert_file, key_file, installed_at in rows:
            if wanted is not None and cert_type not in wanted:
                continue
            chain: tuple[x509.Certificate, ...] = ()
            if cert_file:
                from cryptography import x509

                try:
                    chain = tuple(x509.load_pem_x509_certificates((self.directory / cert_file).read_bytes()))
                except (OSError, ValueError) as exc:
                    log.error("certificate file %s of entry %d unreadable: %s", cert_file, entry_id, exc)
                    continue
            found.append(StoredCertificate(entry_id, cert_type, row_state,
                                           self.directory / cert_file if cert_file else None,
                                           self.directory / key_file if key_file else None, chain, installed_at))
        return found

    def count(self) -> int:
        """Installed certificates (CertificateEntries)."""
        return int(self._conn.execute("SELECT count(*) FROM certificates WHERE state='active'").fetchone()[0])

    def roots(self, cert_type: str) -> list[x509.Certificate]:
        return [entry.cert for entry in self.entries([cert_type])]

    def station_certificate(self, state: str = "active") -> StoredCertificate | None:
        found = self.entries([STATION_TYPE], state=state)
        return found[-1] if found else None

    def csms_root_bundle(self) -> Path | None:
        """A PEM file of every CSMSRootCertificate (for the TLS context), or None when there is none."""
        path = self.directory / CSMS_BUNDLE
        return path if path.exists() else None

    def load_key(self, entry: StoredCertificate) -> PrivateKeyTypes:
        from cryptography.hazmat.primitives import serialization

        if entry.key_file is None:
            raise StoreError(f"entry {entry.entry_id} has no private key")
        return serialization.load_pem_private_key(entry.key_file.read_bytes(), password=None)

    # ---- changing ---------------------------------------------------------------------------------------
    def install_root(self, cert_type: str, cert: x509.Certificate) -> StoredCertificate:
        """Install a root certificate (idempotent: the same certificate of the same type is kept once)."""
        if cert_type not in ROOT_TYPES:
            raise ValueError(f"not a root certificate type: {cert_type}")
        fingerprint = _fingerprint(cert)
        row = self._conn.execute("SELECT id FROM certificates WHERE certificate_type=? AND fingerprint=?"
                                 " AND state='active'", (cert_type, fingerprint)).fetchone()
        if row is None:
            file_name = self._write(f"{cert_type}-{fingerprint[:20]}.pem", _pem([cert]), 0o644)
            with atomic(self._conn):
                self._index(cert_type, "active", file_name, None, [cert])
            self._refresh_bundle()
        return next(e for e in self.entries([cert_type]) if _fingerprint(e.cert) == fingerprint)

    def delete(self, entry_id: int) -> None:
        """Remove an installed root certificate: the index first, then its file."""
        row = self._conn.execute("SELECT cert_file, key_file FROM certificates WHERE id=?", (entry_id,)).fetchone()
        if row is None:
            return
        with atomic(self._conn):
            self._conn.execute("DELETE FROM certificates WHERE id=?", (entry_id,))
        self._unlink(row)
        self._refresh_bundle()

    def save_csr_key(self, key: PrivateKeyTypes, cert_type: str = STATION_TYPE) -> None:
        """Keep the key of an outstanding CSR (replacing an older one), so it survives a restart."""
        pem = key_pem(key)
        file_name = self._write(f"csr-{hashlib.sha256(pem).hexdigest()[:20]}.key", pem, 0o600)
        old = self._conn.execute("SELECT cert_file, key_file FROM certificates WHERE state='csr'"
                                 " AND certificate_type=?", (cert_type,)).fetchall()
        with atomic(self._conn):
            self._conn.execute("DELETE FROM certificates WHERE state='csr' AND certificate_type=?", (cert_type,))
            self._conn.execute("INSERT INTO certificates (certificate_type, state, key_file, installed_at)"
                               " VALUES (?, 'csr', ?, ?)", (cert_type, file_name, self._now().isoformat()))
        for files in old:
            self._unlink(files)

    def csr_key(self, cert_type: str = STATION_TYPE) -> PrivateKeyTypes | None:
        from cryptography.hazmat.primitives import serialization

        row = self._conn.execute("SELECT key_file FROM certificates WHERE state='csr' AND certificate_type=?",
                                 (cert_type,)).fetchone()
        if row is None:
            return None
        return serialization.load_pem_private_key((self.directory / row[0]).read_bytes(), password=None)

    def set_pending_station_certificate(self, chain: Sequence[x509.Certificate]) -> None:
        """The signed certificate for the outstanding CSR: pending (with the CSR's key) until the next connection."""
        row = self._conn.execute("SELECT id, key_file FROM certificates WHERE state='csr' AND certificate_type=?",
                                 (STATION_TYPE,)).fetchone()
        if row is None:
            raise StoreError("no outstanding certificate signing request")
        file_name = self._write(f"station-{_fingerprint(chain[0])[:20]}.pem", _pem(chain), 0o644)
        old = self._conn.execute("SELECT cert_file, key_file FROM certificates WHERE state='pending'"
                                 " AND certificate_type=?", (STATION_TYPE,)).fetchall()
        with atomic(self._conn):
            self._conn.execute("DELETE FROM certificates WHERE state='pending' AND certificate_type=?",
                               (STATION_TYPE,))
            self._conn.execute("DELETE FROM certificates WHERE id=?", (row[0],))
            self._index(STATION_TYPE, "pending", file_name, row[1], chain)
        for files in old:
            self._unlink(files)

    def import_station_certificate(self, chain: Sequence[x509.Certificate], key: PrivateKeyTypes) -> None:
        """Make `chain` + `key` the active station certificate (factory provisioning, a config file)."""
        key_bytes = key_pem(key)
        key_file = self._write(f"station-{hashlib.sha256(key_bytes).hexdigest()[:20]}.key", key_bytes, 0o600)
        cert_file = self._write(f"station-{_fingerprint(chain[0])[:20]}.pem", _pem(chain), 0o644)
        old = self._conn.execute("SELECT cert_file, key_file FROM certificates WHERE state='active'"
                                 " AND certificate_type=?", (STATION_TYPE,)).fetchall()
        with atomic(self._conn):
            self._conn.execute("DELETE FROM certificates WHERE state='active' AND certificate_type=?",
                               (STATION_TYPE,))
            self._index(STATION_TYPE, "active", cert_file, key_file, chain)
        for files in old:
            if tuple(files) != (cert_file, key_file):
                self._unlink(files)

    def promote_pending(self) -> bool:
        """The pending certificate connected: it becomes the one in use, the old one is discarded (A02.FR.10)."""
        row = self._conn.execute("SELECT id FROM certificates WHERE state='pending' AND certificate_type=?",
                                 (STATION_TYPE,)).fetchone()
        if row is None:
            return False
        old = self._conn.execute("SELECT cert_file, key_file FROM certificates WHERE state='active'"
                                 " AND certificate_type=?", (STATION_TYPE,)).fetchall()
        with atomic(self._conn):
            self._conn.execute("DELETE FROM certificates WHERE state='active' AND certificate_type=?",
                               (STATION_TYPE,))
            self._conn.execute("UPDATE certificates SET state='active' WHERE id=?", (row[0],))
        for files in old:
            self._unlink(files)
        return True

    def discard_pending(self) -> bool:
        """The pending certificate never connected: drop it, keep the old one (A02.FR.28)."""
        rows = self._conn.execute("SELECT cert_file, key_file FROM certificates WHERE state='pending'"
                                  " AND certificate_type=?", (STATION_TYPE,)).fetchall()
        with atomic(self._conn):
            self._conn.execute("DELETE FROM certificates WHERE state='pending' AND certificate_type=?",
                               (STATION_TYPE,))
        for files in rows:
            self._unlink(files)
        return bool(rows)

    # ---- files ------------------------------------------------------------------------------------------
    def _index(self, cert_type: str, state: str, cert_file: str, key_file: str | None,
               chain: Sequence[x509.Certificate]) -> None:
        leaf = chain[0]
        self._conn.execute(
            "INSERT INTO certificates (certificate_type, state, cert_file, key_file, fingerprint, subject,"
            " issuer, serial, not_before, not_after, installed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (cert_type, state, cert_file, key_file, _fingerprint(leaf), leaf.subject.rfc4514_string(),
             leaf.issuer.rfc4514_string(), format(leaf.serial_number, "x"),
             leaf.not_valid_before_utc.isoformat(), leaf.not_valid_after_utc.isoformat(),
             self._now().isoformat()))

    def _write(self, file_name: str, data: bytes, mode: int) -> str:
        """Write `data` as `file_name` atomically (station/files.py: temp file, fsync, rename, fsync dir)."""
        try:
            write_atomically(self.directory / file_name, data, mode)
        except OSError as exc:
            raise StoreError(f"cannot write {file_name}: {exc.strerror or exc}") from None
        return file_name

    def _fsync_dir(self) -> None:
        fsync_dir(self.directory)

    def _unlink(self, files: Iterable[str | None]) -> None:
        referenced = self._referenced()
        for name in files:
            if name and name not in referenced:
                (self.directory / name).unlink(missing_ok=True)

    def _referenced(self) -> set[str]:
        rows = self._conn.execute("SELECT cert_file, key_file FROM certificates").fetchall()
        return {name for row in rows for name in row if name}

    def _refresh_bundle(self) -> None:
        roots = self.roots("CSMSRootCertificate")
        if roots:
            self._write(CSMS_BUNDLE, _pem(roots), 0o644)
        else:
            (self.directory / CSMS_BUNDLE).unlink(missing_ok=True)

    def _sweep(self) -> None:
        """Remove what an interrupted change left: temp files and files the index does not name."""
        referenced = self._referenced() | {CSMS_BUNDLE}
        swept = [path for path in self.directory.iterdir()
                 if path.is_file() and path.name not in referenced]
        for path in swept:
            path.unlink(missing_ok=True)
        if swept:
            log.warning("certificate store: removed %d file(s) of an interrupted change", len(swept))
        self._refresh_bundle()
