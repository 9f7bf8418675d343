"""Reading the running station: the broker's cached state (one `snapshot` call) and supervisord."""

from __future__ import annotations

import asyncio
from typing import Any

from bus.client import BusClient
from bus.config import StationConfig
from bus.rpc import RpcError


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
