"""Register maps and the generic decoder: hand-built payloads at the documented addresses, and round trips."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from services.meter.modbus_maps import (
    ABB_B23,
    EM340,
    MAPS,
    MAX_REGISTERS_PER_READ,
    SDM120,
    SDM630,
    Block,
    Field,
    Quantity,
    RegisterMap,
    RegType,
    decode,
    encode,
    encode_field,
    get_map,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)
Q = Quantity


def blank(register_map: RegisterMap) -> dict[int, int]:
    return {a: 0 for b in register_map.blocks for a in range(b.start, b.start + b.count)}


def f32(value: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


def i32_low_word_first(value: int) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">i", value))
    return [lo, hi]


def put(registers: dict[int, int], address: int, words: list[int]) -> None:
    registers.update(zip(range(address, address + len(words)), words, strict=True))


def test_every_map_reads_blocks_of_at_most_80_registers() -> None:
    for register_map in MAPS.values():
        assert all(0 < b.count <= MAX_REGISTERS_PER_READ for b in register_map.blocks), register_map.model


def test_a_field_outside_the_blocks_is_rejected() -> None:
    with pytest.raises(ValueError, match="in no block"):
        RegisterMap(model="x", description="x", function_code=4, phases=1, blocks=(Block(0, 2),),
                    fields=(Field(Q.VOLTAGE_V, 1, RegType.FLOAT32, "V", phase=1),))


def test_a_block_over_80_registers_is_rejected() -> None:
    with pytest.raises(ValueError, match="81 registers"):
        RegisterMap(model="x", description="x", function_code=4, phases=1, blocks=(Block(0, 81),), fields=())


def test_unknown_model_is_rejected_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="sdm630"):
        get_map("sdm999")


def test_sdm630_float32_registers_decode_at_the_documented_addresses() -> None:
    registers = blank(SDM630)
    for address, value in {0x00: 230.5, 0x02: 231.5, 0x04: 229.5, 0x06: 16.0, 0x08: 15.5, 0x0A: 0.25,
                           0x0C: 3688.0, 0x0E: 3588.25, 0x10: 57.375, 0x34: 7333.625, 0x46: 49.96875,
                           0x48: 1234.5, 0x15A: 400.25, 0x15C: 500.5, 0x15E: 333.75}.items():
        put(registers, address, f32(value))
    reading = decode(SDM630, registers, unit_id=3, read_at=NOW)
    assert reading.unit_id == 3 and reading.model == "sdm630" and reading.read_at == NOW
    assert reading.voltage_v_per_phase == (230.5, 231.5, 229.5)
    assert reading.current_a_per_phase == (16.0, 15.5, 0.25)
    assert reading.power_w_per_phase == (3688.0, 3588.25, 57.375)
    assert reading.power_w == 7333.625
    assert reading.frequency_hz == 49.96875
    assert reading.energy_import_wh == 1_234_500.0  # kWh -> Wh
    assert reading.energy_import_wh_per_phase == (400_250.0, 500_500.0, 333_750.0)


def test_sdm120_is_single_phase_with_total_power_as_l1() -> None:
    registers = blank(SDM120)
    put(registers, 0x00, f32(230.0))
    put(registers, 0x06, f32(10.0))
    put(registers, 0x0C, f32(2300.0))
    put(registers, 0x48, f32(12.0))
    reading = decode(SDM120, registers, unit_id=1, read_at=NOW)
    assert reading.voltage_v_per_phase == (230.0,)
    assert reading.current_a_per_phase == (10.0,)
    assert reading.power_w == 2300.0 and reading.power_w_per_phase == (2300.0,)
    assert reading.energy_import_wh == 12_000.0 and reading.energy_import_wh_per_phase == ()


def test_em340_int32_registers_are_low_word_first_and_scaled() -> None:
    registers = blank(EM340)
    put(registers, 0x02, i32_low_word_first(2312))  # V L2 x0.1
    put(registers, 0x0C, i32_low_word_first(16123))  # I L1 x0.001
    put(registers, 0x12, i32_low_word_first(-1234))  # P L1 x0.1, exporting
    put(registers, 0x28, i32_low_word_first(75000))  # P total x0.1
    registers[0x33] = 499  # Hz INT16 x0.1
    put(registers, 0x34, [0xE240, 0x0001])  # 123456 x0.1 kWh, low word first
    put(registers, 0x42, i32_low_word_first(70000))  # E L2
    reading = decode(EM340, registers, unit_id=1, read_at=NOW)
    assert reading.voltage_v_per_phase[1] == 231.2
    assert reading.current_a_per_phase[0] == 16.123
    assert reading.power_w_per_phase[0] == -123.4
    assert reading.power_w == 7500.0
    assert reading.frequency_hz == 49.9
    assert reading.energy_import_wh == 12_345_600.0
    assert reading.energy_import_wh_per_phase == (0.0, 7_000_000.0, 0.0)


def test_abb_b23_integer_registers_decode_at_the_documented_addresses() -> None:
    registers = blank(ABB_B23)
    put(registers, 0x5000, list(struct.unpack(">4H", struct.pack(">Q", 1_234_567))))  # x0.01 kWh
    put(registers, 0x5464, list(struct.unpack(">4H", struct.pack(">Q", 42))))
    put(registers, 0x5B04, list(struct.unpack(">2H", struct.pack(">I", 2287))))  # V L3 x0.1
    put(registers, 0x5B0E, list(struct.unpack(">2H", struct.pack(">I", 1599))))  # I L2 x0.01
    put(registers, 0x5B14, list(struct.unpack(">2H", struct.pack(">i", -150000))))  # P total x0.01
    put(registers, 0x5B1A, list(struct.unpack(">2H", struct.pack(">i", 123456))))  # P L3
    registers[0x5B2C] = 4998  # Hz x0.01
    reading = decode(ABB_B23, registers, unit_id=1, read_at=NOW)
    assert reading.energy_import_wh == 12_345_670.0
    assert reading.energy_import_wh_per_phase == (0.0, 420.0, 0.0)
    assert reading.voltage_v_per_phase == (0.0, 0.0, 228.7)
    assert reading.current_a_per_phase == (0.0, 15.99, 0.0)
    assert reading.power_w == -1500.0
    assert reading.power_w_per_phase[2] == 1234.56
    assert reading.frequency_hz == 49.98


def test_abb_not_available_values_decode_as_none_not_as_readings() -> None:
    registers = blank(ABB_B23)
    put(registers, 0x5000, [0xFFFF] * 4)  # U64
    put(registers, 0x5B00, [0xFFFF, 0xFFFF])  # U32
    put(registers, 0x5B14, [0x7FFF, 0xFFFF])  # S32
    put(registers, 0x5B02, [0x7FFF, 0xFFFF])  # a U32 0x7FFFFFFF is a value, not the sentinel
    registers[0x5B2C] = 0xFFFF  # U16
    reading = decode(ABB_B23, registers, unit_id=1, read_at=NOW)
    assert reading.energy_import_wh is None
    assert reading.voltage_v_per_phase[0] is None
    assert reading.voltage_v_per_phase[1] == 0x7FFFFFFF / 10
    assert reading.power_w is None
    assert reading.frequency_hz is None


def test_sentinel_patterns_are_plain_values_on_meters_without_them() -> None:
    registers = blank(EM340)
    registers[0x33] = 0x7FFF
    assert decode(EM340, registers, unit_id=1, read_at=NOW).frequency_hz == 3276.7


def test_float32_nan_decodes_as_none() -> None:
    registers = blank(SDM630)
    put(registers, 0x46, f32(float("nan")))
    assert decode(SDM630, registers, unit_id=1, read_at=NOW).frequency_hz is None


PHYSICAL = {
    (Q.VOLTAGE_V, 1): 230.1, (Q.VOLTAGE_V, 2): 231.2, (Q.VOLTAGE_V, 3): 229.3,
    (Q.CURRENT_A, 1): 16.12, (Q.CURRENT_A, 2): 15.5, (Q.CURRENT_A, 3): 0.25,
    (Q.POWER_W, 1): 3705.5, (Q.POWER_W, 2): 3583.6, (Q.POWER_W, 3): 57.3, (Q.POWER_W, None): 7346.4,
    (Q.FREQUENCY_HZ, None): 49.9,
    (Q.ENERGY_IMPORT_WH, None): 12_345_600.0,
    (Q.ENERGY_IMPORT_WH, 1): 4_000_000.0, (Q.ENERGY_IMPORT_WH, 2): 5_000_100.0,
    (Q.ENERGY_IMPORT_WH, 3): 3_345_500.0,
}


@pytest.mark.parametrize("model", sorted(MAPS))
def test_every_map_decodes_what_its_encoding_wrote(model: str) -> None:
    register_map = MAPS[model]
    values = dict(PHYSICAL)
    if register_map.phases == 1:  # the total of a single-phase meter is its L1
        values[(Q.POWER_W, None)] = values[(Q.POWER_W, 1)]
    reading = decode(register_map, encode(register_map, values), unit_id=7, read_at=NOW)

    def expected(quantity: Quantity) -> tuple[float, ...]:
        phases = sorted(f.phase for f in register_map.fields if f.quantity == quantity and f.phase)
        return tuple(values[(quantity, p)] for p in phases)

    def approx(value: object) -> object:
        return pytest.approx(value, rel=1e-6)  # float32 keeps ~7 digits

    assert reading.voltage_v_per_phase == approx(expected(Q.VOLTAGE_V))
    assert len(reading.voltage_v_per_phase) == register_map.phases
    assert reading.current_a_per_phase == approx(expected(Q.CURRENT_A))
    assert reading.power_w_per_phase == approx(expected(Q.POWER_W))
    assert reading.power_w == approx(values[(Q.POWER_W, None)])
    assert reading.frequency_hz == approx(49.9)
    assert reading.energy_import_wh == approx(12_345_600.0)
    assert reading.energy_import_wh_per_phase == approx(expected(Q.ENERGY_IMPORT_WH))


def test_encoding_a_missing_value_needs_a_meter_that_has_one() -> None:
    field = SDM630.field(Q.FREQUENCY_HZ)
    assert field is not None
    with pytest.raises(ValueError):
        encode_field(field, None, SDM630.missing_sentinels)


def test_encoding_a_value_that_does_not_fit_is_rejected() -> None:
    field = ABB_B23.field(Q.FREQUENCY_HZ)
    assert field is not None
    with pytest.raises(ValueError, match="does not fit"):
        encode_field(field, 700.0)
