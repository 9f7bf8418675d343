"""`reonctl ocpp …`: the station's CSMS link (reon-ocpp): disconnect, connect, dead letters, charging profiles.

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


@ocpp.command()
@click.argument("evse", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="the whole answer as JSON")
@click.pass_obj
def profiles(config: StationConfig, evse: int | None, as_json: bool) -> None:
    """Smart charging: the installed charging profiles, the limit applied and the composite schedule of the
    next 24 h of each EVSE (of EVSE only)."""
    reply = call_ocpp(config, "profiles", {} if evse is None else {"evse": evse})
    if as_json:
        click.echo(json.dumps(reply, indent=2, ensure_ascii=False))
        return
    click.echo(describe_profiles(reply))


def describe_profiles(reply: dict[str, Any]) -> str:
    """The `profiles` answer as text: station profiles, then per EVSE its limit, profiles and composite."""
    lines = [f"station: {_profile_line(p)}" for p in reply["station_profiles"]]
    for evse in reply["evses"]:
        limit = evse["limit"] or {}
        current_a = limit.get("current_a")
        applied = "no limit beyond the EVSE's own" if current_a is None else f"{current_a:g} A"
        origin = f" ({limit.get('purpose')} #{limit.get('profile_id')})" if limit.get("profile_id") else ""
        lines.append(f"EVSE {evse['evse']}: {applied}{origin}")
        lines += [f"  {_profile_line(p)}" for p in evse["profiles"]]
        schedule = evse["composite"]
        periods = ", ".join(f"+{p['startPeriod']}s {p['limit']:g} {schedule['chargingRateUnit']}"
                            for p in schedule["chargingSchedulePeriod"])
        lines.append(f"  composite from {schedule['scheduleStart']}: {periods}")
    return "\n".join(lines)


def _profile_line(profile: dict[str, Any]) -> str:
    tx = f" tx {profile['transactionId']}" if profile.get("transactionId") else ""
    return (f"#{profile['id']} {profile['chargingProfilePurpose']} stack {profile['stackLevel']}"
            f" {profile['chargingProfileKind']}{tx}")
