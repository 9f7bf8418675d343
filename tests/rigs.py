"""Rigs shared by the service tests: a log line to await, and the broker + simulator + probe stack.

- `LogWatch(logger, text)`: an async context manager whose `seen` event is set when `logger` logs a line at
  ERROR or above containing `text` (a test awaits the line instead of sleeping).
"""

from __future__ import annotations

import asyncio
import logging


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
