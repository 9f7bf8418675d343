"""certificateHashData (part 2 CertificateHashDataType, as RFC 6960 CertID): the hash of the DER-encoded issuer
name, the hash of the issuer's public key (the BIT STRING value of its SubjectPublicKeyInfo, without tag, length
and unused-bits byte) and the serial number as hex without leading zeroes (M03.FR.03, M04.FR.01).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography import x509

HASH_ALGORITHMS = {"SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512"}
DEFAULT_ALGORITHM = "SHA256"


def _der_length(data: bytes, at: int) -> tuple[int, int]:
    """(length, offset of the content) of the DER element whose length octets start at `at`."""
    first = data[at]
    if first < 0x80:
        return first, at + 1
    count = first & 0x7F
    return int.from_bytes(data[at + 1:at + 1 + count], "big"), at + 1 + count


def public_key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING content of `cert` (what RFC 6960 issuerKeyHash hashes)."""
    from cryptography.hazmat.primitives import serialization

    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    _, at = _der_length(spki, 1)  # inside the outer SEQUENCE
    algorithm_len, algorithm_at = _der_length(spki, at + 1)  # AlgorithmIdentifier SEQUENCE
    at = algorithm_at + algorithm_len
    if spki[at] != 0x03:
        raise ValueError("SubjectPublicKeyInfo without a BIT STRING")
    bits_len, bits_at = _der_length(spki, at + 1)
    return spki[bits_at + 1:bits_at + bits_len]  # skip the unused-bits octet


def serial_hex(serial_number: int) -> str:
    """Serial number as lower-case hex without "0x" and without leading zeroes."""
    return format(serial_number, "x")


def find_issuer(cert: x509.Certificate, candidates: Iterable[x509.Certificate]) -> x509.Certificate | None:
    """The candidate that issued `cert` (name matches and the signature verifies); a self-signed cert is its own."""
    from cryptography.exceptions import InvalidSignature

    for candidate in (cert, *candidates):
        if candidate.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (InvalidSignature, ValueError, TypeError):  # a bad signature or an unsupported key type
            continue
        return candidate
    return None


def certificate_hash_data(cert: x509.Certificate, issuer: x509.Certificate | None,
                          algorithm: str = DEFAULT_ALGORITHM) -> dict[str, str]:
    """CertificateHashDataType of `cert`. Without a known issuer, the authority key identifier stands in for
    the issuer key hash (REON's best effort: the issuer is then not installed on the station)."""
    from cryptography import x509

    name = HASH_ALGORITHMS[algorithm]
    if issuer is not None:
        key_hash = hashlib.new(name, public_key_bits(issuer)).hexdigest()
    else:
        try:
            aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        except x509.ExtensionNotFound:
            aki = None
        key_hash = hashlib.new(name, aki or b"").hexdigest()
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": hashlib.new(name, cert.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": key_hash,
        "serialNumber": serial_hex(cert.serial_number),
    }


def matches(wanted: Mapping[str, Any], cert: x509.Certificate, issuer: x509.Certificate | None) -> bool:
    """Does the CSMS's certificateHashData name `cert`? Hex compared case-insensitively, serial numbers
    without leading zeroes; an unknown hash algorithm matches nothing."""
    algorithm = str(wanted.get("hashAlgorithm", ""))
    if algorithm not in HASH_ALGORITHMS:
        return False
    ours = certificate_hash_data(cert, issuer, algorithm)
    theirs_serial = str(wanted.get("serialNumber", "")).lower().lstrip("0") or "0"
    return (ours["issuerNameHash"] == str(wanted.get("issuerNameHash", "")).lower()
            and ours["issuerKeyHash"] == str(wanted.get("issuerKeyHash", "")).lower()
            and (ours["serialNumber"].lstrip("0") or "0") == theirs_serial)


def chain_hash_data(cert_type: str, chain: list[x509.Certificate], trusted: Iterable[x509.Certificate],
                    algorithm: str = DEFAULT_ALGORITHM) -> dict[str, Any]:
    """CertificateHashDataChainType: the leaf's hash data, the intermediates as childCertificateHashData
    (at most 4, M03.FR.05). Issuers are looked up in the chain, then in `trusted`."""
    pool = [*chain[1:], *trusted]
    entry: dict[str, Any] = {
        "certificateType": cert_type,
        "certificateHashData": certificate_hash_data(chain[0], find_issuer(chain[0], pool), algorithm),
    }
    children = [certificate_hash_data(cert, find_issuer(cert, pool), algorithm) for cert in chain[1:5]]
    if children:
        entry["childCertificateHashData"] = children
    return entry
