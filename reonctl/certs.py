"""`reonctl certs`: the certificates in the station's store (reon-ocpp): type, subject, issuer and expiry.

Calls the ocpp service's `certificates` command (services/ocpp_client/contract.py); a station that is not
running prints why and exits 1.
"""

from __future__ import annotations

import json

import click

from reonctl.ocpp import call_ocpp
from station.config import StationConfig


@click.command()
@click.option("--json", "as_json", is_flag=True, help="the whole records as JSON")
@click.pass_obj
def certs(config: StationConfig, as_json: bool) -> None:
    """List the installed certificates: CSMS, manufacturer, V2G and MO roots, the station certificate."""
    found = call_ocpp(config, "certificates", {})["certificates"]
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    click.echo(f"{len(found)} certificate(s)")
    for entry in found:
        pending = " (pending: used from the next connection)" if entry["state"] == "pending" else ""
        click.echo(f"{entry['type']}{pending}\n  subject {entry['subject']}\n  issuer  {entry['issuer']}\n"
                   f"  expires {entry['not_after']}")
