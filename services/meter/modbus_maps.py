"""Energy-meter register maps as data, and one generic decoder: registers -> Reading.

Addresses are 0-based wire addresses (docs/hardware.md §3). Each map lists the contiguous blocks the
driver reads (at most 80 registers each) and, per field, where a value lives and how it is encoded.
Readings are in V, A, W, Hz and Wh: a field in kWh is multiplied by 1000.
No I/O here: modbus_meter.py does the wire, sim/meter_sim.py encodes with the same maps.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pymodbus.client import ModbusBaseClient

MAX_REGISTERS_PER_READ = 80

WordOrder = Literal["big", "little"]


class RegType(StrEnum):
    """How a value is laid out in 16-bit registers."""

    FLOAT32 = "float32"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"

    @property
    def words(self) -> int:
        return _DATATYPES[self].value[1]

    @property
    def is_signed_int(self) -> bool:
        return self in (RegType.INT16, RegType.INT32, RegType.INT64)


_DATATYPES = {t: ModbusBaseClient.DATATYPE[t.name] for t in RegType}


class Quantity(StrEnum):
    """What a field measures, named with the unit of the Reading."""

    VOLTAGE_V = "voltage_v"
    CURRENT_A = "current_a"
    POWER_W = "power_w"
    FREQUENCY_HZ = "frequency_hz"
    ENERGY_IMPORT_WH = "energy_import_wh"


# meter unit -> factor to the Reading's unit
_UNIT_FACTORS = {"V": Decimal(1), "A": Decimal(1), "W": Decimal(1), "Hz": Decimal(1),
                 "Wh": Decimal(1), "kWh": Decimal(1000)}


@dataclass(frozen=True)
class Field:
    """One value: Reading unit = raw x scale x unit factor (kWh -> Wh x1000)."""

    quantity: Quantity
    address: int
    reg_type: RegType
    unit: str
    scale: float = 1.0
    phase: int | None = None  # 1..3, None for the total
    word_order: WordOrder = "big"

    @property
    def words(self) -> int:
        return self.reg_type.words

    @property
    def factor(self) -> Decimal:
        """Multiplier from the raw register value to the Reading's unit."""
        return Decimal(str(self.scale)) * _UNIT_FACTORS[self.unit]


@dataclass(frozen=True)
class Block:
    """A contiguous register range read with one request."""

    start: int
    count: int

    def __contains__(self, address: int) -> bool:
        return self.start <= address < self.start + self.count


@dataclass(frozen=True)
class RegisterMap:
    """Everything the driver needs to read one meter model."""

    model: str
    description: str
    function_code: Literal[3, 4]
    phases: int
    blocks: tuple[Block, ...]
    fields: tuple[Field, ...]
    missing_sentinels: bool = False  # ABB: 0x7FFF.. (signed) / 0xFFFF.. (unsigned) = not available
    default_baudrate: int | None = None

    def __post_init__(self) -> None:
        for block in self.blocks:
            if not 0 < block.count <= MAX_REGISTERS_PER_READ:
                raise ValueError(f"{self.model}: block at {block.start:#x} reads {block.count} registers")
        for field in self.fields:
            last = field.address + field.words - 1
            if not any(field.address in b and last in b for b in self.blocks):
                raise ValueError(f"{self.model}: {field.quantity} at {field.address:#x} is in no block")
            if field.unit not in _UNIT_FACTORS:
                raise ValueError(f"{self.model}: unknown unit {field.unit!r}")

    def field(self, quantity: Quantity, phase: int | None = None) -> Field | None:
        """The field for a quantity (and phase), or None if the model has no such value."""
        for f in self.fields:
            if f.quantity == quantity and f.phase == phase:
                return f
        return None


@dataclass(frozen=True)
class Reading:
    """One complete reading of one meter; per-phase tuples are L1, L2, L3 (empty if the model has none)."""

    unit_id: int
    model: str
    read_at: datetime
    energy_import_wh: float | None
    energy_import_wh_per_phase: tuple[float | None, ...]
    power_w: float | None
    power_w_per_phase: tuple[float | None, ...]
    current_a_per_phase: tuple[float | None, ...]
    voltage_v_per_phase: tuple[float | None, ...]
    frequency_hz: float | None


def _phase_fields(quantity: Quantity, addresses: Sequence[int], reg_type: RegType, unit: str,
                  scale: float = 1.0, word_order: WordOrder = "big") -> tuple[Field, ...]:
    return tuple(Field(quantity, a, reg_type, unit, scale, phase, word_order)
                 for phase, a in enumerate(addresses, start=1))


_Q = Quantity
_F32 = RegType.FLOAT32

_EASTRON_3PH_COMMON = (
    *_phase_fields(_Q.VOLTAGE_V, (0x00, 0x02, 0x04), _F32, "V"),
    *_phase_fields(_Q.CURRENT_A, (0x06, 0x08, 0x0A), _F32, "A"),
    *_phase_fields(_Q.POWER_W, (0x0C, 0x0E, 0x10), _F32, "W"),
    Field(_Q.POWER_W, 0x34, _F32, "W"),
    Field(_Q.FREQUENCY_HZ, 0x46, _F32, "Hz"),
    Field(_Q.ENERGY_IMPORT_WH, 0x48, _F32, "kWh"),
)

SDM630 = RegisterMap(
    model="sdm630", description="Eastron SDM630 v2", function_code=4, phases=3,
    blocks=(Block(0x00, 0x4A), Block(0x15A, 6)),
    fields=(*_EASTRON_3PH_COMMON, *_phase_fields(_Q.ENERGY_IMPORT_WH, (0x15A, 0x15C, 0x15E), _F32, "kWh")),
    default_baudrate=9600,
)

SDM72DM = RegisterMap(
    model="sdm72dm", description="Eastron SDM72D-M v2", function_code=4, phases=3,
    blocks=(Block(0x00, 0x4A),), fields=_EASTRON_3PH_COMMON, default_baudrate=9600,
)

SDM120 = RegisterMap(
    model="sdm120", description="Eastron SDM120 (single phase)", function_code=4, phases=1,
    blocks=(Block(0x00, 0x4A),),
    fields=(
        Field(_Q.VOLTAGE_V, 0x00, _F32, "V", phase=1),
        Field(_Q.CURRENT_A, 0x06, _F32, "A", phase=1),
        Field(_Q.POWER_W, 0x0C, _F32, "W", phase=1),
        Field(_Q.POWER_W, 0x0C, _F32, "W"),  # single phase: the total is L1
        Field(_Q.FREQUENCY_HZ, 0x46, _F32, "Hz"),
        Field(_Q.ENERGY_IMPORT_WH, 0x48, _F32, "kWh"),
    ),
    default_baudrate=2400,
)

ABB_B23 = RegisterMap(
    model="abb_b23", description="ABB B23/B24", function_code=3, phases=3,
    blocks=(Block(0x5000, 4), Block(0x5460, 12), Block(0x5B00, 0x2D)),
    fields=(
        *_phase_fields(_Q.VOLTAGE_V, (0x5B00, 0x5B02, 0x5B04), RegType.UINT32, "V", 0.1),
        *_phase_fields(_Q.CURRENT_A, (0x5B0C, 0x5B0E, 0x5B10), RegType.UINT32, "A", 0.01),
        Field(_Q.POWER_W, 0x5B14, RegType.INT32, "W", 0.01),
        *_phase_fields(_Q.POWER_W, (0x5B16, 0x5B18, 0x5B1A), RegType.INT32, "W", 0.01),
        Field(_Q.FREQUENCY_HZ, 0x5B2C, RegType.UINT16, "Hz", 0.01),
        Field(_Q.ENERGY_IMPORT_WH, 0x5000, RegType.UINT64, "kWh", 0.01),
        *_phase_fields(_Q.ENERGY_IMPORT_WH, (0x5460, 0x5464, 0x5468), RegType.UINT64, "kWh", 0.01),
    ),
    missing_sentinels=True,
)

_I32 = RegType.INT32
EM340 = RegisterMap(
    model="em340", description="Carlo Gavazzi EM340", function_code=4, phases=3,
    blocks=(Block(0x00, 0x46),),
    fields=(
        *_phase_fields(_Q.VOLTAGE_V, (0x00, 0x02, 0x04), _I32, "V", 0.1, "little"),
        *_phase_fields(_Q.CURRENT_A, (0x0C, 0x0E, 0x10), _I32, "A", 0.001, "little"),
        *_phase_fields(_Q.POWER_W, (0x12, 0x14, 0x16), _I32, "W", 0.1, "little"),
        Field(_Q.POWER_W, 0x28, _I32, "W", 0.1, word_order="little"),
        Field(_Q.FREQUENCY_HZ, 0x33, RegType.INT16, "Hz", 0.1),
        Field(_Q.ENERGY_IMPORT_WH, 0x34, _I32, "kWh", 0.1, word_order="little"),
        *_phase_fields(_Q.ENERGY_IMPORT_WH, (0x40, 0x42, 0x44), _I32, "kWh", 0.1, "little"),
    ),
)

MAPS: dict[str, RegisterMap] = {m.model: m for m in (SDM630, SDM72DM, SDM120, ABB_B23, EM340)}


def get_map(model: str) -> RegisterMap:
    """The register map of a model name as written in the station config (e.g. "sdm630")."""
    try:
        return MAPS[model]
    except KeyError:
        raise ValueError(f"unknown meter model {model!r}; known: {', '.join(MAPS)}") from None


def _sentinel(reg_type: RegType) -> int:
    bits = 16 * reg_type.words
    return (1 << (bits - 1)) - 1 if reg_type.is_signed_int else (1 << bits) - 1


def decode_field(field: Field, words: Sequence[int], missing_sentinels: bool = False) -> float | None:
    """Registers of one field -> value in the Reading's unit; None when the meter says "not available"."""
    raw = ModbusBaseClient.convert_from_registers(list(words), _DATATYPES[field.reg_type], field.word_order)
    if isinstance(raw, float):
        return raw * float(field.factor) if math.isfinite(raw) else None
    assert isinstance(raw, int)
    if missing_sentinels and raw == _sentinel(field.reg_type):
        return None
    return float(Decimal(raw) * field.factor)


def encode_field(field: Field, value: float | None, missing_sentinels: bool = False) -> list[int]:
    """Value in the Reading's unit -> the field's registers (None -> the "not available" sentinel)."""
    datatype = _DATATYPES[field.reg_type]
    if value is None:
        if not missing_sentinels or field.reg_type == RegType.FLOAT32:
            raise ValueError(f"{field.quantity}: this meter has no 'not available' value")
        raw: int | float = _sentinel(field.reg_type)
    elif field.reg_type == RegType.FLOAT32:
        raw = value / float(field.factor)
    else:
        raw = int((Decimal(str(value)) / field.factor).to_integral_value())
    try:
        return ModbusBaseClient.convert_to_registers(raw, datatype, field.word_order)
    except struct.error as exc:
        raise ValueError(f"{field.quantity} = {value} does not fit {field.reg_type}") from exc


def encode(register_map: RegisterMap, values: Mapping[tuple[Quantity, int | None], float | None]
           ) -> dict[int, int]:
    """{(quantity, phase): value} -> {address: register}; fields without a value are left out."""
    registers: dict[int, int] = {}
    for field in register_map.fields:
        key = (field.quantity, field.phase)
        if key in values:
            words = encode_field(field, values[key], register_map.missing_sentinels)
            registers.update(zip(range(field.address, field.address + field.words), words, strict=True))
    return registers


def decode(register_map: RegisterMap, registers: Mapping[int, int], *, unit_id: int,
           read_at: datetime) -> Reading:
    """{address: register} covering the map's blocks -> Reading."""
    def value(quantity: Quantity, phase: int | None = None) -> float | None:
        field = register_map.field(quantity, phase)
        if field is None:
            return None
        words = [registers[a] for a in range(field.address, field.address + field.words)]
        return decode_field(field, words, register_map.missing_sentinels)

    def per_phase(quantity: Quantity) -> tuple[float | None, ...]:
        phases = sorted(f.phase for f in register_map.fields if f.quantity == quantity and f.phase)
        return tuple(value(quantity, p) for p in phases)

    return Reading(
        unit_id=unit_id,
        model=register_map.model,
        read_at=read_at,
        energy_import_wh=value(Quantity.ENERGY_IMPORT_WH),
        energy_import_wh_per_phase=per_phase(Quantity.ENERGY_IMPORT_WH),
        power_w=value(Quantity.POWER_W),
        power_w_per_phase=per_phase(Quantity.POWER_W),
        current_a_per_phase=per_phase(Quantity.CURRENT_A),
        voltage_v_per_phase=per_phase(Quantity.VOLTAGE_V),
        frequency_hz=value(Quantity.FREQUENCY_HZ),
    )
