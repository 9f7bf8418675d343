"""`reonctl csms …`: drive the development CSMS (sim mode) through its control socket `<run_dir>/csms.sock`.

`call ACTION 'JSON'` sends a CSMS→station CALL and prints the station's answer; `messages [ACTION]` lists what
the station sent; `stations` lists the connected stations. The CSMS program runs under supervisord in sim mode
(`python -m sim.csms --config <station file>`: port, password and control socket from the station config).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from bus.config import StationConfig
from sim.csms.control import request

SOCKET_NAME = "csms.sock"


def control_path(config: StationConfig) -> Path:
    return config.paths.run_dir / SOCKET_NAME


def ask(config: StationConfig, command: dict[str, Any], timeout_s: float = 40.0) -> Any:
    """The dev CSMS's answer to one control command; a clear message and exit 1 on failure."""
    path = control_path(config)
    if not path.exists():
        _fail(f"the development CSMS is not running for station {config.station.id} (no {path}; it runs under"
              " `reonctl up` with [sim] enabled = true)")
    try:
        reply = request(str(path), command, timeout_s)
    except (OSError, ValueError) as exc:
        _fail(f"no answer from the development CSMS: {exc}")
    if not reply.get("ok"):
        error = reply.get("error") or {}
        details = error.get("details")
        _fail(f"{error.get('code')}: {error.get('message')}" + (f" {json.dumps(details)}" if details else ""))
    return reply.get("result")


def _fail(message: str) -> NoReturn:
    click.echo(f"reonctl csms: {message}", err=True)
    sys.exit(1)


@click.group()
def csms() -> None:
    """The development CSMS (sim mode): send calls to the station, read what it sent."""


@csms.command()
@click.argument("action")
@click.argument("payload", default="{}")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="seconds to wait for the answer")
@click.option("--no-validate", is_flag=True, help="send even if the payload breaks the OCPP schema")
@click.pass_obj
def call(config: StationConfig, action: str, payload: str, timeout: float, no_validate: bool) -> None:
    """Send ACTION with PAYLOAD (JSON) to the station and print its answer, e.g.
    `reonctl csms call Reset '{"type": "Immediate"}'`."""
    try:
        body = json.loads(payload)
    except ValueError as exc:
        _fail(f"PAYLOAD is not JSON: {exc}")
    if not isinstance(body, dict):
        _fail("PAYLOAD must be a JSON object")
    result = ask(config, {"cmd": "call", "station": config.station.id, "action": action, "payload": body,
                          "timeout": timeout, "validate": not no_validate}, timeout_s=timeout + 5)
    click.echo(json.dumps(result, indent=2, ensure_ascii=False))


@csms.command()
@click.argument("action", required=False)
@click.option("--since", type=int, default=0, help="from this message index")
@click.option("--json", "as_json", is_flag=True, help="one JSON record a line")
@click.pass_obj
def messages(config: StationConfig, action: str | None, since: int, as_json: bool) -> None:
    """What the station sent to the CSMS (optionally one ACTION only)."""
    records = ask(config, {"cmd": "messages", "station": config.station.id, "action": action, "since": since})
    for record in records:
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=False))
            continue
        stamp = dt.datetime.fromtimestamp(record["time"], dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        payload = json.dumps(record["payload"], ensure_ascii=False, separators=(",", ":"))
        click.echo(f"{record['index']:>5} {stamp} {record['kind']:<6} {record['action'] or '?'} {payload}")


@csms.command()
@click.pass_obj
def stations(config: StationConfig) -> None:
    """The stations connected to the development CSMS."""
    for station_id in ask(config, {"cmd": "stations"}):
        click.echo(station_id)
