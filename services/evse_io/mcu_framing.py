"""Frames of the pilot-MCU serial link: ``COBS(protobuf || CRC32 LE) || 0x00`` (docs/hardware.md §1).

The CRC is the reflected 0xEDB88320 CRC32 with initial value 0xFFFFFFFF and no final XOR (CRC-32/JAMCRC),
i.e. the bitwise NOT of ``zlib.crc32``. Without a final XOR, the CRC run over message+CRC is zero: that is
how the receiver checks a frame. Bad input from the peer is counted and skipped, never raised.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from typing import Generic, TypeVar

from cobs import cobs
from google.protobuf.message import DecodeError, Message

log = logging.getLogger("reon.evse_io.mcu")

FRAME_DELIMITER = 0x00
CRC_BYTES = 4
DEFAULT_MAX_FRAME_BYTES = 1024

MessageT = TypeVar("MessageT", bound=Message)


def crc32_jam(data: bytes) -> int:
    """CRC32, reflected poly 0xEDB88320, init 0xFFFFFFFF, no final XOR."""
    return ~zlib.crc32(data) & 0xFFFFFFFF


def encode_frame(message: Message) -> bytes:
    """One wire frame for ``message``, delimiter included."""
    body = message.SerializeToString()
    return cobs.encode(body + crc32_jam(body).to_bytes(CRC_BYTES, "little")) + bytes([FRAME_DELIMITER])


@dataclass
class FrameStats:
    """Counters of what the decoder saw; bad frames are dropped and counted here."""

    frames_ok: int = 0
    bad_cobs: int = 0
    bad_crc: int = 0
    undecodable: int = 0
    over_long: int = 0
    no_payload: int = 0

    @property
    def frames_bad(self) -> int:
        return self.bad_cobs + self.bad_crc + self.undecodable + self.over_long + self.no_payload


class FrameDecoder(Generic[MessageT]):
    """Streaming decoder: feed arbitrary byte chunks, get the good messages back.

    ``message_type`` is ``McuToEverest`` on the host and ``EverestToMcu`` in the simulated MCU.
    A frame longer than ``max_frame_bytes`` (encoded) is discarded up to the next delimiter.
    """

    def __init__(
        self,
        message_type: type[MessageT],
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        name: str = "mcu",
    ) -> None:
        self._message_type = message_type
        self._max_frame_bytes = max_frame_bytes
        self._name = name
        self._buffer = bytearray()
        self._discarding = False
        self.stats = FrameStats()

    def reset(self) -> None:
        """Forget a partial frame (e.g. after the port was reopened); counters are kept."""
        self._buffer.clear()
        self._discarding = False

    def feed(self, chunk: bytes) -> list[MessageT]:
        """Consume ``chunk``; return the messages of every frame completed by it, in order."""
        messages: list[MessageT] = []
        start = 0
        while start < len(chunk):
            end = chunk.find(FRAME_DELIMITER, start)
            if end < 0:
                self._append(chunk[start:])
                break
            self._append(chunk[start:end])
            if self._discarding:
                self._discarding = False
            elif self._buffer:
                message = self._decode(bytes(self._buffer))
                if message is not None:
                    messages.append(message)
            self._buffer.clear()
            start = end + 1
        return messages

    def _append(self, part: bytes) -> None:
        if self._discarding:
            return
        self._buffer += part
        if len(self._buffer) > self._max_frame_bytes:
            self._buffer.clear()
            self._discarding = True
            self.stats.over_long += 1
            self._warn("over_long", f"frame longer than {self._max_frame_bytes} bytes, discarded")

    def _decode(self, encoded: bytes) -> MessageT | None:
        try:
            raw = cobs.decode(encoded)
        except cobs.DecodeError as exc:
            self.stats.bad_cobs += 1
            self._warn("bad_cobs", f"bad COBS frame ({len(encoded)} bytes): {exc}")
            return None
        if len(raw) < CRC_BYTES or crc32_jam(raw) != 0:
            self.stats.bad_crc += 1
            self._warn("bad_crc", f"bad CRC in frame of {len(raw)} bytes")
            return None
        message = self._message_type()
        try:
            message.ParseFromString(raw[:-CRC_BYTES])
        except DecodeError as exc:
            self.stats.undecodable += 1
            self._warn("undecodable", f"undecodable {self._message_type.__name__}: {exc}")
            return None
        if message.WhichOneof("payload") is None:
            self.stats.no_payload += 1
            self._warn("no_payload", f"{self._message_type.__name__} without a known payload, skipped")
            return None
        self.stats.frames_ok += 1
        return message

    def _warn(self, counter: str, text: str) -> None:
        """Log the first few of each kind, then every 1000th, so a noisy line cannot flood the log."""
        count = getattr(self.stats, counter)
        if count <= 10 or count % 1000 == 0:
            log.warning("%s: %s (%s=%d)", self._name, text, counter, count)
