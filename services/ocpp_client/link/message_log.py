"""One readable log line per OCPP message, with secrets taken out.

`→ BootNotification [id] {...}` is a CALL going to the CSMS, `← BootNotification result [id] {...}`
its answer. WriteOnly device-model values (BasicAuthPassword, ...) and the passwords and keys of a
network connection profile never reach a log line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

OUT = "→"
IN = "←"
REDACTED = "***"
PAYLOAD_LOG_MAX_CHARS = 4000
ACTION_LOG_MAX_CHARS = 64

#: Device-model variables whose values are never logged (WriteOnly, part 2 appendix).
DEFAULT_SECRET_VARIABLES = frozenset({"BasicAuthPassword"})
#: Keys holding a secret anywhere in a payload (SetNetworkProfile APN and VPN data).
_SECRET_KEYS = frozenset({"password", "apnPassword", "simPin"})


def redact(value: Any, secret_variables: Iterable[str] = DEFAULT_SECRET_VARIABLES, _parent: str = "") -> Any:
    """A copy of `value` with secret values replaced by "***"."""
    secrets = secret_variables if isinstance(secret_variables, frozenset | set) else set(secret_variables)
    if isinstance(value, list):
        return [redact(item, secrets, _parent) for item in value]
    if not isinstance(value, dict):
        return value
    variable = value.get("variable")
    secret_value = isinstance(variable, dict) and variable.get("name") in secrets
    out: dict[Any, Any] = {}
    for key, item in value.items():
        if key in _SECRET_KEYS or (key == "key" and _parent == "vpn"):
            out[key] = REDACTED
        elif secret_value and key in ("attributeValue", "variableAttribute", "actualValue"):
            out[key] = _redact_value_field(item)
        else:
            out[key] = redact(item, secrets, key)
    return out


def _redact_value_field(item: Any) -> Any:
    if isinstance(item, list):  # variableAttribute list of a report
        return [{**a, "value": REDACTED} if isinstance(a, dict) and "value" in a else a for a in item]
    return REDACTED


def compact(payload: Any, secret_variables: Iterable[str] = DEFAULT_SECRET_VARIABLES) -> str:
    """Redacted compact JSON, cut at PAYLOAD_LOG_MAX_CHARS; never raises."""
    try:
        text = json.dumps(redact(payload, secret_variables), separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = f"<unprintable {type(payload).__name__}>"
    if len(text) > PAYLOAD_LOG_MAX_CHARS:
        text = f"{text[:PAYLOAD_LOG_MAX_CHARS]}…(+{len(text) - PAYLOAD_LOG_MAX_CHARS} chars)"
    return text


def _name(action: str) -> str:
    """An action name as the peer sent it, cut short (it may be anything)."""
    return action if len(action) <= ACTION_LOG_MAX_CHARS else f"{action[:ACTION_LOG_MAX_CHARS]}…"


def call_line(direction: str, action: str, message_id: str, payload: Any, secrets: Iterable[str]) -> str:
    return f"{direction} {_name(action)} [{message_id}] {compact(payload, secrets)}"


def result_line(direction: str, action: str, message_id: str, payload: Any, secrets: Iterable[str]) -> str:
    return f"{direction} {_name(action)} result [{message_id}] {compact(payload, secrets)}"


def error_line(
    direction: str, action: str, message_id: str, code: str, description: str, details: Any
) -> str:
    return f"{direction} {_name(action)} error [{message_id}] {code} {description!r} {compact(details, ())}"


def raw_excerpt(data: str | bytes, max_chars: int = 200) -> str:
    """The start of an unparsable frame, for a log line (it may hold anything)."""
    text = data if isinstance(data, str) else f"<{len(data)} bytes> {data[:max_chars]!r}"
    if len(text) > max_chars:
        return f"{text[:max_chars]!r}…(+{len(text) - max_chars} chars)"
    return repr(text)
