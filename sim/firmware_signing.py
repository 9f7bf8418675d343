"""The simulated manufacturer: its root certificate, its firmware signing certificate, and signed images.

`ManufacturerPki.ensure(root_file)` makes them once (EC P-256; the root at `root_file`, `signing.pem` and
`signing.key` (0600) beside it) and loads them afterwards, so the station's `[firmware] manufacturer_root`
names the same root across restarts; a root that is there without its signing files is never replaced.
`sign_image(path)` gives the UpdateFirmware fields: signingCertificate (PEM) and signature (base64
DER ECDSA over the image's SHA-256, L01.FR.03/04), as a manufacturer's build server would.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

from station.files import write_atomically

SIGNING_FILE, SIGNING_KEY_FILE = "signing.pem", "signing.key"
ROOT_DAYS, SIGNING_DAYS = 3650, 1825
CHUNK_BYTES = 1 << 20


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "REWATT (simulated)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class ManufacturerPki:
    root: x509.Certificate
    signing: x509.Certificate
    signing_key: ec.EllipticCurvePrivateKey
    root_file: Path

    @classmethod
    def ensure(cls, root_file: Path) -> ManufacturerPki:
        """Load the manufacturer's PKI of `root_file`, making it first when the root is not there. FileNotFoundError
        when the root is there without the signing files beside it (someone else's root: nothing to sign with);
        ValueError when a file is not what it should be."""
        directory = root_file.parent
        directory.mkdir(parents=True, exist_ok=True)
        files = [root_file, directory / SIGNING_FILE, directory / SIGNING_KEY_FILE]
        if not root_file.exists():
            cls._make(root_file)
        key = serialization.load_pem_private_key(files[2].read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{files[2]} is not an EC private key")
        return cls(x509.load_pem_x509_certificate(files[0].read_bytes()),
                   x509.load_pem_x509_certificate(files[1].read_bytes()), key, root_file)

    @staticmethod
    def _make(root_file: Path) -> None:
        directory = root_file.parent
        now = dt.datetime.now(dt.UTC)
        root_key, signing_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        root = (x509.CertificateBuilder().subject_name(_name("REWATT simulated manufacturer root"))
                .issuer_name(_name("REWATT simulated manufacturer root")).public_key(root_key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=ROOT_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .sign(root_key, hashes.SHA256()))
        signing = (x509.CertificateBuilder().subject_name(_name("REWATT simulated firmware signing"))
                   .issuer_name(root.subject).public_key(signing_key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=SIGNING_DAYS))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False, key_agreement=False,
                                                key_cert_sign=False, crl_sign=False, encipher_only=False,
                                                decipher_only=False), critical=True)
                   .sign(root_key, hashes.SHA256()))
        pem = serialization.Encoding.PEM
        write_atomically(directory / SIGNING_KEY_FILE, signing_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
        write_atomically(directory / SIGNING_FILE, signing.public_bytes(pem), 0o644)
        write_atomically(root_file, root.public_bytes(pem), 0o644)  # last: its presence means "complete"

    def sign_image(self, image: Path) -> dict[str, str]:
        """signingCertificate and signature of UpdateFirmware's `firmware` for this image."""
        digest = hashlib.sha256()
        with open(image, "rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                digest.update(chunk)
        signature = self.signing_key.sign(digest.digest(), ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        return {"signingCertificate": self.signing.public_bytes(serialization.Encoding.PEM).decode("ascii"),
                "signature": base64.b64encode(signature).decode("ascii")}
