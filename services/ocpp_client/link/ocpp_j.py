"""OCPP-J framing (part 4 §4): parse and encode CALL, CALLRESULT and CALLERROR frames.

Peer input is hostile: `parse_frame` never raises anything but `FrameError`, which says how to
answer (part 4 §4.2.3): the message id when it can be read, else "-1", and the error code.
Mapping used here:
- not JSON, binary frame, not an array, no readable MessageTypeId/MessageId -> RpcFrameworkError
- a MessageTypeId other than 2, 3, 4 -> MessageTypeNotSupported (§4.4), payload ignored
- a CALL of the wrong shape (length, Action not a string) -> RpcFrameworkError
- a CALL whose payload is not a JSON object -> FormatViolation
- malformed CALLRESULT/CALLERROR frames are never answered (`FrameError.reply` is False).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CALL = 2
CALLRESULT = 3
CALLERROR = 4

MESSAGE_ID_MAX_LEN = 36
UNREADABLE_ID = "-1"
DESCRIPTION_MAX_LEN = 255


@dataclass(frozen=True)
class Call:
    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class CallResult:
    message_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class CallErrorFrame:
    message_id: str
    code: str
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)


Frame = Call | CallResult | CallErrorFrame


class FrameError(Exception):
    """A frame that is not valid OCPP-J, with the CALLERROR that answers it (if any)."""

    def __init__(
        self, code: str, description: str, message_id: str = UNREADABLE_ID, *, type_id: int | None = None
    ) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.message_id = message_id
        self.type_id = type_id

    @property
    def reply(self) -> bool:
        """Answer with a CALLERROR? Never for a broken CALLRESULT/CALLERROR (no reply loops)."""
        return self.type_id not in (CALLRESULT, CALLERROR)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # one decoder, not one per frame


def _readable_id(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MESSAGE_ID_MAX_LEN:
        return value
    return None


def parse_frame(data: str | bytes) -> Frame:
    """Decode one WebSocket message into a frame, or raise `FrameError`."""
    if not isinstance(data, str):
        raise FrameError("RpcFrameworkError", "binary frame: OCPP-J frames are JSON text")
    try:
        message = _DECODER.decode(data)
    except (ValueError, RecursionError) as exc:
        raise FrameError("RpcFrameworkError", f"not valid JSON: {str(exc)[:80]}") from None
    if not isinstance(message, list) or not message:
        raise FrameError("RpcFrameworkError", "a frame is a non-empty JSON array")
    type_id = message[0]
    message_id = _readable_id(message[1]) if len(message) > 1 else None
    reply_id = message_id or UNREADABLE_ID
    if not isinstance(type_id, int) or isinstance(type_id, bool):
        raise FrameError("RpcFrameworkError", "MessageTypeId is not an integer", reply_id)
    if type_id not in (CALL, CALLRESULT, CALLERROR):
        raise FrameError("MessageTypeNotSupported", f"MessageTypeId {type_id} is not supported", reply_id)
    if message_id is None:
        raise FrameError("RpcFrameworkError", "MessageId is not a string of 1..36 chars", type_id=type_id)
    if type_id == CALL:
        return _parse_call(message, message_id)
    if type_id == CALLRESULT:
        if len(message) != 3 or not isinstance(message[2], dict):
            raise FrameError("FormatViolation", "CALLRESULT is [3, id, {...}]", message_id, type_id=type_id)
        return CallResult(message_id, message[2])
    return _parse_call_error(message, message_id)


def _parse_call(message: list[Any], message_id: str) -> Call:
    if len(message) != 4:
        raise FrameError("RpcFrameworkError", f"CALL has 4 elements, not {len(message)}", message_id)
    action = message[2]
    if not isinstance(action, str) or not action:
        raise FrameError("RpcFrameworkError", "CALL Action is not a non-empty string", message_id)
    if not isinstance(message[3], dict):
        raise FrameError("FormatViolation", "CALL payload is not a JSON object", message_id)
    return Call(message_id, action, message[3])


def _parse_call_error(message: list[Any], message_id: str) -> CallErrorFrame:
    """CALLERROR, read leniently: it is an error answer even when its details are off."""
    if len(message) < 3 or not isinstance(message[2], str):
        raise FrameError("FormatViolation", "CALLERROR has no errorCode", message_id, type_id=CALLERROR)
    description = message[3] if len(message) > 3 and isinstance(message[3], str) else ""
    details = message[4] if len(message) > 4 and isinstance(message[4], dict) else {}
    return CallErrorFrame(message_id, message[2], description[:DESCRIPTION_MAX_LEN], details)


#: compact JSON, NaN refused; one encoder, not one per frame (json.dumps with options builds a new one each call)
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def encode_call(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return _dumps([CALL, message_id, action, payload])


def encode_payload(payload: dict[str, Any]) -> str:
    """A payload as `call_frame` takes it (raises TypeError / ValueError for what JSON cannot hold)."""
    return _dumps(payload)


def call_frame(message_id: str, action: str, payload_json: str) -> str:
    """A CALL around an encoded payload: the same text as `encode_call`, for an id and an action that need no
    JSON escaping (ours: generated ids, actions checked against the 2.0.1 list)."""
    return f'[{CALL},"{message_id}","{action}",{payload_json}]'


def encode_result(message_id: str, payload: dict[str, Any]) -> str:
    return _dumps([CALLRESULT, message_id, payload])


def encode_error(
    message_id: str, code: str, description: str = "", details: dict[str, Any] | None = None
) -> str:
    """A CALLERROR; details that cannot be encoded are replaced by {} (never invalid JSON)."""
    description = description[:DESCRIPTION_MAX_LEN]
    try:
        return _dumps([CALLERROR, message_id, code, description, details or {}])
    except (TypeError, ValueError, RecursionError):
        return _dumps([CALLERROR, message_id, code, description, {}])
