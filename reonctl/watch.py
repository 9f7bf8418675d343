"""`reonctl events [PREFIX]` (live tail of the bus) and `reonctl contract [SERVICE]`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from typing import Any

import click

from bus.client import BusClient
from bus.contract import all_contracts, load_contract
from station.config import StationConfig


def _line(topic: str, ts: float, body: Any) -> str:
    stamp = dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S.%f")[:-3]
    return f"{stamp} {topic} {json.dumps(body, ensure_ascii=False, default=str)}"


async def _tail(config: StationConfig, prefix: str, count: int | None, heartbeats: bool, as_json: bool) -> None:
    client = BusClient(config.paths.run_dir, "reonctl", strict=False)
    await client.start(wait_s=0)
    seen = 0
    try:
        async for topic, env in client.subscribe(prefix):
            if not heartbeats and topic.endswith(".hb"):
                continue
            if as_json:
                click.echo(json.dumps({"topic": topic, "ts": env.ts, "src": env.src, "seq": env.seq,
                                       "body": env.body}, default=str))
            else:
                click.echo(_line(topic, env.ts, env.body))
            seen += 1
            if count is not None and seen >= count:
                return
    finally:
        await client.close()


@click.command()
@click.argument("prefix", default="")
@click.option("-n", "--count", type=int, default=None, help="stop after this many messages")
@click.option("--heartbeats", is_flag=True, help="show heartbeats too")
@click.option("--json", "as_json", is_flag=True, help="one JSON object a line")
@click.pass_obj
def events(config: StationConfig, prefix: str, count: int | None, heartbeats: bool, as_json: bool) -> None:
    """Live, decoded tail of the bus (cached state first), e.g. `reonctl events evse_io.`."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_tail(config, prefix, count, heartbeats, as_json))


@click.command()
@click.argument("service", required=False)
def contract(service: str | None) -> None:
    """The declared contracts: state, events and commands of each service."""
    names = [service] if service else list(all_contracts())
    shown = 0
    for name in names:
        declared = load_contract(name)
        if declared is None:
            if service:
                raise click.ClickException(f"no contract for {service!r} (not installed?)")
            continue
        click.echo(declared.render() + "\n")
        shown += 1
    if not shown:
        raise click.ClickException("no contracts installed")
