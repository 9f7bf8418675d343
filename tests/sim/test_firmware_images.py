"""The simulated manufacturer's image server: images signed as reon-firmware checks them, served over HTTP."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509

from services.firmware.signature import check_signing_certificate, load_roots, verify_signature
from sim.firmware_images import FirmwareImages, ImageError, prepare
from station.config import load_config
from tests.stations import write_station


def images(tmp_path: Path, root: Path | None) -> FirmwareImages:
    extra = f'[firmware]\nmanufacturer_root = "{root}"\n' if root else ""
    return FirmwareImages(load_config(write_station(tmp_path, sim=True, extra=extra)))


def verified(root: Path, image: dict) -> bool:
    data = urllib.request.urlopen(image["location"], timeout=5).read()
    cert = check_signing_certificate(image["signingCertificate"], load_roots(root))
    return verify_signature(cert, image["signature"], hashlib.sha256(data).digest())


def test_images_are_signed_under_the_configured_root_and_served(tmp_path: Path) -> None:
    root = tmp_path / "manufacturer" / "root.pem"
    server = images(tmp_path, root)
    server.start()
    try:
        image = server.make("0.2.0")
        assert image["location"].endswith("/reon-0.2.0.raucb") and verified(root, image)
        assert not verified(root, server.make("0.2.1", fault="bad-signature"))
        assert "signature" not in server.make("0.2.2", signed=False)
        with pytest.raises(ImageError):
            server.make("../etc/passwd")
    finally:
        server.stop()
    assert (root.parent / "signing.key").stat().st_mode & 0o777 == 0o600


def test_the_manufacturer_is_made_once_and_a_foreign_root_is_never_replaced(tmp_path: Path) -> None:
    root = tmp_path / "m" / "root.pem"
    config = load_config(write_station(tmp_path, sim=True, extra=f'[firmware]\nmanufacturer_root = "{root}"\n'))
    first = prepare(config)
    assert first is not None and prepare(config).root == first.root  # type: ignore[union-attr]
    foreign = tmp_path / "foreign" / "root.pem"
    foreign.parent.mkdir()
    foreign.write_bytes(root.read_bytes())
    config = load_config(write_station(tmp_path, sim=True, extra=f'[firmware]\nmanufacturer_root = "{foreign}"\n'))
    assert prepare(config) is None  # no signing key beside it: nothing to sign with
    assert x509.load_pem_x509_certificate(foreign.read_bytes()) == first.root


def test_without_a_root_only_unsigned_images_are_made(tmp_path: Path) -> None:
    server = images(tmp_path, None)
    server.start()
    try:
        assert "signature" not in server.make("0.2.0", signed=False)
        with pytest.raises(ImageError, match="manufacturer_root"):
            server.make("0.2.0")
    finally:
        server.stop()
