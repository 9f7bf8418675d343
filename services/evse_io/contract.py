"""Contract of reon-evse-io: per-EVSE charging state, the session stream, RFID tokens, charging commands.

Read this first. Every state topic is published once at start, on every change and every 30 s (runtime).
Commands address an EVSE by id; an unknown id is refused with `unknown_evse`, a command ChargingControl
cannot carry out now with `rejected` (the message says why), malformed arguments with `bad_args`. Each
command replies with the EVSE's state after it (the shape of `evse.<n>`), once every session event it caused
is committed to the `session` stream.
"""

from __future__ import annotations

from enum import StrEnum

from bus.contract import Command, Contract, DurableStream, EntryKind, Field, Topic
from bus.durable import STREAM_COMMANDS

SESSION_STREAM = "session"
SESSION_CONSUMERS = ("ocpp",)

CONNECTOR_STATUS = "enum(Available|Occupied|Reserved|Unavailable|Faulted)"
AVAILABILITY = "enum(Operative|Inoperative)"
EVSE_STATE = {
    "evse_id": "int",
    "connector_status": CONNECTOR_STATUS,  # OCPP ConnectorStatusEnumType
    "charging_state": "enum(Idle|EVConnected|Charging|SuspendedEV|SuspendedEVSE)",  # OCPP ChargingStateEnumType
    "cp_state": "enum(A|B|C|D|E|F)?",  # None: not reported since start or since the link was lost
    "relays_closed": "bool?",  # None: not known
    "power_allowed": "bool",  # allow_power_on as last commanded
    "lock": "enum(undefined|unlocked|locked)",  # lock feedback from the MCU
    "lock_commanded": "bool?",
    "pp_ampacity_a": "float?",  # cable ampacity from the PP coding; None: no cable / faulty coding
    "offered_current_a": "float",  # 0: no PWM
    "duty": "int",  # PWM duty in 0.01 %; 10000 = no PWM
    "current_limit_a": "float?",  # the lowest external limit (set_current_limit over all sources); None: none
    "current_limit_source": "dict?",  # where it comes from: {source, **origin}, e.g. purpose and profile_id
    "current_limits": "dict?",  # every source's limit: source → {amps, origin}
    "faults": ["str"],  # charging_types.Fault names; any one makes the connector Faulted
    "availability": AVAILABILITY,  # in effect
    "availability_requested": AVAILABILITY,  # differs from availability while an Inoperative is scheduled
    "reserved": "bool",
    "link_up": "bool",  # the MCU keep-alive arrives in time
    "bad_input": {"frames_bad": "int", "unknown_enum": "int"},  # skipped MCU input, counted since start
    # the current session: session_id, plugged_at, authorized, authorized_at, authorized_by (IdToken),
    # max_current_a, power_on_at, power_off_at, ended_at, end_reason (times UTC ISO 8601); None: no session
    "session": "dict?",
}
ID_TOKEN = {"idToken": "str", "type": "str"}
#: OCPP 2.0.1 IdTokenEnumType, and IdTokenType.idToken's length (CiString36).
ID_TOKEN_TYPES = ("Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization")
ID_TOKEN_MAX_CHARS = 36



class SessionEntry(StrEnum):
    """The kinds of entry of the `session` stream (the entry's `name`)."""

    PLUGGED_IN = "plugged_in"
    AUTHORIZED = "authorized"
    POWER_ON = "power_on"
    POWER_OFF = "power_off"
    UNPLUGGED = "unplugged"
    SESSION_ENDED = "session_ended"
    EVSE_IO_STARTED = "evse_io_started"


SESSION = DurableStream(
    SESSION_STREAM,
    "durable session facts, one entry each, journaled before published; consumer 'ocpp' replays and acks."
    " This event is also the live feed for watchers.",
    common=(
        Field("name", "str", "the entry kind again"),
        Field("evse_id", "int", "the EVSE"),
        Field("session_id", "str?", "the session the fact belongs to; None: no session open"),
        Field("at", "str", "when it happened, UTC ISO 8601 with milliseconds"),
    ),
    kinds=(
        EntryKind(SessionEntry.PLUGGED_IN, "an EV was connected (CP left A); opens a session unless one is open"),
        EntryKind(SessionEntry.AUTHORIZED, "the session was authorized (`authorize`, allowed=true)", (
            Field("id_token", "dict?", "the IdToken {idToken, type} given to `authorize`; None: none given"),
            Field("max_current_a", "float?", "the cap given to `authorize`; None: the EVSE's maximum"),
        )),
        EntryKind(SessionEntry.POWER_ON, "the relays closed for the session", (
            Field("offered_current_a", "float", "the current the PWM offered when they closed"),
        )),
        EntryKind(SessionEntry.POWER_OFF, "the relays opened"),
        EntryKind(SessionEntry.UNPLUGGED, "the EV was disconnected (CP back to A); ends the session EVDisconnected"),
        EntryKind(SessionEntry.SESSION_ENDED, "the session is over and its relays are open", (
            Field("reason", "str", "OCPP ReasonEnumType: EVDisconnected, Remote, Local, DeAuthorized, …"),
            Field("session", "dict", "the whole record: session_id, plugged_at, authorized, authorized_at,"
                  " authorized_by, max_current_a, power_on_at, power_off_at, ended_at, end_reason"),
        )),
        EntryKind(SessionEntry.EVSE_IO_STARTED,
                  "the first CP report after each start of evse_io: every session of that EVSE announced before"
                  " it, other than session_id, is over without a session_ended, and power stays off until"
                  " `authorize` is called again (after a kill the relays the MCU still held closed show as"
                  " power_on/power_off of the new session)", (
                      Field("ev_plugged", "bool", "an EV is connected now (CP in B, C or D)"),
                      Field("cp_state", "enum(A|B|C|D|E|F)", "the CP state reported"),
                  )),
    ),
)


def _evse_command(name: str, args: dict, doc: str, *, idempotent: bool = False) -> Command:
    return Command(name, {"evse": "int", **args}, EVSE_STATE, doc, idempotent=idempotent)


CONTRACT = Contract(
    service="evse_io",
    doc="per EVSE: IEC 61851 charging control over the pilot MCU (PWM, contactor, lock, PP, faults), RFID reader",
    state=(
        Topic("evse.{evse}", EVSE_STATE,
              "one EVSE's charging state and current session; published at start (Unavailable until the MCU"
              " answers), on every change and every 30 s; MCU link lost → Faulted (mcu_link_lost), power off"),
    ),
    events=(
        Topic("token", {"evse": "int", "id_token": ID_TOKEN},
              "a card was presented at the EVSE's RFID reader (IdToken type ISO14443, UID in hex); one event"
              " per presentation, not journaled"),
    ),
    commands=(
        _evse_command("authorize", {"allowed": "bool", "max_current_a": "float?", "id_token": "dict?"},
                      "allowed: authorize the open session (or one not yet plugged) optionally capped at"
                      " max_current_a, id_token {idToken, type} recorded as authorized_by; PWM on, power when the"
                      " EV asks. allowed=false: as stop(DeAuthorized). Rejected while Inoperative or while the"
                      " previous session is still ending"),
        _evse_command("stop", {"reason": "str"},
                      "end the session with this reason (OCPP ReasonEnumType, e.g. Remote, Local): power off at"
                      " once, unlock once the relays are open; no session: no-op", idempotent=True),
        _evse_command("set_current_limit", {"amps": "float?", "source": "str?", "origin": "dict?"},
                      "external limit in A of one source (default 'default'; smart charging uses"
                      " 'smart_charging'), null removes that source's limit; the lowest of all sources applies;"
                      " below 6 A pauses charging; lowered at once, raised at most every 5 s; origin (e.g."
                      " {purpose, profile_id}) is shown in current_limit_source; not persisted", idempotent=True),
        _evse_command("set_availability", {"availability": AVAILABILITY},
                      "persisted (survives restart); Inoperative while a session is authorized or powered takes"
                      " effect when it ends (availability_requested shows it scheduled)", idempotent=True),
        _evse_command("unlock", {},
                      "unlock the connector; stays unlocked and unpowered until unplug or a new authorization;"
                      " rejected while the relays are closed or not known to be open", idempotent=True),
        Command("present_token", {"evse": "int", "id_token": ID_TOKEN}, {"evse": "int", "id_token": ID_TOKEN},
                "a token entered at the EVSE by a means other than its card reader (an HMI keypad, a"
                " plug-and-charge or app front-end, `reonctl sim token`): published as the `token` event"
                " exactly as a card; type one of OCPP's IdTokenEnumType, idToken 1..36 characters"),
        _evse_command("reset_rcd", {},
                      "clear a latched RCD fault; rejected while the MCU still reports it", idempotent=True),
        _evse_command("reserve", {"reserved": "bool"},
                      "show the connector Reserved while it would be Available (no reservation logic); not"
                      " persisted", idempotent=True),
        *STREAM_COMMANDS,
    ),
    streams=(SESSION,),
)
