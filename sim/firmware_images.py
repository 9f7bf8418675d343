"""The simulated manufacturer's download server: firmware images made on request, signed with its PKI.

With `[firmware] manufacturer_root` set, the manufacturer root named there and its signing certificate are
made once (sim/firmware_signing.py) and every image is signed, so a secure update (L01) works out of the box;
`prepare(config)` makes them before any service starts (`reonctl up` runs it as the sim's config check).
Images live in `<sim_dir>/images`, served over HTTP on a free loopback port (sim/file_server.py); uploads
(GetLog) land in `<sim_dir>/uploads`. An image is `reon-<version>.raucb`: a `version=<v>` line the simulated
installer reads, an optional fault marker (sim/firmware_installer.py), then random bytes.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from sim.contract import IMAGE_FAULTS as FAULTS
from sim.file_server import FileServer
from sim.firmware_signing import ManufacturerPki
from station.config import ConfigError, StationConfig

log = logging.getLogger("reon.sim.firmware")

IMAGE_BYTES = 256 * 1024
VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,31}")
FAULT_MARKERS = {"fail-install": "sim:fail-install", "no-boot": "sim:no-boot"}


class ImageError(Exception):
    """A request for an image the simulated manufacturer refuses; the message says why."""


def prepare(config: StationConfig) -> ManufacturerPki | None:
    """The simulated manufacturer of `[firmware] manufacturer_root`, made when the root is not there yet; None
    without a root or when the root is someone else's (no signing key beside it). ConfigError when it cannot
    be made."""
    root_file = config.firmware.manufacturer_root
    if not config.sim.enabled or root_file is None:
        return None
    try:
        return ManufacturerPki.ensure(root_file)
    except FileNotFoundError:
        log.warning("%s has no signing.pem/signing.key beside it: simulated images are not signed", root_file)
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError("firmware.manufacturer_root", f"the simulated manufacturer cannot use it: {exc}") from None


class FirmwareImages:
    """Start, `make(version)` per update, stop."""

    def __init__(self, config: StationConfig) -> None:
        self.config = config
        self.directory = config.sim_dir / "images"
        self.pki: ManufacturerPki | None = None
        self.server: FileServer | None = None

    def start(self) -> None:
        try:
            self.pki = prepare(self.config)
        except ConfigError as exc:
            log.error("%s: images are not signed", exc)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.server = FileServer(self.directory, upload_dir=self.config.sim_dir / "uploads").start()
        log.info("firmware images at %s (%s)", self.server.url(""),
                 f"signed under {self.pki.root_file}" if self.pki else "unsigned")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def url(self) -> str | None:
        return self.server.url("") if self.server else None

    def make(self, version: str, *, fault: str = "none", signed: bool = True) -> dict[str, Any]:
        """A new image of `version` on the server: its location and, signed, signingCertificate and signature."""
        if self.server is None:
            raise ImageError("the image server is not running")
        if not VERSION.fullmatch(version):
            raise ImageError(f"version {version[:40]!r}: 1-32 of letters, digits, '.', '_', '-'")
        if fault not in FAULTS:
            raise ImageError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        if signed and self.pki is None:
            raise ImageError("no manufacturer to sign with: set [firmware] manufacturer_root (or ask unsigned)")
        name = f"reon-{version}.raucb"
        head = f"version={version}\n{FAULT_MARKERS.get(fault, '')}\n".encode()
        path = self.directory / name
        temp = path.with_name(f".{name}.tmp")
        temp.write_bytes(head + os.urandom(IMAGE_BYTES))
        os.replace(temp, path)
        found: dict[str, Any] = {"location": self.server.url(name), "size_bytes": path.stat().st_size}
        if signed and self.pki is not None:
            found.update(self.pki.sign_image(path))
            if fault == "bad-signature":
                found["signature"] = _other_signature(self.pki, path)
        return found


def _other_signature(pki: ManufacturerPki, image: Path) -> str:
    """A valid signature of other bytes: what a tampered image looks like to the station."""
    other = image.with_name(f".{image.name}.other")
    other.write_bytes(image.read_bytes()[::-1])
    try:
        return pki.sign_image(other)["signature"]
    finally:
        other.unlink()
