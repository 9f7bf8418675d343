"""Pure parsing of the modem's AT replies (3GPP TS 27.007 + vendor forms): no I/O here.

Each `parse_*` takes the information lines of one reply (the lines before OK) and returns a value, or raises
`AtParseError` when the reply has a shape it does not know. `is_urc` tells a reply line from an unsolicited
result code; `parse_final` recognises the final result codes that end a reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class AtParseError(ValueError):
    """A reply line has a shape the parser does not know."""


class Vendor(StrEnum):
    QUECTEL = "quectel"
    SIMCOM = "simcom"
    UBLOX = "ublox"
    GENERIC = "generic"


class SimStatus(StrEnum):
    READY = "ready"
    PIN_REQUIRED = "pin_required"
    PUK_REQUIRED = "puk_required"
    LOCKED = "locked"  # a PIN other than the SIM PIN (PH-SIM, network personalisation, ...)
    NOT_INSERTED = "not_inserted"
    FAILURE = "failure"
    BUSY = "busy"
    UNKNOWN = "unknown"


class Registration(StrEnum):
    """Network registration, declared from the most to the least useful."""

    HOME = "home"
    ROAMING = "roaming"
    SEARCHING = "searching"
    DENIED = "denied"
    NOT_REGISTERED = "not_registered"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class FinalResult:
    """A final result code: OK, ERROR, +CME ERROR or +CMS ERROR (code and/or text where given)."""

    ok: bool
    kind: str  # "OK", "ERROR", "CME", "CMS"
    code: int | None = None
    text: str = ""


@dataclass(frozen=True)
class Identity:
    manufacturer: str | None
    model: str | None
    revision: str | None


@dataclass(frozen=True)
class OperatorInfo:
    name: str | None  # long/short alphanumeric or numeric MCCMNC, as the modem reports it
    access_technology: str | None


@dataclass(frozen=True)
class RegistrationReport:
    n: int | None  # the <n> setting in a read reply; None in a URC
    stat: int
    registration: Registration


# TS 27.007 §9.2.1 (general and SIM-related +CME ERROR codes the station can meet).
CME_ERRORS: dict[int, str] = {
    0: "phone failure", 3: "operation not allowed", 4: "operation not supported", 5: "PH-SIM PIN required",
    10: "SIM not inserted", 11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure",
    14: "SIM busy", 15: "SIM wrong", 16: "incorrect password", 17: "SIM PIN2 required",
    18: "SIM PUK2 required", 20: "memory full", 21: "invalid index", 22: "not found",
    30: "no network service", 31: "network timeout", 32: "network not allowed - emergency calls only",
    100: "unknown",
}
_CME_CODES_BY_TEXT = {text.lower(): code for code, text in CME_ERRORS.items()}

_SIM_STATUS_BY_CME = {
    5: SimStatus.LOCKED, 10: SimStatus.NOT_INSERTED, 11: SimStatus.PIN_REQUIRED, 12: SimStatus.PUK_REQUIRED,
    13: SimStatus.FAILURE, 14: SimStatus.BUSY, 15: SimStatus.FAILURE,
}

# <stat> of +CREG/+CGREG/+CEREG (TS 27.007 §7.2); 6..10 are the SMS-only / CSFB variants.
_REGISTRATION_BY_STAT = {
    0: Registration.NOT_REGISTERED, 1: Registration.HOME, 2: Registration.SEARCHING, 3: Registration.DENIED,
    4: Registration.UNKNOWN, 5: Registration.ROAMING, 6: Registration.HOME, 7: Registration.ROAMING,
    8: Registration.NOT_REGISTERED,  # attached for emergency bearer services only
    9: Registration.HOME, 10: Registration.ROAMING,
}
_REGISTRATION_RANK = list(Registration)  # best first
REGISTRATION_PREFIXES = frozenset({"+CREG:", "+CGREG:", "+CEREG:", "+C5GREG:"})

# <AcT> of +COPS (TS 27.007 §7.3).
ACCESS_TECHNOLOGIES = {
    0: "GSM", 1: "GSM_COMPACT", 2: "UTRAN", 3: "GSM_EGPRS", 4: "UTRAN_HSDPA", 5: "UTRAN_HSUPA",
    6: "UTRAN_HSPA", 7: "LTE", 8: "EC_GSM_IOT", 9: "NB_IOT", 10: "LTE_5GC", 11: "NR_5GC", 12: "NG_RAN",
    13: "EN_DC",
}

# Unsolicited result codes that carry no "+XXX:" prefix.
UNPREFIXED_URCS = frozenset(
    {"RDY", "POWERED DOWN", "NORMAL POWER DOWN", "RING", "SMS READY", "CALL READY", "PB DONE", "SMS DONE"}
)

ICCID_COMMANDS: dict[Vendor, tuple[str, str]] = {
    Vendor.QUECTEL: ("AT+QCCID", "+QCCID:"),
    Vendor.SIMCOM: ("AT+CICCID", "+ICCID:"),
    Vendor.UBLOX: ("AT+CCID", "+CCID:"),
}
# READ BINARY of EF_ICCID (file id 0x2FE2 = 12258), 10 bytes: works on any 27.007 modem.
CRSM_READ_ICCID = "AT+CRSM=176,12258,0,0,10"

_ICCID_RE = re.compile(r"[0-9A-Fa-f]{18,22}")
_DIGITS_RE = re.compile(r"\d+")


def split_fields(text: str) -> list[str]:
    """Split a comma-separated parameter list, honouring double quotes (which are removed)."""
    return [field.strip('"') for field in _raw_fields(text)]


def _raw_fields(text: str) -> list[str]:
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    fields.append("".join(current).strip())
    return fields


def line_prefix(line: str) -> str | None:
    """The "+XXX:" (or vendor "^XXX:") prefix of a line, upper-cased, or None."""
    if line[:1] in ("+", "^") and ":" in line:
        return line[: line.index(":") + 1].upper()
    return None


def _after_prefix(line: str) -> str:
    return line.split(":", 1)[1].strip()


def parse_final(line: str) -> FinalResult | None:
    """The final result code this line is, or None when it is not one."""
    upper = line.upper()
    if upper == "OK":
        return FinalResult(ok=True, kind="OK")
    if upper == "ERROR":
        return FinalResult(ok=False, kind="ERROR")
    for kind in ("CME", "CMS"):
        if upper.startswith(f"+{kind} ERROR:"):
            detail = _after_prefix(line)
            if detail.isdigit():
                code = int(detail)
                text = CME_ERRORS.get(code, "") if kind == "CME" else ""
                return FinalResult(ok=False, kind=kind, code=code, text=text)
            code = _CME_CODES_BY_TEXT.get(detail.lower()) if kind == "CME" else None
            return FinalResult(ok=False, kind=kind, code=code, text=detail)
    return None


def is_registration_urc(line: str) -> bool:
    """A +CEREG/+CREG URC `<stat>[,<tac>,...]` has no numeric second field; a read reply `<n>,<stat>` has."""
    fields = _raw_fields(_after_prefix(line))
    return len(fields) == 1 or not fields[1].isdigit()


def is_urc(line: str, expect: tuple[str, ...] | frozenset[str] = ()) -> bool:
    """True when `line` is an unsolicited result code while a command expecting `expect` prefixes runs."""
    if line.upper() in UNPREFIXED_URCS:
        return True
    prefix = line_prefix(line)
    if prefix is None or parse_final(line) is not None:
        return False
    if prefix not in {p.upper() for p in expect}:
        return True
    return prefix in REGISTRATION_PREFIXES and is_registration_urc(line)


def _first(lines: list[str], what: str) -> str:
    for line in lines:
        if line:
            return line
    raise AtParseError(f"{what}: empty reply")


def _value(lines: list[str], prefix: str, what: str) -> str:
    """The value of the first line with `prefix`, or of the first bare line when no line carries it."""
    for line in lines:
        if line.upper().startswith(prefix.upper()):
            return line[len(prefix) :].strip().strip('"')
    return _first(lines, what).strip('"')


def parse_ati(lines: list[str]) -> Identity:
    """ATI: either bare lines (`Quectel` / `EC25` / `Revision: ...`) or `Manufacturer:`/`Model:` keys."""
    keyed: dict[str, str] = {}
    bare: list[str] = []
    for line in lines:
        key, sep, value = line.partition(":")
        if line_prefix(line):
            continue  # +GCAP and the like
        if sep and key.strip().lower() in ("manufacturer", "model", "revision"):
            keyed[key.strip().lower()] = value.strip()
        elif not sep:
            bare.append(line.strip())
    manufacturer = keyed.get("manufacturer") or (bare[0] if len(bare) >= 2 else None)
    model = keyed.get("model") or (bare[1] if len(bare) >= 2 else bare[0] if bare else None)
    if manufacturer is None and model is None:
        raise AtParseError(f"ATI: no identity in {lines!r}")
    return Identity(manufacturer, model, keyed.get("revision"))


def detect_vendor(identity: Identity) -> Vendor:
    text = f"{identity.manufacturer or ''} {identity.model or ''}".lower()
    if "quectel" in text:
        return Vendor.QUECTEL
    if "simcom" in text or re.search(r"\bsim\d{3,4}", text):
        return Vendor.SIMCOM
    if "u-blox" in text or "ublox" in text:
        return Vendor.UBLOX
    return Vendor.GENERIC


def parse_revision(lines: list[str]) -> str:
    """AT+CGMR: the revision line, bare or as `+CGMR: ...` / `Revision: ...`."""
    line = _first(lines, "CGMR")
    key, sep, value = line.partition(":")
    if sep and key.strip().upper() in ("+CGMR", "REVISION"):
        return value.strip()
    return line.strip()


def parse_imei(lines: list[str]) -> str:
    """AT+CGSN: 15 digits (16 for an IMEISV), with or without a `+CGSN:` prefix."""
    value = _value(lines, "+CGSN:", "CGSN")
    if not _DIGITS_RE.fullmatch(value) or not 14 <= len(value) <= 16:
        raise AtParseError(f"CGSN: not an IMEI: {value!r}")
    return value


def parse_imsi(lines: list[str]) -> str:
    """AT+CIMI: up to 15 digits."""
    value = _value(lines, "+CIMI:", "CIMI")
    if not _DIGITS_RE.fullmatch(value) or not 6 <= len(value) <= 15:
        raise AtParseError(f"CIMI: not an IMSI: {value!r}")
    return value


def parse_iccid(lines: list[str]) -> str:
    """+QCCID / +ICCID / +CCID (or bare): the ICCID as the SIM reports it, trailing F and hex digits kept."""
    for line in lines:
        prefix = line_prefix(line)
        value = _after_prefix(line).strip('"') if prefix else line.strip()
        if prefix in (None, "+QCCID:", "+ICCID:", "+CCID:") and _ICCID_RE.fullmatch(value):
            return value
    raise AtParseError(f"ICCID: none in {lines!r}")


def parse_crsm_iccid(lines: list[str]) -> str:
    """AT+CRSM READ BINARY of EF_ICCID: `+CRSM: 144,0,"<hex>"`, whose bytes hold the digits nibble-swapped."""
    fields = split_fields(_value(lines, "+CRSM:", "CRSM"))
    if len(fields) < 3 or not fields[0].isdigit() or int(fields[0]) not in (144, 145):
        raise AtParseError(f"CRSM: SIM did not return EF_ICCID: {fields!r}")
    data = fields[2]
    if len(data) % 2 or not re.fullmatch(r"[0-9A-Fa-f]+", data):
        raise AtParseError(f"CRSM: not hex bytes: {data!r}")
    iccid = "".join(data[i + 1] + data[i] for i in range(0, len(data), 2))
    if not _ICCID_RE.fullmatch(iccid):
        raise AtParseError(f"CRSM: not an ICCID: {iccid!r}")
    return iccid


def parse_csq(lines: list[str]) -> int | None:
    """AT+CSQ: `+CSQ: <rssi>,<ber>` → dBm = -113 + 2·rssi (0..31); 99 (and anything else) → None."""
    fields = split_fields(_value(lines, "+CSQ:", "CSQ"))
    if not fields[0].isdigit():
        raise AtParseError(f"CSQ: rssi is not a number: {fields!r}")
    rssi = int(fields[0])
    return -113 + 2 * rssi if 0 <= rssi <= 31 else None


def parse_cops(lines: list[str]) -> OperatorInfo:
    """AT+COPS?: `+COPS: <mode>[,<format>,<oper>[,<AcT>]]`; `+COPS: 0` alone when not registered."""
    fields = split_fields(_value(lines, "+COPS:", "COPS"))
    if not fields[0].isdigit():
        raise AtParseError(f"COPS: mode is not a number: {fields!r}")
    name = fields[2] if len(fields) >= 3 and fields[2] else None
    act: str | None = None
    if len(fields) >= 4 and fields[3]:
        if not fields[3].isdigit():
            raise AtParseError(f"COPS: AcT is not a number: {fields!r}")
        act = ACCESS_TECHNOLOGIES.get(int(fields[3]), f"ACT_{fields[3]}")
    return OperatorInfo(name, act)


def parse_registration(line: str) -> RegistrationReport:
    """A +CREG/+CGREG/+CEREG line: read reply `<n>,<stat>[,...]` or URC `<stat>[,...]`."""
    if line_prefix(line) not in REGISTRATION_PREFIXES:
        raise AtParseError(f"not a registration line: {line!r}")
    fields = split_fields(_after_prefix(line))
    urc = is_registration_urc(line)
    n_text, stat_text = (None, fields[0]) if urc else (fields[0], fields[1])
    if not stat_text.isdigit() or (n_text is not None and not n_text.isdigit()):
        raise AtParseError(f"registration: not numeric: {line!r}")
    stat = int(stat_text)
    registration = _REGISTRATION_BY_STAT.get(stat, Registration.UNKNOWN)
    return RegistrationReport(None if n_text is None else int(n_text), stat, registration)


def parse_registration_reply(lines: list[str]) -> RegistrationReport:
    for line in lines:
        if line_prefix(line) in REGISTRATION_PREFIXES:
            return parse_registration(line)
    raise AtParseError(f"registration: no +CREG/+CEREG line in {lines!r}")


def best_registration(reports: list[Registration]) -> Registration:
    """The most useful of several domains' registrations (LTE EPS vs. circuit-switched)."""
    return min(reports, key=_REGISTRATION_RANK.index, default=Registration.UNKNOWN)


def parse_cpin(lines: list[str]) -> SimStatus:
    """AT+CPIN?: `+CPIN: READY`, `SIM PIN`, `SIM PUK`, other PINs → locked."""
    code = _value(lines, "+CPIN:", "CPIN").upper()
    if code in ("READY", "SIM PIN2", "SIM PUK2"):
        return SimStatus.READY
    if code == "SIM PIN":
        return SimStatus.PIN_REQUIRED
    if code == "SIM PUK":
        return SimStatus.PUK_REQUIRED
    if code == "NOT INSERTED":
        return SimStatus.NOT_INSERTED
    if code == "NOT READY":
        return SimStatus.BUSY
    if code.endswith(("PIN", "PUK")):
        return SimStatus.LOCKED
    raise AtParseError(f"CPIN: unknown code {code!r}")


def sim_status_from_error(final: FinalResult) -> SimStatus:
    """AT+CPIN? answered with an error: +CME ERROR 10 → not inserted, 11 → PIN required, ..."""
    if final.code is None:
        return SimStatus.UNKNOWN
    return _SIM_STATUS_BY_CME.get(final.code, SimStatus.UNKNOWN)
