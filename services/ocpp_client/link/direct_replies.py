"""A websockets client connection that hands a complete text message to a synchronous sink as it arrives.

websockets queues every message for a reader task, which the event loop runs one turn after the data came in;
a CALLRESULT then wakes the waiting CALL one turn later still. `DirectReplies` offers each text message to
`reply_sink(text) -> bool` from `data_received` instead (the RPC layer takes CALLRESULTs and CALLERRORs there),
so the CALL resumes in the next turn, as after a bare `recv()`. What the sink does not take (a CALL, a broken
frame, a binary or fragmented message) is queued for the reader as usual. Order is kept: the sink is only
offered a message when none is queued before it (`message_taken()` counts what the reader took).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection
from websockets.frames import DATA_OPCODES, Frame, Opcode

__all__ = ["DirectReplies", "ReplySink"]

log = logging.getLogger("reon.ocpp.connection")

#: Takes one complete text message now (True) or leaves it for the reader (False); must not block.
ReplySink = Callable[[str], bool]


class DirectReplies(ClientConnection):
    """ClientConnection with `reply_sink` (see the module docstring)."""

    reply_sink: ReplySink | None = None
    _queued = 0  # complete messages handed to the reader and not taken yet
    _in_fragments = False  # a fragmented message is being assembled for the reader

    def process_event(self, event: object) -> None:
        if self.response is None or not isinstance(event, Frame) or event.opcode not in DATA_OPCODES:
            super().process_event(event)  # the handshake response, pings, pongs, close
            return
        sink = self.reply_sink
        if sink is not None and event.fin and event.opcode is Opcode.TEXT and not self._queued \
                and not self._in_fragments and self._offer(sink, event.data):
            return
        self._in_fragments = not event.fin
        if event.fin:
            self._queued += 1
        super().process_event(event)

    def message_taken(self) -> None:
        """The reader took one message (call after each `recv()` / iteration step)."""
        self._queued = max(0, self._queued - 1)

    @staticmethod
    def _offer(sink: ReplySink, data: bytes) -> bool:
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return False  # the reader's recv() fails the connection with 1007, as websockets does
        try:
            return sink(text)
        except Exception:
            log.exception("reply sink failed; the message is dropped")
            return True
