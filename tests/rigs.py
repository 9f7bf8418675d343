"""Rigs shared by the service tests: the broker + simulator + probe stack, and a log line to await.

- `station_bus(config)`: the station's broker (in a thread) and a probe client on its run dir; on exit the
  probe is closed, the broker stopped and the run dir removed. A rig enters it on the `rig_stack` fixture
  (tests/conftest.py, an AsyncExitStack closed after the test) and pushes its simulators' stop after it, so
  everything is torn down in reverse order whatever the test did.
- `LogWatch(logger, text)`: an async context manager whose `seen` event is set when `logger` logs a line at
  ERROR or above containing `text` (a test awaits the line instead of sleeping).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from bus.harness import BrokerThread, Probe, remove_run_dir
from station.config import StationConfig


@contextlib.asynccontextmanager
async def station_bus(config: StationConfig, **broker_options: Any) -> AsyncIterator[Probe]:
    """The station's broker and a started probe; `broker_options` go to BrokerThread (heartbeat 0.2 s unless
    given)."""
    run_dir = config.paths.run_dir
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(remove_run_dir, run_dir)
        stack.callback(BrokerThread(run_dir, **{"heartbeat_s": 0.2, **broker_options}).start().stop)
        probe = Probe(run_dir)
        await probe.start()
        stack.push_async_callback(probe.close)
        yield probe


class LogWatch(logging.Handler):
    """Sets `seen` when `logger` logs a line at `level` or above containing `text`; `messages` are those lines."""

    def __init__(self, logger: str, text: str, level: int = logging.ERROR) -> None:
        super().__init__(level)
        self.logger, self.text = logging.getLogger(logger), text
        self.seen = asyncio.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.messages.append(record.getMessage())
            self.seen.set()

    async def wait(self, timeout_s: float = 5.0) -> list[str]:
        await asyncio.wait_for(self.seen.wait(), timeout_s)
        return self.messages

    async def __aenter__(self) -> LogWatch:
        self.logger.addHandler(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
