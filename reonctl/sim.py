"""`reonctl sim …`: drive the simulated world (reon-sim) of a running station: EVs, cards, faults, meters, modem.

Each command calls one command of the sim service over the bus (`reonctl contract sim`) and prints one line;
a station that is not running, or a refusal, prints why and exits 1.
"""

from __future__ import annotations

import json
from typing import Any

import click

from reonctl import live
from station.config import StationConfig

DEADLINE_S = 3.0
CABLES_A = ("13", "20", "32", "70")


def call_sim(config: StationConfig, command: str, args: dict[str, Any]) -> Any:
    """The sim service's answer; a clear message and exit 1 when it is not running or refuses."""
    return live.call_or_exit(config, "sim", command, args, deadline_s=DEADLINE_S,
                                hint="start it with `reonctl up`; it runs only with [sim] enabled = true")


def describe_evse(world: dict[str, Any]) -> str:
    """One readable line of an EVSE's world."""
    if world["ev_plugged"]:
        ev = f"EV plugged ({world['cable_a']} A cable, max {world['ev_max_current_a']:g} A" + (
            ", paused)" if world["ev_paused"] else ")")
    else:
        ev = "no EV"
    duty = world["pwm_duty_pct"]
    pwm = "PWM off" if duty >= 100 else "state F" if duty == 0 else (
        f"PWM {duty:g} % ({world['offered_current_a']:g} A)")
    relays = "relays closed" if world["relays_closed"] else "relays open"
    meter = "no meter" if world["meter_unit_id"] is None else (
        f"meter {world['meter_model']}@{world['meter_unit_id']} {'online' if world['meter_online'] else 'OFFLINE'}")
    faults = ", ".join(world["faults"]) or "none"
    return (f"EVSE {world['evse']}: {ev}, CP {world['cp_state']}, {pwm}, {relays}, "
            f"{world['current_a']:g} A x{world['phases']}, {world['energy_wh']:.1f} Wh, faults: {faults}, {meter}")


def describe_modem(modem: dict[str, Any] | None) -> str:
    if modem is None:
        return "modem: not enabled"
    stat = {0: "not registered", 1: "registered (home)", 2: "searching", 3: "denied", 5: "roaming"}
    return (f"modem ({modem['profile']}): {'present' if modem['present'] else 'GONE'}, "
            f"SIM {'present' if modem['sim_present'] else 'missing'}, "
            f"{stat.get(modem['registration'], modem['registration'])}, rssi {modem['rssi']}"
            + (", silent" if modem["silent"] else ""))


def _evse_command(config: StationConfig, command: str, args: dict[str, Any]) -> None:
    click.echo(describe_evse(call_sim(config, command, args)))


@click.group()
def sim() -> None:
    """Drive the simulated world (reon-sim): EVs, RFID cards, faults, meters, modem."""


@sim.command()
@click.argument("evse", type=int)
@click.option("--cable-a", type=click.Choice(CABLES_A), default=None, help="the cable's PP rating (A)")
@click.pass_obj
def plug(config: StationConfig, evse: int, cable_a: str | None) -> None:
    """Plug an EV into EVSE (A→B); it requests power once PWM is offered."""
    _evse_command(config, "plug", {"evse": evse, "cable_a": int(cable_a) if cable_a else None})


@sim.command()
@click.argument("evse", type=int)
@click.pass_obj
def unplug(config: StationConfig, evse: int) -> None:
    """Unplug the EV (→A)."""
    _evse_command(config, "unplug", {"evse": evse})


@sim.command("ev-pause")
@click.argument("evse", type=int)
@click.pass_obj
def ev_pause(config: StationConfig, evse: int) -> None:
    """The EV stops requesting power (C→B)."""
    _evse_command(config, "ev_pause", {"evse": evse})


@sim.command("ev-resume")
@click.argument("evse", type=int)
@click.pass_obj
def ev_resume(config: StationConfig, evse: int) -> None:
    """The EV requests power again (B→C)."""
    _evse_command(config, "ev_resume", {"evse": evse})


@sim.command("set-ev-max-current")
@click.argument("evse", type=int)
@click.argument("amps", type=click.FloatRange(0, 80))
@click.pass_obj
def set_ev_max_current(config: StationConfig, evse: int, amps: float) -> None:
    """The most current the EV draws per phase."""
    _evse_command(config, "set_ev_max_current", {"evse": evse, "amps": amps})


@sim.command()
@click.argument("evse", type=int)
@click.argument("token")
@click.pass_obj
def swipe(config: StationConfig, evse: int, token: str) -> None:
    """Present a card to EVSE's RFID reader: TOKEN is its UID, like 04A1B2C3."""
    result = call_sim(config, "swipe", {"evse": evse, "token": token})
    how = "presented" if result["delivered"] else "NOT delivered (reader gone or not read)"
    click.echo(f"EVSE {result['evse']}: card {result['token']} {how}")


@sim.command()
@click.argument("evse", type=int)
@click.argument("kind")
@click.pass_obj
def fault(config: StationConfig, evse: int, kind: str) -> None:
    """Inject a fault on EVSE's MCU board: rcd, diode, over-current, … (reon-sim refuses an unknown KIND)."""
    _evse_command(config, "fault", {"evse": evse, "kind": kind})


@sim.command("clear-fault")
@click.argument("evse", type=int)
@click.argument("kind", required=False)
@click.pass_obj
def clear_fault(config: StationConfig, evse: int, kind: str | None) -> None:
    """Clear one fault, or all of them."""
    _evse_command(config, "clear_fault", {"evse": evse, "kind": kind})


@sim.command("meter-offline")
@click.argument("evse", type=int)
@click.pass_obj
def meter_offline(config: StationConfig, evse: int) -> None:
    """EVSE's meter stops answering on the RS-485 bus."""
    _evse_command(config, "meter_offline", {"evse": evse})


@sim.command("meter-online")
@click.argument("evse", type=int)
@click.pass_obj
def meter_online(config: StationConfig, evse: int) -> None:
    """EVSE's meter answers again."""
    _evse_command(config, "meter_online", {"evse": evse})


@sim.command()
@click.argument("action")
@click.option("--rssi", type=int, default=None, help="with signal: +CSQ rssi 0..31 or 99")
@click.pass_obj
def modem(config: StationConfig, action: str, rssi: int | None) -> None:
    """Drive the simulated modem: no-sim, signal --rssi 9, unregister, vanish, … (reon-sim refuses others)."""
    click.echo(describe_modem(call_sim(config, "modem", {"action": action.replace("-", "_"), "rssi": rssi})))


@sim.command()
@click.option("--json", "as_json", is_flag=True, help="the whole world as JSON")
@click.pass_obj
def state(config: StationConfig, as_json: bool) -> None:
    """What the simulated world looks like now: one line per EVSE, and the modem."""
    world = call_sim(config, "state", {})
    if as_json:
        click.echo(json.dumps(world, indent=2))
        return
    for evse in world["evses"]:
        click.echo(describe_evse(evse))
    click.echo(describe_modem(world["modem"]))
