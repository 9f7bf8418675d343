"""The simulated station's second firmware slot, shared by sim/firmware_installer.py and sim/reboot.py.

The installer writes the image it installed into `<data_dir>/sim_firmware_slot.json` (the inactive slot);
the reboot activates it by writing `<data_dir>/firmware_version`, which the station reads at start. Both log
what they were asked, one JSON object a line, to `<run_dir>/sim/firmware.log`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from station.config import StationConfig

SLOT_FILE = "sim_firmware_slot.json"
VERSION_FILE = "firmware_version"  # the same name services/firmware/installer.py reads


def record(config: StationConfig, action: str, **details: Any) -> None:
    """Append one line to <run_dir>/sim/firmware.log."""
    path = config.sim_dir / "firmware.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps({"ts": time.time(), "action": action, **details}) + "\n")


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def slot_path(config: StationConfig) -> Path:
    return config.paths.data_dir / SLOT_FILE


def read_slot(config: StationConfig) -> dict[str, Any] | None:
    try:
        return json.loads(slot_path(config).read_text())
    except (OSError, ValueError):
        return None
