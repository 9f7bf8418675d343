"""A throw-away PKI for TLS tests (security profiles 2 and 3), made with `cryptography`.

EC P-256 keys keep generation fast. `make_pki(directory)` writes PEM files and returns their paths:
- ca: the CSMS root CA the station trusts (ca_key: its key)
- server: CSMS certificate for 127.0.0.1 / localhost, signed by ca
- client: station certificate (CN = serial number), signed by ca
- rogue_server: a server certificate from an unknown CA
- expired_server, wrong_host_server: signed by ca, but expired / for another host name
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class CertFiles:
    cert: str
    key: str


@dataclass(frozen=True)
class Pki:
    ca: str
    server: CertFiles
    client: CertFiles
    rogue_server: CertFiles
    expired_server: CertFiles
    wrong_host_server: CertFiles
    ca_key: str = ""  # the CSMS root's key, for a test CSMS that signs the station's CSR


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> str:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return str(path)


def _write_cert(path: Path, cert: x509.Certificate) -> str:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(_name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    directory: Path,
    stem: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    common_name: str,
    *,
    hosts: tuple[str, ...] = (),
    client: bool = False,
    expired: bool = False,
) -> CertFiles:
    issuer_cert, issuer_key = issuer
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    not_after = now - dt.timedelta(days=1) if expired else now + dt.timedelta(days=30)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(issuer_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=2)).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client
                                              else ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                       critical=False)
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    return CertFiles(_write_cert(directory / f"{stem}.pem", cert), _write_key(directory / f"{stem}.key", key))


def make_pki(directory: Path) -> Pki:
    """Write a CA, server and client certificates (and bad ones) into `directory`."""
    ca = _ca("REON test CSMS root")
    rogue_ca = _ca("Rogue root")
    local = ("127.0.0.1", "localhost")
    return Pki(
        ca=_write_cert(directory / "ca.pem", ca[0]),
        ca_key=_write_key(directory / "ca.key", ca[1]),
        server=_leaf(directory, "server", ca, "csms.test", hosts=local),
        client=_leaf(directory, "client", ca, "REON-SERIAL-0001", client=True),
        rogue_server=_leaf(directory, "rogue", rogue_ca, "csms.test", hosts=local),
        expired_server=_leaf(directory, "expired", ca, "csms.test", hosts=local, expired=True),
        wrong_host_server=_leaf(directory, "wronghost", ca, "other.example", hosts=("other.example",)),
    )


def server_tls_context(pki: Pki, cert: CertFiles | None = None, *, client_ca: bool = False) -> ssl.SSLContext:
    """A CSMS-side context; with client_ca it asks for (and verifies) a client certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    chosen = cert or pki.server
    context.load_cert_chain(chosen.cert, chosen.key)
    if client_ca:
        context.load_verify_locations(cafile=pki.ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context
