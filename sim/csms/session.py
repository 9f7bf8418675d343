"""One connected station as the development CSMS sees it: an `ocpp.v201.ChargePoint` that logs
every frame on one readable line, records what it receives, and can send any CSMS->station call.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, MessageType, validate_payload

from sim.csms.handlers import CsmsHandlers
from sim.csms.policy import NO_REPLY, CsmsCallError, CsmsPolicy, Override

log = logging.getLogger("sim.csms")
_ocpp_log = logging.getLogger("sim.csms.ocpp")  # the ocpp package's own lines: warnings only
_ocpp_log.setLevel(logging.WARNING)
LOG_PAYLOAD_MAX_CHARS = 2000

Recorder = Callable[[str, str, str | None, str | None, Any], None]


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= LOG_PAYLOAD_MAX_CHARS else f"{text[:LOG_PAYLOAD_MAX_CHARS]}…"


class StationSession(CsmsHandlers):
    """The CSMS end of one station's WebSocket."""

    def __init__(self, station_id: str, ws: Any, policy: CsmsPolicy, record: Recorder,
                 response_timeout_s: float) -> None:
        super().__init__(station_id, ws, response_timeout=response_timeout_s, logger=_ocpp_log)
        self.policy = policy
        self._record = record
        self._our_calls: dict[str, str] = {}  # message id -> action, CSMS calls awaiting their reply
        self._their_calls: dict[str, str] = {}  # message id -> action, station calls being answered

    async def start(self) -> None:
        """Receive until the connection closes (ConnectionClosed ends it)."""
        while True:
            await self.route_message(await self._connection.recv())

    async def route_message(self, raw_msg: str | bytes) -> None:
        kind, action, message_id, payload = self._classify(raw_msg)
        self._record(self.id, kind, action, message_id, payload)
        log.info("%s ← %s", self.id, _describe(kind, action, message_id, payload))
        if kind == "call" and message_id is not None and action is not None:
            self._their_calls[message_id] = action
            override = self.policy.overrides.get(action)
            if override is not None:
                await self._answer_with(message_id, action, override)
                return
        try:
            await super().route_message(raw_msg)
        except Exception:
            log.exception("%s: could not handle %s", self.id, _short(raw_msg)[:200])

    async def call_action(self, action: str, payload: dict[str, Any], *, timeout_s: float | None = None,
                          validate: bool = True) -> dict[str, Any]:
        """Send a CSMS->station CALL and return the CALLRESULT payload (CsmsCallError on CALLERROR)."""
        message = Call(str(uuid.uuid4()), action, payload)
        if validate:
            await _validate(message, "request")
        async with self._call_lock:
            self._our_calls[message.unique_id] = action
            try:
                await self._send(message.to_json())
                reply = await self._get_specific_response(message.unique_id,
                                                          timeout_s or self._response_timeout)
            finally:
                self._our_calls.pop(message.unique_id, None)
        if reply.message_type_id == MessageType.CallError:
            raise CsmsCallError(reply.error_code, reply.error_description or "", reply.error_details or {})
        if validate:
            reply.action = action
            await _validate(reply, "reply")
        return reply.payload

    async def send_raw(self, text: str | bytes) -> None:
        """Send any text (or bytes) as one WebSocket message: for tests of the station's error replies."""
        log.info("%s → raw %s", self.id, _short(text)[:200])
        await self._connection.send(text)

    async def _send(self, message: str) -> None:
        log.info("%s → %s", self.id, self._describe_out(message))
        await self._connection.send(message)

    async def _answer_with(self, message_id: str, action: str, override: Override) -> None:
        if override is NO_REPLY:
            log.info("%s: %s [%s] left unanswered (NO_REPLY)", self.id, action, message_id)
            return
        if isinstance(override, CsmsCallError):
            frame: list[Any] = [4, message_id, override.code, override.description, override.details]
        else:
            frame = [3, message_id, override]
        await self._send(json.dumps(frame, separators=(",", ":")))

    def _classify(self, raw_msg: str | bytes) -> tuple[str, str | None, str | None, Any]:
        try:
            msg = json.loads(raw_msg)
        except (ValueError, RecursionError):
            text = raw_msg if isinstance(raw_msg, str) else repr(raw_msg)
            return "invalid", None, None, text[:LOG_PAYLOAD_MAX_CHARS]
        if isinstance(msg, list) and len(msg) >= 3 and isinstance(msg[1], str):
            if msg[0] == 2 and len(msg) == 4 and isinstance(msg[2], str):
                return "call", msg[2], msg[1], msg[3]
            if msg[0] == 3:
                return "result", self._our_calls.get(msg[1]), msg[1], msg[2]
            if msg[0] == 4:
                return "error", self._our_calls.get(msg[1]), msg[1], msg[2:]
        return "invalid", None, None, msg

    def _describe_out(self, message: str) -> str:
        msg = json.loads(message)
        if msg[0] == 2:
            return _describe("call", msg[2], msg[1], msg[3])
        action = self._their_calls.pop(msg[1], "?")
        if msg[0] == 3:
            return _describe("result", action, msg[1], msg[2])
        return _describe("error", action, msg[1], msg[2:])


def _describe(kind: str, action: str | None, message_id: str | None, payload: Any) -> str:
    if kind == "call":
        return f"{action} [{message_id}] {_short(payload)}"
    if kind in ("result", "error"):
        return f"{action or '?'} {kind} [{message_id}] {_short(payload)}"
    return f"invalid frame {_short(payload)[:200]}"


async def _validate(message: Any, what: str) -> None:
    try:
        await validate_payload(message, "2.0.1")
    except OCPPError as exc:
        cause = str(exc.details.get("cause", exc.description))[:300]
        raise CsmsCallError(exc.code, f"{message.action} {what} breaks the schema", {"cause": cause}) from None
