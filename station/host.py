"""Facts about the board every service may need: this boot's id and the firmware version running."""

from __future__ import annotations

from pathlib import Path

FIRMWARE_VERSION_FILE = "firmware_version"


def os_boot_id() -> str:
    """The kernel's id of this boot of the board (new after every reboot); empty where unknown."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""


def running_firmware_version(data_dir: Path, configured: str) -> str:
    """`<data_dir>/firmware_version` (written by the booted image after an update) if present, else the config's."""
    try:
        text = (Path(data_dir) / FIRMWARE_VERSION_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return configured
    return text[:50] or configured
