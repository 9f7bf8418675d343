"""Checks on certificates the CSMS sends: PEM parsing, validity period, CA flag, and the chain walk to an
installed root (A02.FR.06, M05.FR.03). Every failure is a `CertificateInvalid` whose message is the techInfo.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

MAX_CHAIN_DEPTH = 6


class CertificateInvalid(Exception):
    """The certificate (chain) is unusable; the message says why."""


def parse_pem_chain(text: str, *, max_bytes: int) -> list[x509.Certificate]:
    """Certificates of a PEM text, leaf first; CertificateInvalid when it is too long or holds none."""
    from cryptography import x509

    data = text.encode("utf-8", "replace")
    if len(data) > max_bytes:
        raise CertificateInvalid(f"{len(data)} bytes, more than the {max_bytes} allowed")
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise CertificateInvalid("not a PEM certificate")
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateInvalid(f"not a valid PEM certificate: {exc}") from None
    if not chain:
        raise CertificateInvalid("no certificate in the PEM text")
    return chain


def check_period(cert: x509.Certificate, now: dt.datetime) -> None:
    """Now within [notBefore, notAfter] (errata 2025-01: a certificate valid only in the future is refused)."""
    if now < cert.not_valid_before_utc:
        raise CertificateInvalid(f"not valid before {cert.not_valid_before_utc.isoformat()}")
    if now > cert.not_valid_after_utc:
        raise CertificateInvalid(f"expired on {cert.not_valid_after_utc.isoformat()}")


def is_ca(cert: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def check_root(cert: x509.Certificate, now: dt.datetime) -> None:
    """A certificate the station may install as a root (M05): in its validity period and a CA."""
    check_period(cert, now)
    if not is_ca(cert):
        raise CertificateInvalid("not a CA certificate (basicConstraints cA is not set)")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature

    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def verify_chain(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: dt.datetime) -> None:
    """The leaf chains through the given intermediates to one of `roots`: names and signatures match, every
    link is in its validity period and every issuer is a CA."""
    if not roots:
        raise CertificateInvalid("no root certificate installed to verify against")
    intermediates = list(chain[1:])
    current = chain[0]
    check_period(current, now)
    for _ in range(MAX_CHAIN_DEPTH):
        root = next((r for r in roots if _issued_by(current, r)), None)
        if root is not None:
            check_period(root, now)
            if not is_ca(root):
                raise CertificateInvalid("the root is not a CA certificate")
            return
        issuer = next((c for c in intermediates if _issued_by(current, c)), None)
        if issuer is None:
            raise CertificateInvalid(f"issuer {current.issuer.rfc4514_string()} not found or signature invalid")
        check_period(issuer, now)
        if not is_ca(issuer):
            raise CertificateInvalid(f"intermediate {issuer.subject.rfc4514_string()} is not a CA")
        intermediates.remove(issuer)
        current = issuer
    raise CertificateInvalid(f"chain longer than {MAX_CHAIN_DEPTH}")
