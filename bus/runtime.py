"""The one life every service has: start → publish all state → serve → clean stop on SIGTERM.

A service subclasses `Service`, declares `contract`, implements `start`/`stop` (and `run` if it has a main
loop) and one `cmd_<name>` coroutine per command. The runtime loads the station config (bad config: exit 2
with one line naming the key), logs to stdout, beats the heartbeat every `[bus] heartbeat_s` (and at once when
its problems change), re-publishes all state every 30 s and serves the commands.
A contract command without a handler stops the start (exit 3).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from bus.client import BusClient, Callback, Subscription
from bus.contract import Contract, ContractViolation
from bus.rpc import Handler, RpcServer
from station import health, scheduling
from station.config import ConfigError, StationConfig, load_config
from station.logs import setup_logging
from station.programs import scheduling_of
from station.storage import StorageError

REPUBLISH_S = 30.0
STOP_BUDGET_S = 1.5
DISK_CHECK_S = 10.0
DEGRADED_RETRY_S = 30.0


class Service:
    """Base class of every REON service."""

    contract: ClassVar[Contract]

    def __init__(self, config: StationConfig, bus: BusClient) -> None:
        self.config = config
        self.bus = bus
        self.log = logging.getLogger(self.contract.service)
        self.failed = asyncio.Event()

    # -- to override -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open devices and publish every state item once."""

    async def run(self) -> None:
        """The main loop, if the service has one; cancelled at stop."""

    async def stop(self) -> None:
        """Release devices; called once, with a budget of 1.5 s."""

    # -- helpers ---------------------------------------------------------------------------------------
    def handlers(self) -> dict[str, Handler]:
        """`cmd_<name>` methods, plus `extra_handlers` (e.g. a durable stream's replay and ack)."""
        out = dict(getattr(self, "extra_handlers", {}))
        for command in self.contract.commands:
            handler = getattr(self, f"cmd_{command.name}", None)
            if handler is not None:
                out[command.name] = handler
        return out

    async def publish_state(self, name: str, body: Any) -> None:
        await self.bus.publish_state(name, body)

    async def publish_event(self, name: str, body: Any) -> None:
        await self.bus.publish_event(name, body)

    def subscribe(self, prefix: str, callback: Callback | None = None) -> Subscription:
        return self.bus.subscribe(prefix, callback)

    async def call(self, service: str, command: str, args: dict[str, Any] | None = None, **kw: Any) -> Any:
        return await self.bus.call(service, command, args, **kw)


@contextlib.asynccontextmanager
async def running(cls: type[Service], config: StationConfig, *, heartbeat_s: float | None = None,
                  republish_s: float = REPUBLISH_S) -> AsyncIterator[Service]:
    """Run one service in this event loop (used by `main` and by tests; heartbeat_s: `[bus] heartbeat_s`)."""
    bus = BusClient(config.paths.run_dir, cls.contract.service, contract=cls.contract)
    await bus.start()
    health.check_disk(config.paths.data_dir)

    async def check_disk() -> None:
        await asyncio.to_thread(health.check_disk, config.paths.data_dir)  # statvfs off the event loop

    try:
        service = cls(config, bus)
    except BaseException:
        await bus.close()
        raise
    rpc = RpcServer(config.paths.run_dir, bus.stamper, cls.contract, service.handlers(), bus.ctx,
                    strict=bus.strict)
    tasks: list[asyncio.Task[Any]] = []
    try:
        await rpc.start()
        await service.start()
        tasks = [
            asyncio.create_task(_beat(bus, heartbeat_s or config.bus.heartbeat_s), name="heartbeat"),
            asyncio.create_task(_every(republish_s, bus.republish_all), name="republish"),
            asyncio.create_task(_every(DISK_CHECK_S, check_disk), name="disk"),
            asyncio.create_task(service.run(), name=f"{cls.contract.service}-run"),
        ]
        tasks[-1].add_done_callback(lambda task: _on_run_done(service, task))
        yield service
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        try:
            await asyncio.wait_for(service.stop(), STOP_BUDGET_S)
        except Exception:
            service.log.exception("stop did not finish cleanly")
        await rpc.close()
        await bus.close()


def _on_run_done(service: Service, task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        service.log.error("main loop crashed: %r", task.exception(), exc_info=task.exception())
        service.failed.set()


async def _beat(bus: BusClient, period_s: float) -> None:
    """The heartbeat every period_s, and at once when this process's problems change (a new one, or one
    cleared, shows in `reonctl status` now, not a period later)."""
    changed = asyncio.Event()
    loop = asyncio.get_running_loop()
    remove = health.on_change(lambda: loop.call_soon_threadsafe(changed.set))  # health may change in a thread
    try:
        if health.problems() != bus.beat_problems:  # e.g. a database set aside while the service started
            await bus.heartbeat()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period_s):
                    await changed.wait()
            changed.clear()
            try:
                await bus.heartbeat()
            except Exception:
                logging.getLogger("bus.runtime").exception("heartbeat failed")
    finally:
        remove()


async def _every(period_s: float, action: Any) -> None:
    while True:
        await asyncio.sleep(period_s)
        try:
            await action()
        except Exception:
            logging.getLogger("bus.runtime").exception("periodic %s failed", getattr(action, "__name__", action))


def main(cls: type[Service], argv: list[str] | None = None) -> int:
    """Console-script entry point of a service: `reon-<name> [--config PATH] [--log-format json]`."""
    name = cls.contract.service
    parser = argparse.ArgumentParser(prog=f"reon-{name.replace('_', '-')}", description=cls.contract.doc)
    parser.add_argument("--config", default=None, help="station config (default: $REON_CONFIG or deploy/)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    os.umask(0o077)  # every file a service makes is its own (databases, keys, logs): 0600 / 0700
    setup_logging(name, args.log_format)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"reon-{name}: bad config: {exc}", file=sys.stderr)
        return 2
    scheduling.apply(scheduling_of(name, config))
    try:
        failed = asyncio.run(_serve_until_signal(cls, config))
    except ContractViolation as exc:
        logging.getLogger(name).error("refusing to start: %s", exc)
        return 3
    except ConfigError as exc:  # a check the service itself makes of the file (e.g. device-model values)
        print(f"reon-{name}: bad config: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        logging.getLogger(name).error("cannot start: %s; retrying in %g s", exc, DEGRADED_RETRY_S)
        asyncio.run(_degraded(cls, config, str(exc)))
        return 1
    return 1 if failed else 0


async def _degraded(cls: type[Service], config: StationConfig, problem: str,
                    retry_s: float = DEGRADED_RETRY_S) -> None:
    """A service whose storage cannot be opened stays on the bus for a while, beating its heartbeat with the
    problem (so `reonctl status` says what is wrong), then exits for supervisord to try again: no tight
    restart loop, no traceback."""
    health.report("storage", problem, logged=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bus = BusClient(config.paths.run_dir, cls.contract.service, contract=cls.contract)
    await bus.start()
    beating = asyncio.create_task(_every(config.bus.heartbeat_s, bus.heartbeat))
    try:
        await bus.heartbeat()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), retry_s)
    finally:
        beating.cancel()
        await bus.close()


async def _serve_until_signal(cls: type[Service], config: StationConfig) -> bool:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log = logging.getLogger(cls.contract.service)
    async with running(cls, config) as service:
        log.info("%s started", cls.contract.service)
        stopping = asyncio.create_task(stop.wait())
        failing = asyncio.create_task(service.failed.wait())
        await asyncio.wait({stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        failing.cancel()
        log.info("stopping")
    log.info("stopped")
    return service.failed.is_set()
