"""Splits the modem's byte stream into text lines, discarding over-long and garbage lines: no I/O here.

Lines end at CR or LF (an echoed command ends in CR alone, replies in CR LF); empty lines are skipped.
A line is garbage when it is not printable ASCII once stray whitespace and NUL bytes at its ends are removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE_BYTES = 1024
_TERMINATOR = re.compile(rb"[\r\n]")
_PREVIEW_BYTES = 40


@dataclass(frozen=True)
class Discarded:
    """A line that was dropped: `reason` is "overlong" or "garbage"; `preview` its first bytes."""

    reason: str
    preview: bytes


class LineReader:
    """Feed bytes in, get complete lines (str) and `Discarded` records out, in stream order."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._max = max_line_bytes
        self._buffer = bytearray()
        self._skipping = False  # inside the tail of an over-long line, until its terminator

    def feed(self, data: bytes) -> list[str | Discarded]:
        self._buffer.extend(data)
        out: list[str | Discarded] = []
        while True:
            match = _TERMINATOR.search(self._buffer)
            if match is None:
                if len(self._buffer) > self._max:
                    if not self._skipping:
                        out.append(Discarded("overlong", bytes(self._buffer[:_PREVIEW_BYTES])))
                    self._skipping = True
                    self._buffer.clear()
                return out
            raw = bytes(self._buffer[: match.start()])
            del self._buffer[: match.end()]
            if self._skipping:
                self._skipping = False
                continue
            item = self._line(raw)
            if item is not None:
                out.append(item)

    def _line(self, raw: bytes) -> str | Discarded | None:
        if len(raw) > self._max:
            return Discarded("overlong", raw[:_PREVIEW_BYTES])
        raw = raw.strip(b" \t\x00")
        if not raw:
            return None
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            return Discarded("garbage", raw[:_PREVIEW_BYTES])
        if not text.isprintable():
            return Discarded("garbage", raw[:_PREVIEW_BYTES])
        return text
