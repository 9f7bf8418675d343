"""Firmware signing material made in the test with `cryptography`: a manufacturer root (optionally an
intermediate) and signing certificates with ECDSA P-256/P-384 or RSA keys, and their signatures."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Authority:
    cert: x509.Certificate
    key: Any

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Signer:
    cert: x509.Certificate
    key: Any
    chain_pem: str  # the signing certificate, then any intermediate

    def sign(self, data: bytes, scheme: str = "default") -> str:
        """Base64 signature over SHA-256(data): ECDSA, RSA-PSS (default for RSA) or RSA PKCS#1 v1.5."""
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            raw = self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        elif scheme == "pkcs1v15":
            raw = self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
            raw = self.key.sign(data, pss, hashes.SHA256())
        return base64.b64encode(raw).decode()


def _key(kind: str) -> Any:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP384R1() if kind == "ec384" else ec.SECP256R1())


def _build(subject: str, key: Any, issuer: Authority | None, *, ca: bool, days: int = 30,
           expired: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    not_after = now - dt.timedelta(days=1) if expired else now + dt.timedelta(days=days)
    sign_key = issuer.key if issuer else key
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject)).issuer_name(issuer.cert.subject if issuer else _name(subject))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=2)).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return builder.sign(sign_key, hashes.SHA256())


def make_root(cn: str = "REWATT manufacturer root") -> Authority:
    key = _key("ec256")
    return Authority(_build(cn, key, None, ca=True), key)


def make_intermediate(root: Authority, cn: str = "REWATT firmware CA") -> Authority:
    key = _key("ec256")
    return Authority(_build(cn, key, root, ca=True), key)


def make_signer(issuer: Authority, kind: str = "ec256", *, expired: bool = False,
                chain: tuple[Authority, ...] = ()) -> Signer:
    key = _key(kind)
    cert = _build(f"REWATT firmware signer ({kind})", key, issuer, ca=False, expired=expired)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode() + "".join(a.pem for a in chain)
    return Signer(cert, key, pem)
