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
    name = variable.get("name") if isinstance(variable, dict) else None
    secret_value = isinstance(name, str) and name in secrets  # a peer's name may be anything, even unhashable
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


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # one encoder, not one per line


def compact(payload: Any, secret_variables: Iterable[str] = DEFAULT_SECRET_VARIABLES) -> str:
    """Redacted compact JSON, cut at PAYLOAD_LOG_MAX_CHARS; never raises."""
    try:
        text = _encode(payload)
    except (TypeError, ValueError, RecursionError):
        return f"<unprintable {type(payload).__name__}>"
    return compact_encoded(text, payload, secret_variables)


def compact_encoded(text: str, payload: Any, secret_variables: Iterable[str] = DEFAULT_SECRET_VARIABLES) -> str:
    """`compact(payload)` when `text` is the payload already encoded as compact JSON (the frame's own text):
    only a payload that holds a secret is encoded again, redacted."""
    # a secret is under one of its keys or beside its variable's name: without any of them in the text
    # there is nothing to take out, and the walk through the payload (as long as the dump) is saved
    if any(marker in text for marker in _markers(secret_variables)):
        try:
            text = _encode(redact(payload, frozenset(secret_variables)))
        except (TypeError, ValueError, RecursionError):
            text = f"<unprintable {type(payload).__name__}>"
    if len(text) > PAYLOAD_LOG_MAX_CHARS:
        text = f"{text[:PAYLOAD_LOG_MAX_CHARS]}…(+{len(text) - PAYLOAD_LOG_MAX_CHARS} chars)"
    return text


_KEY_MARKERS = tuple(json.dumps(key) for key in (*_SECRET_KEYS, "key"))
_markers_of: dict[frozenset[str], tuple[str, ...]] = {}


def _markers(secret_variables: Iterable[str]) -> tuple[str, ...]:
    names = frozenset(secret_variables)
    markers = _markers_of.get(names)
    if markers is None:
        if len(_markers_of) > 64:  # the sets in use are few (one per Rpc); never grow without bound
            _markers_of.clear()
        markers = _markers_of[names] = _KEY_MARKERS + tuple(json.dumps(n, ensure_ascii=False) for n in names)
    return markers


def _name(action: str) -> str:
    """An action name as the peer sent it, cut short (it may be anything)."""
    return action if len(action) <= ACTION_LOG_MAX_CHARS else f"{action[:ACTION_LOG_MAX_CHARS]}…"


def call_line(direction: str, action: str, message_id: str, payload: Any, secrets: Iterable[str]) -> str:
    return f"{direction} {_name(action)} [{message_id}] {compact(payload, secrets)}"


def sent_call_line(action: str, message_id: str, payload_json: str, payload: Any, secrets: Iterable[str],
                   note: str = "") -> str:
    """`call_line(OUT, ...)` from the payload as encoded for the frame (not encoded again), `note` after the id."""
    return f"{OUT} {_name(action)} [{message_id}]{note} {compact_encoded(payload_json, payload, secrets)}"


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
