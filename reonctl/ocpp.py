"""`reonctl ocpp …`: the station's CSMS link (reon-ocpp): disconnect, connect, dead letters.

Each command calls one command of the ocpp service (services/ocpp_client/contract.py); a station that is not
running, or a refusal, prints why and exits 1.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from reonctl import live
from station.config import StationConfig

DEADLINE_S = 10.0


def call_ocpp(config: StationConfig, command: str, args: dict[str, Any]) -> Any:
    """The ocpp service's answer; a clear message and exit 1 when it is not running or refuses."""
    return live.call_or_exit(config, "ocpp", command, args, deadline_s=DEADLINE_S)


def describe_link(state: dict[str, Any]) -> str:
    """One readable line of `ocpp.state.csms`."""
    link = "connected" if state["connected"] else ("held down" if state["held_down"] else "not connected")
    return (f"CSMS {state['url']}: {link}, registration {state['registration']}, "
            f"queue {state['queue_depth']}, dead letters {state['dead_letters']}")


def _time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@click.group()
def ocpp() -> None:
    """The CSMS link of the station (reon-ocpp)."""


@ocpp.command()
@click.pass_obj
def disconnect(config: StationConfig) -> None:
    """Drop the CSMS link and keep it down until `reonctl ocpp connect`."""
    click.echo(describe_link(call_ocpp(config, "disconnect", {})))


@ocpp.command()
@click.pass_obj
def connect(config: StationConfig) -> None:
    """Connect to the CSMS now (ends a `disconnect`)."""
    click.echo(describe_link(call_ocpp(config, "connect", {})))


@ocpp.command("dead-letters")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="the whole records as JSON")
@click.pass_obj
def dead_letters(config: StationConfig, limit: int, as_json: bool) -> None:
    """Queued messages that exhausted their attempts, newest first."""
    reply = call_ocpp(config, "dead_letters", {"limit": limit})
    if as_json:
        click.echo(json.dumps(reply, indent=2, ensure_ascii=False))
        return
    click.echo(f"{reply['count']} dead letter(s)")
    for letter in reply["dead_letters"]:
        click.echo(f"#{letter['id']} {letter['action']} ({letter['kind'] or '-'}) queued {_time(letter['queued_at'])},"
                   f" gave up {_time(letter['died_at'])} after {letter['attempts']} attempt(s): {letter['error']}")
