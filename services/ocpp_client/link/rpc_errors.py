"""The exceptions of the CSMS link: one family, caught once by the layer that sends.

`CallError` carries an OCPP-J error code (part 4 §4.3). It is raised by `Rpc.call` when the CSMS
answers a CALLERROR, and by a handler to answer a CALL with one.
"""

from __future__ import annotations

from typing import Any

#: The error codes of OCPP-J part 4 §4.3, table 8.
ERROR_CODES = frozenset(
    {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    }
)


class RpcError(Exception):
    """Base of every error of the CSMS link."""


class NotConnected(RpcError):
    """The link is down, or went down before the reply came."""


class CallTimeout(RpcError):
    """No CALLRESULT/CALLERROR within MessageTimeout."""

    def __init__(self, action: str, message_id: str, timeout_s: float) -> None:
        super().__init__(f"{action} [{message_id}]: no reply within {timeout_s:g} s")
        self.action = action
        self.message_id = message_id
        self.timeout_s = timeout_s


class CallError(RpcError):
    """A CALLERROR: from the CSMS (raised by `Rpc.call`) or to it (raised by a handler)."""

    def __init__(self, code: str, description: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.details = details if details is not None else {}


class ResponseInvalid(CallError):
    """The CSMS answered a CALLRESULT whose payload breaks the response schema."""


class RequestInvalid(CallError):
    """Our own CALL payload breaks the request schema: nothing was sent."""
