"""`reonctl firmware status`: the firmware job of a running station, from the bus's cached state.

Reads `firmware.state.job` and `firmware.state.install_pending` (services/firmware/contract.py); a station
whose broker does not answer, or whose firmware service never published, prints why and exits 1.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from reonctl import live
from station.config import StationConfig


@click.group()
def firmware() -> None:
    """Firmware update and log upload (reon-firmware)."""


def _megabytes(value: Any) -> str:
    return f"{value / 1e6:.1f} MB" if isinstance(value, (int, float)) else "?"


def render(job: dict[str, Any], pending: dict[str, Any]) -> str:
    lines = [f"Firmware {job.get('version')} running"]
    if job.get("request_id") is None:
        lines.append("Update   none")
    else:
        lines.append(f"Update   request {job['request_id']}: {job.get('status')} (step {job.get('step')})")
        lines.append(f"         {job.get('location')}  target version {job.get('target_version') or 'unknown'}")
        if job.get("downloaded_bytes") is not None:
            lines.append(f"         downloaded {_megabytes(job['downloaded_bytes'])} of"
                         f" {_megabytes(job.get('total_bytes'))}")
    idle = job.get("transactions_idle")
    lines.append(f"Transactions {'idle' if idle else 'running' if idle is False else 'unknown (counted as running)'};"
                 f" install pending: {'yes' if pending.get('pending') else 'no'}")
    if job.get("log_request_id") is not None:
        lines.append(f"Log upload request {job['log_request_id']}: {job.get('log_status')}")
    return "\n".join(lines)


@firmware.command("status")
@click.option("--json", "as_json", is_flag=True, help="the cached state as JSON")
@click.pass_obj
def status(config: StationConfig, as_json: bool) -> None:
    """The firmware job: running version, last status, step, download progress, log upload."""
    cache = live.snapshot(config, "firmware.state.")
    if cache is None:
        click.echo(f"reonctl firmware: the bus of station {config.station.id} does not answer (is it up?)", err=True)
        sys.exit(1)
    job = (cache.get("firmware.state.job") or {}).get("body")
    pending = (cache.get("firmware.state.install_pending") or {}).get("body") or {}
    if not job:
        click.echo("reonctl firmware: reon-firmware has not published its job yet (is it running?)", err=True)
        sys.exit(1)
    click.echo(json.dumps({"job": job, "install_pending": pending}, indent=2) if as_json else render(job, pending))
