"""Values of device-model variables: checking a text value against a variable's characteristics.

OCPP carries every value as a string; the rules per dataType (Part 2, VariableCharacteristicsType):
integer and decimal are plain numbers within minLimit/maxLimit, boolean is "true"/"false", dateTime is
RFC 3339, string/OptionList/MemberList/SequenceList have maxLimit as their maximum length, an OptionList
value is one entry of valuesList, a MemberList an unordered subset, a SequenceList an ordered subset.
A value that breaks a rule is refused with `InvalidValueError` carrying the OCPP reasonCode.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.ocpp_client.device_model.catalog import VariableSpec

_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_LIST_TYPES = ("OptionList", "MemberList", "SequenceList")


class InvalidValueError(ValueError):
    """A value the variable cannot take; `reason_code` is the OCPP ReasonCode to report."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


def to_text(value: object) -> str:
    """Turn a Python value (from TOML or station code) into the OCPP text form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValueError("InvalidValue", f"{value!r} is not a finite number")
        return repr(value) if value != int(value) else str(int(value))
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return ",".join(to_text(item) for item in value)
    raise InvalidValueError("InvalidValue", f"cannot use a {type(value).__name__} as a device-model value")


def split_list(text: str) -> list[str]:
    """Entries of a comma-separated list value, blanks dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def normalise(spec: VariableSpec, text: str) -> str:
    """Return the canonical form of `text` for `spec`, or raise InvalidValueError."""
    data_type = spec.data_type
    if data_type == "integer":
        return _check_number(spec, text, _INTEGER, int)
    if data_type == "decimal":
        return _check_number(spec, text, _DECIMAL, float)
    if data_type == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise InvalidValueError("InvalidValue", f"{text!r} is not a boolean (true/false)")
        return lowered
    if data_type == "dateTime":
        return _check_datetime(text)
    if data_type in _LIST_TYPES:
        return _check_list(spec, text)
    return _check_string(spec, text)


def _check_number(spec: VariableSpec, text: str, pattern: re.Pattern[str], kind: type) -> str:
    stripped = text.strip()
    if not pattern.fullmatch(stripped):
        what = "an integer" if kind is int else "a decimal number"
        raise InvalidValueError("InvalidValue", f"{text!r} is not {what}")
    number = kind(stripped)
    if spec.min_limit is not None and number < spec.min_limit:
        raise InvalidValueError("ValueOutOfRange", f"{stripped} is below the minimum {spec.min_limit:g}")
    if spec.max_limit is not None and number > spec.max_limit:
        raise InvalidValueError("ValueOutOfRange", f"{stripped} is above the maximum {spec.max_limit:g}")
    return str(number) if kind is int else stripped


def _check_datetime(text: str) -> str:
    stripped = text.strip()
    try:
        moment = datetime.fromisoformat(stripped.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidValueError("InvalidValue", f"{text!r} is not an RFC 3339 date-time") from None
    if "T" not in stripped.upper() or moment.tzinfo is None:
        raise InvalidValueError("InvalidValue", f"{text!r} needs a date, a time and a UTC offset")
    return stripped


def _check_string(spec: VariableSpec, text: str) -> str:
    if spec.max_limit is not None and len(text) > spec.max_limit:
        raise InvalidValueError("ValueOutOfRange", f"longer than {spec.max_limit:g} characters")
    if spec.min_length is not None and len(text) < spec.min_length:
        raise InvalidValueError("ValueOutOfRange", f"shorter than {spec.min_length} characters")
    return text


def _check_list(spec: VariableSpec, text: str) -> str:
    entries = split_list(text)
    allowed = {value.casefold(): value for value in spec.values_list or ()}
    canonical = []
    for entry in entries:
        if entry.casefold() not in allowed:
            raise InvalidValueError(
                "InvalidValue", f"{entry!r} is not one of {','.join(spec.values_list or ())}"
            )
        canonical.append(allowed[entry.casefold()])
    if len(set(canonical)) != len(canonical):
        raise InvalidValueError("InvalidValue", "an entry appears more than once")
    if spec.data_type == "OptionList" and len(canonical) != 1:
        raise InvalidValueError("InvalidValue", "an OptionList value must be exactly one entry")
    if not canonical and not spec.allow_empty:
        raise InvalidValueError("InvalidValue", "the list must not be empty")
    joined = ",".join(canonical)
    if spec.max_limit is not None and len(joined) > spec.max_limit:
        raise InvalidValueError("ValueOutOfRange", f"longer than {spec.max_limit:g} characters")
    return joined
