"""Firmware signing certificate and signature checks (L01.FR.02/03/04), with `cryptography`, no bus here.

The signing certificate (PEM, optionally followed by intermediates) must chain to a certificate of the
manufacturer root file, every link within its validity period and every issuer a CA. The signature (base64)
is over the SHA-256 of the whole image: ECDSA P-256/P-384 (DER, or raw r||s as some CSMSs send), RSA-PSS,
and RSA PKCS#1 v1.5 when allowed (older CSMSs). The digest comes from the download (download.py), or from
`download.sha256_file` after a restart: the image is never held in memory.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

MAX_CHAIN = 6
_CURVES = {"secp256r1": 32, "secp384r1": 48}
MIN_RSA_BITS = 2048


class CertificateError(Exception):
    """The signing certificate is unusable; the message says why (security event techInfo)."""


def load_roots(path: Path | None) -> list[x509.Certificate]:
    """The manufacturer root certificate(s); CertificateError when none is configured or readable."""
    if path is None:
        raise CertificateError("no manufacturer root certificate configured")
    try:
        roots = x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise CertificateError(f"manufacturer root {path} unreadable: {exc}") from None
    if not roots:
        raise CertificateError(f"manufacturer root {path} holds no certificate")
    return roots


def trusted_roots(path: Path | None, installed_pems: list[object]) -> tuple[list[x509.Certificate], list[str]]:
    """The roots to trust: those of the configured file and those the CSMS installed (PEM strings), with the
    problems met (an unreadable file, a PEM that is no certificate); CertificateError when none is usable."""
    roots: list[x509.Certificate] = []
    problems: list[str] = []
    if path is not None:
        try:
            roots += load_roots(path)
        except CertificateError as exc:
            problems.append(str(exc))
    for index, pem in enumerate(installed_pems):
        try:
            if not isinstance(pem, str):
                raise ValueError(f"a {type(pem).__name__}, not PEM text")
            roots += x509.load_pem_x509_certificates(pem.encode())
        except ValueError as exc:
            problems.append(f"installed manufacturer root {index} unreadable: {exc}")
    if not roots:
        raise CertificateError("; ".join(problems) or "no manufacturer root certificate configured or installed")
    return roots, problems


def check_signing_certificate(pem: str, roots: list[x509.Certificate],
                              now: dt.datetime | None = None) -> x509.Certificate:
    """The signing certificate, once it chains to one of `roots`; else CertificateError."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        chain = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise CertificateError(f"signing certificate is not PEM X.509: {exc}") from None
    leaf = chain[0]
    _check_key(leaf)
    usage = _extension(leaf, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        raise CertificateError("signing certificate may not sign (keyUsage without digitalSignature)")
    current, intermediates = leaf, chain[1:]
    for _ in range(MAX_CHAIN):
        _check_validity(current, now)
        root = next((r for r in roots if _issued_by(current, r)), None)
        if root is not None:
            _check_validity(root, now)
            return leaf
        issuer = next((c for c in intermediates if _issued_by(current, c)), None)
        if issuer is None:
            raise CertificateError(f"{_cn(current)} is not issued by the manufacturer root")
        if not _is_ca(issuer):
            raise CertificateError(f"{_cn(issuer)} is not a CA")
        intermediates = [c for c in intermediates if c is not issuer]
        current = issuer
    raise CertificateError("certificate chain too long")


def verify_signature(cert: x509.Certificate, signature_b64: str, sha256_digest: bytes, *,
                     allow_rsa_pkcs1v15: bool = True) -> bool:
    """True when `signature_b64` is the certificate key's signature over the image's SHA-256."""
    try:
        signature = base64.b64decode("".join(signature_b64.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    key = cert.public_key()
    prehashed = utils.Prehashed(hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePublicKey):
        candidates = [signature]
        size = _CURVES.get(key.curve.name, 0)
        if size and len(signature) == 2 * size:  # raw r||s
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            candidates.append(utils.encode_dss_signature(r, s))
        return any(_ok(lambda sig=sig: key.verify(sig, sha256_digest, ec.ECDSA(prehashed)))
                   for sig in candidates)
    if isinstance(key, rsa.RSAPublicKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        if _ok(lambda: key.verify(signature, sha256_digest, pss, prehashed)):
            return True
        return allow_rsa_pkcs1v15 and _ok(lambda: key.verify(signature, sha256_digest, padding.PKCS1v15(),
                                                             prehashed))
    return False


def _ok(check: object) -> bool:
    try:
        check()  # type: ignore[operator]
        return True
    except (InvalidSignature, ValueError):
        return False


def _check_key(cert: x509.Certificate) -> None:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:
            raise CertificateError(f"unsupported curve {key.curve.name} (P-256 or P-384)")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CertificateError(f"RSA key of {key.key_size} bits is too short (at least {MIN_RSA_BITS})")
    else:
        raise CertificateError(f"unsupported key type {type(key).__name__}")


def _check_validity(cert: x509.Certificate, now: dt.datetime) -> None:
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise CertificateError(f"{_cn(cert)} is not valid now (valid {cert.not_valid_before_utc:%Y-%m-%d} to"
                               f" {cert.not_valid_after_utc:%Y-%m-%d})")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _is_ca(cert: x509.Certificate) -> bool:
    constraints = _extension(cert, x509.BasicConstraints)
    return bool(constraints and constraints.ca)


def _extension(cert: x509.Certificate, kind: type) -> object | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _cn(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return f"'{names[0].value}'" if names else cert.subject.rfc4514_string() or "certificate"
