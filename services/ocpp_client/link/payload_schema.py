"""Payload validation against the OCPP 2.0.1 JSON schemas shipped in the `ocpp` package.

Synchronous on purpose: a schema check is fast, and a thread hop per message is not. A violation
maps to the OCPP-J error code that fits (part 4 §4.3):
- a field of the wrong JSON type -> TypeConstraintViolation
- a required field missing, too few or too many items -> OccurrenceConstraintViolation
- a value outside its enum, length, range or pattern -> PropertyConstraintViolation
- an unknown field or any other structure problem -> FormatViolation
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ocpp
from jsonschema.exceptions import best_match
from ocpp.messages import MessageType, get_validator

OCPP_VERSION = "2.0.1"
SCHEMA_DIR = Path(ocpp.__file__).parent / "v201" / "schemas"
#: Every action OCPP 2.0.1 defines (either direction): those with a request schema.
KNOWN_ACTIONS = frozenset(p.name.removesuffix("Request.json") for p in SCHEMA_DIR.glob("*Request.json"))

_CODE_BY_KEYWORD = {
    "type": "TypeConstraintViolation",
    "required": "OccurrenceConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
    "maxItems": "OccurrenceConstraintViolation",
    "minProperties": "OccurrenceConstraintViolation",
    "maxProperties": "OccurrenceConstraintViolation",
    "enum": "PropertyConstraintViolation",
    "const": "PropertyConstraintViolation",
    "maxLength": "PropertyConstraintViolation",
    "minLength": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "exclusiveMinimum": "PropertyConstraintViolation",
    "exclusiveMaximum": "PropertyConstraintViolation",
    "multipleOf": "PropertyConstraintViolation",
    "pattern": "PropertyConstraintViolation",
    "format": "PropertyConstraintViolation",
}
_CAUSE_MAX_CHARS = 200


@dataclass(frozen=True)
class Violation:
    """Why a payload breaks its schema, as an OCPP-J error."""

    code: str
    description: str
    details: dict[str, Any]


def schema_enum(schema: str, definition: str) -> tuple[str, ...]:
    """The values of an enum type as a 2.0.1 schema defines it (e.g. ConnectorEnumType), read from the file:
    importing the `ocpp` package's enum classes would load all of ocpp.v201 (~3 MB) for one list."""
    data = json.loads((SCHEMA_DIR / f"{schema}.json").read_text(encoding="utf-8"))
    return tuple(data["definitions"][definition]["enum"])


def request_violation(action: str, payload: Any) -> Violation | None:
    """The first schema violation of a CALL payload for `action`, or None when it is valid."""
    return _violation(MessageType.Call, action, payload)


def response_violation(action: str, payload: Any) -> Violation | None:
    """The first schema violation of a CALLRESULT payload for `action`, or None when it is valid."""
    return _violation(MessageType.CallResult, action, payload)


def _violation(type_id: int, action: str, payload: Any) -> Violation | None:
    if action not in KNOWN_ACTIONS:
        return Violation("NotImplemented", f"{action} is not an OCPP {OCPP_VERSION} action", {})
    validator = get_validator(type_id, action, OCPP_VERSION)
    try:
        error = best_match(validator.iter_errors(payload))
    except RecursionError:
        return Violation("FormatViolation", "payload nested too deeply", {})
    if error is None:
        return None
    path = "/" + "/".join(str(part) for part in error.absolute_path)
    code = _CODE_BY_KEYWORD.get(str(error.validator), "FormatViolation")
    cause = error.message[:_CAUSE_MAX_CHARS]
    kind = "request" if type_id == MessageType.Call else "response"
    return Violation(code, f"{action} {kind} invalid at {path}", {"path": path, "cause": cause})
