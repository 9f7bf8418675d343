"""`reonctl csms …`: drive the development CSMS (sim mode) through its control socket `<run_dir>/csms.sock`.

`call ACTION 'JSON'` sends a CSMS→station CALL and prints the station's answer; `update-firmware VERSION` has
the simulated manufacturer (reon-sim) make a signed image of VERSION and sends UpdateFirmware for it (L01,
signingCertificate + signature); `messages [ACTION]` lists what
the station sent; `stations` lists the connected stations; `transactions` shows each transaction rebuilt from the
TransactionEvents the station sent; `token TOKEN STATUS [--group G]` sets how the CSMS answers for a card;
`reserve TOKEN [--evse N] [--minutes M]` and `cancel-reservation ID` make and end reservations (H01, H02).
The CSMS program runs under supervisord in sim mode (`python -m sim.csms --config <station file>`: port,
password and control socket from the station config).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from reonctl.sim import call_sim
from sim.contract import IMAGE_FAULTS
from station.config import StationConfig

SOCKET_NAME = "csms.sock"


def request(path: str, command: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """One command on the development CSMS's control socket: one JSON object per line each way."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(path)
        sock.sendall(json.dumps(command).encode() + b"\n")
        with sock.makefile("rb") as replies:
            return json.loads(replies.readline())


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


#: the purposes `profile` takes (sim/csms/profiles.py checks them again; reonctl does not import sim)
PURPOSES = ("ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile")


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


@csms.command("update-firmware")
@click.argument("version")
@click.option("--request-id", type=int, default=None, help="UpdateFirmware requestId (default: from the clock)")
@click.option("--unsigned", is_flag=True, help="no signingCertificate/signature (L02; refused by a station with a"
                                                " manufacturer root)")
@click.option("--fault", type=click.Choice(IMAGE_FAULTS), default="none", show_default=True,
              help="an image whose install fails, that does not boot, or whose signature is of other bytes")
@click.option("--retries", type=int, default=None, help="download retries")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="seconds to wait for the answer")
@click.pass_obj
def update_firmware(config: StationConfig, version: str, request_id: int | None, unsigned: bool, fault: str,
                    retries: int | None, timeout: float) -> None:
    """Update the station to VERSION with a new image from the simulated manufacturer, signed under
    [firmware] manufacturer_root, e.g. `reonctl csms update-firmware 0.2.0`; follow it with
    `reonctl firmware status`."""
    image = call_sim(config, "firmware_image", {"version": version, "fault": fault, "signed": not unsigned})
    firmware = {"location": image["location"],
                "retrieveDateTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    for field in ("signingCertificate", "signature"):
        if image.get(field):
            firmware[field] = image[field]
    payload: dict[str, Any] = {"requestId": int(dt.datetime.now().timestamp()) % 1_000_000_000
                               if request_id is None else request_id, "firmware": firmware}
    if retries is not None:
        payload["retries"] = retries
    result = ask(config, {"cmd": "call", "station": config.station.id, "action": "UpdateFirmware",
                          "payload": payload, "timeout": timeout, "validate": True}, timeout_s=timeout + 5)
    signed = "signed" if "signature" in firmware else "unsigned"
    click.echo(f"UpdateFirmware {payload['requestId']}: {image['location']} ({signed}) → "
               + json.dumps(result, ensure_ascii=False))


@csms.command()
@click.argument("evse", type=int)
@click.argument("periods")
@click.option("--id", "profile_id", type=int, default=1, show_default=True, help="chargingProfile id")
@click.option("--purpose", type=click.Choice(PURPOSES), default="TxDefaultProfile", show_default=True)
@click.option("--stack-level", type=int, default=0, show_default=True)
@click.option("--unit", type=click.Choice(["A", "W"]), default="A", show_default=True)
@click.option("--tx", "transaction_id", help="transactionId (a TxProfile needs it)")
@click.option("--relative", is_flag=True, help="Relative to the transaction start (default: Absolute from now)")
@click.pass_obj
def profile(config: StationConfig, evse: int, periods: str, profile_id: int, purpose: str, stack_level: int,
            unit: str, transaction_id: str | None, relative: bool) -> None:
    """SetChargingProfile on EVSE (0: the station) with PERIODS "LIMIT" or "START_S:LIMIT,…", e.g.
    `reonctl csms profile 1 0:32,600:10,1200:16 --purpose TxProfile --tx <id>`."""
    result = ask(config, {"cmd": "charging_profile", "station": config.station.id, "evse": evse,
                          "periods": periods, "id": profile_id, "purpose": purpose, "stack_level": stack_level,
                          "unit": unit, "transaction_id": transaction_id, "relative": relative})
    click.echo(json.dumps(result, indent=2, ensure_ascii=False))


@csms.command("clear-profile")
@click.argument("profile_id", type=int)
@click.pass_obj
def clear_profile(config: StationConfig, profile_id: int) -> None:
    """ClearChargingProfile by id."""
    result = ask(config, {"cmd": "call", "station": config.station.id, "action": "ClearChargingProfile",
                          "payload": {"chargingProfileId": profile_id}})
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


ID_TOKEN_STATUSES = ("Accepted", "Blocked", "ConcurrentTx", "Expired", "Invalid", "NoCredit", "NotAllowedTypeEVSE",
                     "NotAtThisLocation", "NotAtThisTime", "Unknown")


@csms.command()
@click.argument("token")
@click.argument("status", type=click.Choice(ID_TOKEN_STATUSES))
@click.option("--group", help="groupIdToken the CSMS returns with it (e.g. the MasterPassGroupId)")
@click.pass_obj
def token(config: StationConfig, token: str, status: str, group: str | None) -> None:
    """How the CSMS answers Authorize / TransactionEvent for card TOKEN from now on, e.g.
    `reonctl csms token 04A1B2C3 Blocked`."""
    ask(config, {"cmd": "set_token", "id_token": token, "status": status, "group_id": group})
    click.echo(f"{token}: {status}" + (f" (group {group})" if group else ""))


@csms.command()
@click.option("--json", "as_json", is_flag=True, help="the whole records as a JSON list")
@click.pass_obj
def transactions(config: StationConfig, as_json: bool) -> None:
    """The station's transactions, rebuilt from the TransactionEvents it sent: seqNos, start, end, energy."""
    found = ask(config, {"cmd": "transactions", "station": config.station.id})
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("no TransactionEvent received")
    for tx in found:
        energy = "-" if tx["energy_wh"] is None else f"{tx['energy_wh']:.1f} Wh"
        problems = [f"missing seqNo {tx['missing_seq_nos']}"] if tx["missing_seq_nos"] else []
        problems += [f"seqNo received twice {tx['duplicate_seq_nos']}"] if tx["duplicate_seq_nos"] else []
        click.echo(f"{tx['transaction_id']}  EVSE {tx['evse']}  card {tx['id_token'] or '-'}  seqNo {_span(tx)}"
                   f"  {tx['started_at'] or '?'} → {tx['ended_at'] or 'ongoing'}"
                   f"{' (' + tx['stopped_reason'] + ')' if tx['stopped_reason'] else ''}  {energy}"
                   f"  offline events {tx['offline_events']}" + (f"  {'; '.join(problems)}" if problems else ""))


@csms.command()
@click.argument("token")
@click.option("--evse", type=int, help="the EVSE to reserve (default: any EVSE)")
@click.option("--minutes", type=float, default=15.0, show_default=True, help="until expiryDateTime")
@click.option("--id", "reservation_id", type=int, help="reservation id (default: a new one; an existing id replaces)")
@click.option("--group", help="groupIdToken: cards of this group may use the reservation too")
@click.option("--connector-type", help="ConnectorEnumType, e.g. sType2")
@click.pass_obj
def reserve(config: StationConfig, token: str, evse: int | None, minutes: float, reservation_id: int | None,
            group: str | None, connector_type: str | None) -> None:
    """Reserve an EVSE for card TOKEN (ReserveNow), e.g. `reonctl csms reserve 04A1B2C3 --evse 1 --minutes 30`."""
    result = ask(config, {"cmd": "reserve", "station": config.station.id, "id_token": token, "evse": evse,
                          "minutes": minutes, "reservation_id": reservation_id, "group_id": group,
                          "connector_type": connector_type})
    sent, response = result["request"], result["response"]
    where = f"EVSE {sent['evseId']}" if "evseId" in sent else "any EVSE"
    reason = (response.get("statusInfo") or {}).get("reasonCode")
    click.echo(f"reservation {sent['id']} for {token} on {where} until {sent['expiryDateTime']}: "
               f"{response['status']}" + (f" ({reason})" if reason else ""))
    if response["status"] != "Accepted":
        sys.exit(1)


@csms.command("cancel-reservation")
@click.argument("reservation_id", type=int)
@click.pass_obj
def cancel_reservation(config: StationConfig, reservation_id: int) -> None:
    """Cancel reservation RESERVATION_ID (CancelReservation)."""
    response = ask(config, {"cmd": "cancel_reservation", "station": config.station.id,
                            "reservation_id": reservation_id})
    click.echo(f"reservation {reservation_id}: {response['status']}")
    if response["status"] != "Accepted":
        sys.exit(1)


def _span(tx: dict[str, Any]) -> str:
    seq_nos = sorted(set(tx["seq_nos"]))
    return f"{seq_nos[0]}..{seq_nos[-1]}" if seq_nos else "-"
