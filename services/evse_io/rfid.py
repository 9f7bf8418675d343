"""Serial RFID reader: one card UID in hex per line -> an OCPP IdToken dict.

The reader sends e.g. ``04A1B2C3\\r\\n``; spaces, colons and lowercase are tolerated. Anything else (non-hex,
a length that is not a 4/7/10-byte ISO/IEC 14443-3 UID, an endless line, bytes that are not ASCII) is
counted and skipped with a log line. A card held on the reader repeats its UID; repeats within
``debounce_s`` of the last sighting are dropped, so one presentation is one token.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from station.serial_port import SerialPort

log = logging.getLogger(__name__)

UID_BYTE_LENGTHS = (4, 7, 10)  # ISO/IEC 14443-3 single, double and triple size UIDs
MAX_LINE_BYTES = 128
TOKEN_TYPE = "ISO14443"
_LINE_END = re.compile(rb"[\r\n]")
_SEPARATORS = re.compile(r"[\s:]+")
_HEX = re.compile(r"[0-9A-F]+")
_LOGGED_REJECTS = 10  # log every reject up to this many, then one in a hundred


@dataclass
class RfidStats:
    """Counters of what the reader has sent."""

    tokens: int = 0
    rejected_lines: int = 0
    repeats_suppressed: int = 0


def parse_uid_line(line: bytes | str) -> dict[str, str]:
    """The IdToken for one line (without its line end); ValueError saying why when it is not a UID."""
    if isinstance(line, bytes):
        try:
            line = line.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError("not ASCII") from None
    uid = _SEPARATORS.sub("", line).upper()
    if not _HEX.fullmatch(uid):
        raise ValueError("not hexadecimal")
    if len(uid) // 2 not in UID_BYTE_LENGTHS or len(uid) % 2:
        raise ValueError(f"{len(uid)} hex digits is not a 4, 7 or 10 byte UID")
    return {"idToken": uid, "type": TOKEN_TYPE}


class RfidLineParser:
    """Splits the byte stream into lines and turns each into a token, counting what it rejects."""

    def __init__(self, debounce_s: float = 2.0) -> None:
        self.debounce_s = debounce_s
        self.stats = RfidStats()
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long line: drop bytes up to its end
        self._last_uid: str | None = None
        self._last_seen = 0.0

    def feed(self, data: bytes, now: float) -> list[dict[str, str]]:
        """Tokens completed by ``data``; ``now`` is monotonic seconds (for the repeat filter)."""
        tokens = []
        self._buffer += data
        while True:
            match = _LINE_END.search(self._buffer)
            if match is None:
                break
            line = bytes(self._buffer[: match.start()])
            del self._buffer[: match.end()]
            if self._discarding:
                self._discarding = False
                continue
            token = self._line(line, now)
            if token is not None:
                tokens.append(token)
        if len(self._buffer) > MAX_LINE_BYTES:
            self._reject(bytes(self._buffer[:32]) + b"...", f"no line end within {MAX_LINE_BYTES} bytes")
            self._buffer.clear()
            self._discarding = True
        return tokens

    def _line(self, line: bytes, now: float) -> dict[str, str] | None:
        if not line.strip():
            return None
        try:
            token = parse_uid_line(line)
        except ValueError as exc:
            self._reject(line, str(exc))
            return None
        uid = token["idToken"]
        repeat = uid == self._last_uid and now - self._last_seen < self.debounce_s
        self._last_uid, self._last_seen = uid, now
        if repeat:
            self.stats.repeats_suppressed += 1
            return None
        self.stats.tokens += 1
        return token

    def _reject(self, line: bytes, why: str) -> None:
        self.stats.rejected_lines += 1
        count = self.stats.rejected_lines
        if count <= _LOGGED_REJECTS or count % 100 == 0:
            log.warning("RFID reader: skipped line %r: %s (%d skipped so far)", line[:40], why, count)


class RfidReader:
    """Reads tokens from a serial RFID reader on the event loop; the port (station/serial_port.py) is reopened
    with exponential back-off when it fails (unplugged USB reader, closed pseudo-terminal)."""

    def __init__(
        self,
        port: str,
        on_token: Callable[[dict[str, str]], Any],
        *,
        baudrate: int = 9600,
        debounce_s: float = 2.0,
        reopen_min_s: float = 0.2,
        reopen_max_s: float = 5.0,
    ) -> None:
        self.port = port
        self._on_token = on_token
        self.parser = RfidLineParser(debounce_s)
        self._serial = SerialPort(port, baudrate, name=f"RFID reader {port}", on_data=self._on_data,
                                  on_open=self._opened, on_close=self._closed, reopen_min_s=reopen_min_s,
                                  reopen_max_s=reopen_max_s)
        self._connected = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._disconnected.set()
        self._callbacks: set[asyncio.Task[Any]] = set()

    @property
    def stats(self) -> RfidStats:
        return self.parser.stats

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the port is open (TimeoutError after ``timeout`` seconds)."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def wait_disconnected(self, timeout: float | None = None) -> None:
        """Wait until the port is closed (TimeoutError after ``timeout`` seconds)."""
        await asyncio.wait_for(self._disconnected.wait(), timeout)

    async def start(self) -> None:
        self._serial.start()

    async def stop(self) -> None:
        await self._serial.stop()
        self._closed(None)

    def _opened(self) -> None:
        self._serial.mark_good()  # no protocol to prove the reader good: an open port is enough
        self._disconnected.clear()
        self._connected.set()

    def _closed(self, reason: str | None) -> None:
        self._connected.clear()
        self._disconnected.set()

    def _on_data(self, data: bytes) -> None:
        for token in self.parser.feed(data, asyncio.get_running_loop().time()):
            self._deliver(token)
    def _deliver(self, token: dict[str, str]) -> None:
        try:
            result = self._on_token(token)
        except Exception:
            log.exception("RFID reader: on_token failed for %s", token["idToken"])
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._callbacks.add(task)
            task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Task[Any]) -> None:
        self._callbacks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("RFID reader: on_token failed: %r", task.exception())
