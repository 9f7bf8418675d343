"""The simulated manufacturer signs images the way the firmware service checks them (services/firmware/signature.py)."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from services.firmware.signature import check_signing_certificate, load_roots, verify_signature
from sim.firmware_signing import SIGNING_KEY_FILE, ManufacturerPki


def test_a_signed_image_passes_the_station_checks_and_a_tampered_one_does_not(tmp_path: Path) -> None:
    pki = ManufacturerPki.ensure(tmp_path / "manufacturer" / "root.pem")
    image = tmp_path / "reon-0.2.0.raucb"
    image.write_bytes(b"\x00firmware image\x01" * 5000)
    fields = pki.sign_image(image)
    cert = check_signing_certificate(fields["signingCertificate"], load_roots(pki.root_file))
    assert verify_signature(cert, fields["signature"], hashlib.sha256(image.read_bytes()).digest())
    assert not verify_signature(cert, fields["signature"], hashlib.sha256(b"tampered").digest())


def test_the_manufacturer_root_is_made_once_and_its_key_is_private(tmp_path: Path) -> None:
    first = ManufacturerPki.ensure(tmp_path / "root.pem")
    again = ManufacturerPki.ensure(tmp_path / "root.pem")
    assert again.root == first.root and again.signing == first.signing
    assert stat.S_IMODE((tmp_path / SIGNING_KEY_FILE).stat().st_mode) == 0o600
