"""Test harness other tests reuse: an in-process broker on a temporary ipc directory, and a probe.

The probe is a bus client that awaits topics, stands in for absent services by implementing their
commands, and calls commands. Real zmq sockets throughout; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bus.broker import Broker
from bus.client import BusClient
from bus.contract import Command, Contract, load_contract, register_contract
from bus.envelope import Envelope
from bus.rpc import RpcServer


def short_run_dir() -> Path:
    """A fresh run directory with a path short enough for ipc:// sockets."""
    return Path(tempfile.mkdtemp(prefix="reon-", dir="/tmp"))


class BrokerThread:
    """The real broker, run in a thread of the test process."""

    def __init__(self, run_dir: Path, **kw: Any) -> None:
        self.run_dir = run_dir
        self.kw = kw
        self.broker: Broker | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> BrokerThread:
        self.broker = Broker(self.run_dir, **self.kw)
        self.thread = threading.Thread(target=self.broker.run, name="broker", daemon=True)
        self.thread.start()
        if not self.broker.ready.wait(5):
            raise RuntimeError("broker did not start")
        return self

    def stop(self) -> None:
        if self.broker and self.thread:
            self.broker.stop()
            self.thread.join(5)

    def restart(self) -> None:
        self.stop()
        self.start()


class Probe(BusClient):
    """A bus client for tests."""

    def __init__(self, run_dir: Path, src: str = "probe") -> None:
        super().__init__(run_dir, src, strict=True)
        self._servers: list[RpcServer] = []

    async def wait_for(self, prefix: str, predicate: Callable[[Envelope], bool] = lambda e: True,
                       timeout: float = 5.0) -> tuple[str, Envelope]:
        """The first message under `prefix` (cached state included) for which predicate holds."""
        sub = self.subscribe(prefix)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    topic, env = await sub.get()
                    if predicate(env):
                        return topic, env
        except TimeoutError:
            raise TimeoutError(f"nothing under {prefix!r} matched within {timeout}s") from None
        finally:
            sub.close()

    async def implement(self, service: str, handlers: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]],
                        contract: Contract | None = None) -> RpcServer:
        """Serve commands as if we were `service` (its real contract unless one is given)."""
        contract = contract or load_contract(service) or Contract(
            service, "stand-in", commands=tuple(Command(n, "any", "any", "stand-in") for n in handlers))
        register_contract(contract)
        server = RpcServer(self.run_dir, self.stamper, contract, handlers, self.ctx, strict=True)
        await server.start()
        self._servers.append(server)
        return server

    async def close(self) -> None:
        for server in self._servers:
            await server.close()
        await super().close()


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0, step: float = 0.01) -> None:
    """Poll a cheap condition that has no event to await (a file, a process table)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(step)


def remove_run_dir(run_dir: Path) -> None:
    shutil.rmtree(run_dir, ignore_errors=True)
