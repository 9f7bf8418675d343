"""Contract of reon-modem: the cellular modem's identity, SIM, registration and signal (read this file first).

Fields the modem did not tell (or cannot tell: no SIM, not registered, absent) are null. ocpp_client takes
`iccid` and `imsi` from the cached state for BootNotification.
"""

from enum import StrEnum

from bus.contract import Command, Contract, Topic
from services.modem.at_parser import Registration, SimStatus
from services.modem.modem_info import Link


def _enum(values: type[StrEnum]) -> str:
    return "enum(" + "|".join(values) + ")"


MODEM_STATE = {
    "link": _enum(Link),
    "manufacturer": "str?",
    "model": "str?",
    "revision": "str?",
    "imei": "str?",
    "iccid": "str?",
    "imsi": "str?",
    "sim_status": _enum(SimStatus) + "?",
    "registration": _enum(Registration),
    "operator": "str?",
    "access_technology": "str?",
    "signal_dbm": "int?",
    "read_at": "float?",
    "counters": "dict",
}

CONTRACT = Contract(
    service="modem",
    doc="the cellular modem over AT commands: identity, SIM, network registration, signal",
    state=(
        Topic("modem", MODEM_STATE,
              "link ok (registered) | no_sim (missing or PIN-locked) | offline (SIM ready, not registered) |"
              " absent (disabled, no port, or not answering); sim_status, registration (27.007 +CEREG/+CREG),"
              " operator and access_technology (+COPS), signal_dbm (+CSQ, null when unknown), read_at (UTC s of"
              " the read, null when absent), counters of the AT link (garbage lines, timeouts, reopens, ...)."
              " Published at start, every [modem] poll_s, on URCs (+CEREG/+CREG, +CPIN, RDY) and on link change"),
    ),
    events=(
        Topic("sim_changed", {"old_iccid": "str", "new_iccid": "str"},
              "the ICCID differs from the last one read (also across restarts: the last ICCID is persisted);"
              " a removed SIM is not a change, a different one inserted later is"),
    ),
    commands=(
        Command("refresh", {}, MODEM_STATE,
                "read the modem now; returns (and publishes) the new state. A hung modem takes one command"
                " timeout (2 s) to show absent: give it a deadline of 5 s",
                idempotent=True),
    ),
)
