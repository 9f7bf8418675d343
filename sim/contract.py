"""The contract of reon-sim: the simulated world outside the station (development only).

Commands drive the EVs, RFID cards, faults, meters and modem; state shows what the world looks like, so tests
and `reonctl events sim.` can watch it. Every per-EVSE command answers with that EVSE's world (the
`evse.{evse}` shape); an EVSE that is not configured is refused with `unknown_evse`.
"""

from __future__ import annotations

from bus.contract import Command, Contract, Topic
from sim.mcu_board_state import FAULT_FLAGS

FAULT_KINDS = tuple(FAULT_FLAGS)  # diode rcd rcd_selftest cp_signal over_current ventilation lock_failure ...
MODEM_ACTIONS = ("no_sim", "sim_present", "register", "roaming", "searching", "denied", "unregister", "signal",
                 "silent", "talk", "vanish", "reappear", "reset")
_FAULT = f"enum({'|'.join(FAULT_KINDS)})"

EVSE_WORLD = {
    "evse": "int",
    "ev_plugged": "bool",
    "ev_paused": "bool",  # the EV does not want power (ev_pause); a new plug-in wants power again
    "ev_max_current_a": "float",
    "cable_a": "int",  # the PP rating of the cable: 13, 20, 32 or 70
    "cp_state": "enum(A|B|C|D|E|F)",
    "pp_state": "str",  # NC, 13A, 20A, 32A, 70A
    "pwm_duty_pct": "float",  # what the host commanded: 100 = no PWM (steady +12 V), 0 = state F
    "offered_current_a": "float",  # what that duty offers the EV (IEC 61851-1 Table A.8)
    "allow_power_on": "bool",
    "relays_closed": "bool",
    "lock": "enum(UNDEFINED|UNLOCKED|LOCKED)",
    "current_a": "float",  # drawn per phase
    "phases": "int",  # phases the EV draws on
    "power_w": "float",  # at the nominal 230 V
    "energy_wh": "float",  # the meter's import register (the board's own integral without a meter)
    "faults": ["str"],
    "host_seen": "bool",  # a host keep-alive has arrived since the board's port opened
    "meter_unit_id": "int?",  # the meter fields are None when the EVSE has no meter
    "meter_model": "str?",
    "meter_online": "bool?",
}
MODEM_WORLD = {
    "profile": "str",
    "present": "bool",  # the device is plugged in (vanish/reappear)
    "sim_present": "bool",
    "registration": "int",  # 27.007 <stat>: 0 not registered, 1 home, 2 searching, 3 denied, 5 roaming
    "rssi": "int",  # +CSQ <rssi>: 0..31, 99 unknown
    "silent": "bool",
}
EVSE = {"evse": "int"}
IMAGE_FAULTS = ("none", "fail-install", "no-boot", "bad-signature")

CONTRACT = Contract(
    "sim",
    "the simulated world outside the station: EVs on pilot-MCU boards, meters, RFID readers, modem",
    state=(
        Topic("world", {"sim_dir": "str", "evses": ["int"], "devices": "dict", "images_url": "str?"},
              "published at start: the pseudo-terminal link of every simulated device {name: path}; the URL"
              " of the manufacturer's firmware image server"),
        Topic("evse.{evse}", EVSE_WORLD,
              "one EVSE's world; published at start, on every change and each second while energy flows"),
        Topic("modem", MODEM_WORLD, "the simulated modem (only when [modem] enabled); on every change"),
    ),
    events=(
        Topic("swiped", {"evse": "int", "token": "str", "delivered": "bool"},
              "a card was presented to an RFID reader (delivered: the line was written to the pty)"),
    ),
    commands=(
        Command("plug", {"evse": "int", "cable_a": "int?"}, EVSE_WORLD,
                "plug an EV in (A→B) that wants power, with a cable of 13/20/32/70 A (default: as before, "
                "32); no change when one is plugged already", idempotent=True),
        Command("unplug", EVSE, EVSE_WORLD, "unplug the EV (→A)", idempotent=True),
        Command("ev_pause", EVSE, EVSE_WORLD, "the EV stops requesting power (C→B); not_plugged without EV",
                idempotent=True),
        Command("ev_resume", EVSE, EVSE_WORLD, "the EV requests power again (B→C once PWM is offered)",
                idempotent=True),
        Command("set_ev_max_current", {"evse": "int", "amps": "float"}, EVSE_WORLD,
                "the most current the EV draws per phase (0..80 A)", idempotent=True),
        Command("swipe", {"evse": "int", "token": "str"}, {"evse": "int", "token": "str", "delivered": "bool"},
                "present a card: its UID (e.g. 04A1B2C3) as one line on the EVSE's RFID reader"),
        Command("fault", {"evse": "int", "kind": _FAULT}, EVSE_WORLD,
                "inject a fault on the EVSE's MCU board: diode, rcd, rcd_selftest, cp_signal, over_current "
                "(the board opens the relays), ventilation (the EV needs it, the station has none), "
                "lock_failure, welded (relays stay closed), silence (the board stops talking)",
                idempotent=True),
        Command("clear_fault", {"evse": "int", "kind": f"{_FAULT}?"}, EVSE_WORLD,
                "clear one fault, or every fault without kind (clearing ventilation: the EV no longer "
                "needs it)", idempotent=True),
        Command("meter_offline", EVSE, EVSE_WORLD, "the EVSE's meter stops answering on the RS-485 bus "
                "(it keeps counting energy); no_meter when the EVSE has none", idempotent=True),
        Command("meter_online", EVSE, EVSE_WORLD, "the EVSE's meter answers again", idempotent=True),
        Command("modem", {"action": f"enum({'|'.join(MODEM_ACTIONS)})", "rssi": "int?"}, MODEM_WORLD,
                "drive the modem: no_sim, sim_present, register (home), roaming, searching, denied, "
                "unregister, signal (rssi 0..31 or 99), silent/talk (hung modem), vanish/reappear (USB), "
                "reset; no_modem when [modem] is not enabled"),
        Command("firmware_image", {"version": "str", "fault": f"enum({'|'.join(IMAGE_FAULTS)})?", "signed": "bool?"},
                {"location": "str", "size_bytes": "int", "signingCertificate": "str?", "signature": "str?"},
                "a new firmware image reon-<version>.raucb on the manufacturer's server, signed under [firmware]"
                " manufacturer_root unless signed is false: the firmware fields of an UpdateFirmware. fault:"
                " fail-install / no-boot (the simulated installer fails / the new slot does not boot),"
                " bad-signature (the signature is of other bytes)"),
        Command("state", {}, {"evses": [EVSE_WORLD], "modem": "dict?"},
                "the whole world now: every EVSE, and the modem (None when not enabled)", idempotent=True),
    ),
)
