"""Certificates made in the test: roots, intermediates, leaves, CSR signing (EC P-256 keeps it fast)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def issue(common_name: str, issuer: Issued | None = None, *, ca: bool = True, expired: bool = False,
          future: bool = False, subject: x509.Name | None = None, key: ec.EllipticCurvePrivateKey | None = None,
          public_key: object = None, serial: int | None = None, days: int = 30) -> Issued:
    """A certificate signed by `issuer` (self-signed without one)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    start = now() + dt.timedelta(days=2) if future else now() - dt.timedelta(days=3)
    end = now() - dt.timedelta(days=1) if expired else now() + dt.timedelta(days=days)
    name = subject or _name(common_name)
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(issuer.cert.subject if issuer else name)
        .public_key(public_key or key.public_key())  # type: ignore[arg-type]
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def sign_csr(csr_pem: str, issuer: Issued, **options: object) -> Issued:
    """What the CSMS's CA does with the station's CSR: a leaf with its subject and key."""
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid
    return issue("", issuer, ca=False, subject=csr.subject, public_key=csr.public_key(), **options)  # type: ignore[arg-type]


def chain_pem(*issued: Issued) -> str:
    return "".join(item.pem for item in issued)
