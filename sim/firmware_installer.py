"""A stand-in for `rauc install` in simulation: `python -m sim.firmware_installer --config PATH [--version V] BUNDLE`.

Records the request, then "installs" the bundle into the inactive slot (sim/firmware_slot.py). The version is
--version, else a `version=<v>` line in the bundle's first 4 KiB, else `sim-<size>`. Markers in the first
4 KiB make failures on purpose: `sim:fail-install` exits 3 (InstallationFailed), `sim:no-boot` installs an
image the reboot cannot start (InstallVerificationFailed), `sim:wait-fifo=<path>` blocks until a line can be
read from that FIFO (tests hold the install there).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from sim.firmware_slot import record, slot_path, write_atomic
from station.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sim-firmware-installer")
    parser.add_argument("--config", required=True)
    parser.add_argument("--version", default="")
    parser.add_argument("bundle")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"bad config: {exc}", file=sys.stderr)
        return 2
    bundle = Path(args.bundle)
    try:
        with bundle.open("rb") as f:
            head = f.read(4096).decode("latin-1")
        size = bundle.stat().st_size
    except OSError as exc:
        record(config, "install", bundle=str(bundle), error=str(exc))
        print(f"cannot read the bundle: {exc}", file=sys.stderr)
        return 1
    found = re.search(r"^version=(\S+)", head, re.MULTILINE)
    version = args.version or (found.group(1) if found else f"sim-{size}")
    fifo = re.search(r"sim:wait-fifo=(\S+)", head)
    if fifo:
        with open(fifo.group(1)) as f:
            f.readline()
    if "sim:fail-install" in head:
        record(config, "install", bundle=str(bundle), version=version, size=size, exit=3)
        print("simulated installation failure", file=sys.stderr)
        return 3
    boots = "sim:no-boot" not in head
    write_atomic(slot_path(config), json.dumps({"version": version, "bundle": str(bundle), "boots": boots}))
    record(config, "install", bundle=str(bundle), version=version, size=size, exit=0)
    print(f"installed {version} into the inactive slot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
