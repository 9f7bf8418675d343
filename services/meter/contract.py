"""Contract of reon-meter: one energy meter per EVSE, polled over Modbus RTU (read this file first).

Values are in Wh, W, A, V and Hz; per-phase lists are L1, L2, L3 (empty where the model has none, null where
the meter said "not available"). `read_at` is when the meter answered (UTC seconds): a value is never
published again under a newer `read_at` than the one it was read at.
"""

from bus.contract import Command, Contract, Topic

LINKS = "enum(ok|degraded|offline)"

SAMPLE = {
    "evse": "int",
    "energy_import_wh": "float?",
    "energy_import_wh_per_phase": ["float?"],
    "power_w": "float?",
    "power_w_per_phase": ["float?"],
    "current_a_per_phase": ["float?"],
    "voltage_v_per_phase": ["float?"],
    "frequency_hz": "float?",
    "read_at": "float",
}

COUNTERS = {
    "reads_ok": "int",
    "timeouts": "int",
    "crc_errors": "int",
    "exception_responses": "int",
    "bad_responses": "int",
    "port_errors": "int",
    "energy_went_backwards": "int",
    "garbage_bytes": "int",
}

METER_STATE = {
    "model": "str",
    "unit_id": "int",
    "port": "str",
    "link": LINKS,
    "fault": "enum(energy_went_backwards)?",
    "sample": "dict?",  # the last SAMPLE, or null (the shape language has no "map or null")
    "counters": COUNTERS,
}

CONTRACT = Contract(
    service="meter",
    doc="energy meters on the RS-485 bus(es), one per EVSE, read over Modbus RTU",
    state=(
        Topic("meter.{evse}", METER_STATE,
              "per EVSE with a meter: model (SDM630|SDM72D|SDM120|ABB_B23|EM340), link ok (answering cleanly) |"
              " degraded (answering, with a failed poll among the last 5, or its energy went backwards) | offline"
              " (no complete reading for offline_after_s); sample = the last good sample (its own read_at,"
              " never refreshed) or null; fault = energy_went_backwards while readings are refused; counters"
              " per Modbus request. Published at start, when the link, the fault or an error counter changes, and"
              " otherwise at most every 5 s (the latest sample and reads_ok; the samples are the events)."),
    ),
    events=(
        Topic("sample.{evse}", SAMPLE,
              "a fresh reading, every poll interval while the meter answers (and on read_now)"),
        Topic("fault.{evse}", {"kind": "enum(energy_went_backwards)", "previous_wh": "float",
                               "reading_wh": "float"},
              "the import energy register went below the last accepted value (meter replaced or reset): the"
              " reading is refused, not sampled; published once per episode"),
    ),
    commands=(
        Command("read_now", {"evse": "int"}, SAMPLE,
                "read the EVSE's meter now and return the fresh sample (transaction start/end values); errors:"
                " unknown_evse, no_meter, meter_offline (no answer), meter_error (CRC, exception or malformed"
                " reply twice), energy_went_backwards",
                idempotent=True),
    ),
)
