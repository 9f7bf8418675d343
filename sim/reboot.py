"""A stand-in for `systemctl reboot` in simulation: `python -m sim.reboot --config PATH [--no-restart]`.

Activates the slot the simulated installer filled (writes `<data_dir>/firmware_version` unless that image
cannot boot), records the reboot, then restarts the station's own programs through supervisord's XML-RPC
(stop in reverse start order, start in order; the simulators and the development CSMS keep running, as the
world outside a real station would). --no-restart stops after the version switch (tests restart in-process).
It runs detached from reon-firmware, so stopping that program does not stop the reboot.
"""

from __future__ import annotations

import argparse
import sys
import xmlrpc.client

from sim.firmware_slot import VERSION_FILE, read_slot, record, slot_path, write_atomic
from station.config import ConfigError, StationConfig, load_config


def activate_slot(config: StationConfig) -> str | None:
    """The version the station boots into now (None: no new image, or one that does not boot)."""
    slot = read_slot(config)
    slot_path(config).unlink(missing_ok=True)
    if not slot or not slot.get("boots", True):
        return None
    write_atomic(config.paths.data_dir / VERSION_FILE, f"{slot['version']}\n")
    return str(slot["version"])


def restart_station(config: StationConfig) -> None:
    from station.programs import configured_programs
    from station.supervisor import proxy

    names = [p.name for p in sorted(configured_programs(config), key=lambda p: p.priority) if not p.sim_only]
    server = proxy(config)
    for name in reversed(names):
        try:
            server.supervisor.stopProcess(name, True)
        except xmlrpc.client.Fault:  # not running, or unknown to supervisord
            continue
    for name in names:
        try:
            server.supervisor.startProcess(name, True)
        except xmlrpc.client.Fault:
            continue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sim-reboot")
    parser.add_argument("--config", required=True)
    parser.add_argument("--no-restart", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"bad config: {exc}", file=sys.stderr)
        return 2
    version = activate_slot(config)
    record(config, "reboot", version=version, restart=not args.no_restart)
    if args.no_restart:
        return 0
    try:
        restart_station(config)
    except OSError as exc:
        print(f"supervisord not reachable: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
