"""How the development CSMS answers, and what it keeps of each message it receives."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any


def utc_now() -> str:
    """Current UTC time as OCPP writes it (RFC 3339, milliseconds, Z)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CsmsCallError(Exception):
    """The station answered a CSMS call with a CALLERROR (or its reply broke the schema)."""

    def __init__(self, code: str, description: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.details = details or {}


class StationNotConnected(LookupError):
    """No station with that id is connected."""


class _NoReply:
    def __repr__(self) -> str:
        return "NO_REPLY"


#: `set_response(action, NO_REPLY)`: received CALLs of that action are never answered.
NO_REPLY = _NoReply()

Override = dict[str, Any] | CsmsCallError | _NoReply


@dataclass
class CsmsPolicy:
    """Answers the handlers give; tests and the control interface change them at run time."""

    boot_status: str = "Accepted"  # Accepted | Pending | Rejected
    boot_interval_s: int = 300
    boot_by_station: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: idToken -> IdTokenInfoType (camelCase); tokens not listed are Accepted.
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: action -> fixed answer to CALLs of that action, bypassing the handlers.
    overrides: dict[str, Override] = field(default_factory=dict)

    def boot_response(self, station_id: str) -> tuple[str, int]:
        return self.boot_by_station.get(station_id, (self.boot_status, self.boot_interval_s))

    def id_token_info(self, id_token: str) -> dict[str, Any]:
        return dict(self.tokens.get(id_token, {"status": "Accepted"}))

    def set_token(self, id_token: str, status: str = "Accepted", group_id: str | None = None,
                  **extra: Any) -> None:
        """Answer Authorize/TransactionEvent for `id_token` with this status (Blocked, Expired, ...)."""
        info: dict[str, Any] = {"status": status, **extra}
        if group_id is not None:
            info["groupIdToken"] = {"idToken": group_id, "type": "Central"}
        self.tokens[id_token] = info


@dataclass(frozen=True)
class MessageRecord:
    """One frame received from a station."""

    index: int  # position in that station's list
    time: float  # unix time of receipt
    kind: str  # call | result | error | invalid
    action: str | None  # for results and errors: the action of the CSMS call they answer
    message_id: str | None
    payload: Any  # CALL/CALLRESULT payload, CALLERROR [code, description, details], or the raw text

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
