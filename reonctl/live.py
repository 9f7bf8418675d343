"""Reading the running station: the broker's cached state (one `snapshot` call) and supervisord."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, NoReturn

import click

from bus.client import BusClient
from bus.rpc import RpcError, RpcTimeout
from station.config import StationConfig


async def _snapshot(config: StationConfig, prefix: str, deadline_s: float) -> dict[str, Any]:
    client = BusClient(config.paths.run_dir, "reonctl", strict=False)
    try:
        return (await client.rpc.call("bus", "snapshot", {"prefix": prefix}, deadline_s=deadline_s,
                                      idempotent=True))["state"]
    finally:
        client.rpc.close()


def snapshot(config: StationConfig, prefix: str = "", deadline_s: float = 1.5) -> dict[str, Any] | None:
    """Every cached state message {topic: {ts, src, body}}, or None when the broker does not answer."""
    try:
        return asyncio.run(_snapshot(config, prefix, deadline_s))
    except RpcError:
        return None


async def call(config: StationConfig, service: str, command: str, args: dict[str, Any],
               deadline_s: float = 5.0) -> Any:
    """Call a command of a running service from the CLI."""
    client = BusClient(config.paths.run_dir, "reonctl", strict=False)
    try:
        return await client.call(service, command, args, deadline_s=deadline_s)
    finally:
        client.rpc.close()


def call_or_exit(config: StationConfig, service: str, command: str, args: dict[str, Any], *,
                 deadline_s: float = 3.0, hint: str = "start it with `reonctl up`") -> Any:
    """A running service's answer for a CLI command; a clear line on stderr and exit 1 when it cannot be had."""
    program = f"reon-{service.replace('_', '-')}"
    if not (config.paths.run_dir / f"{service}.rpc").exists():
        _fail(service, f"{program} is not running for station {config.station.id} ({hint})")
    try:
        return asyncio.run(call(config, service, command, args, deadline_s=deadline_s))
    except RpcTimeout:
        _fail(service, f"{program} did not answer within {deadline_s:g} s (is the station running?)")
    except RpcError as exc:
        _fail(service, f"{service} {command} refused: {exc.code}: {exc.message}")


def _fail(service: str, message: str) -> NoReturn:
    click.echo(f"reonctl {service}: {message}", err=True)
    sys.exit(1)
