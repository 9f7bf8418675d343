"""Async Modbus RTU driver for the energy meters on one RS-485 bus (pymodbus AsyncModbusSerialClient).

One MeterBus per serial port, shared by the meters on it (one per EVSE, told apart by unit id).
`read(unit_id, model)` reads the model's contiguous blocks and returns a fresh Reading or raises
MeterError; a failed read never yields old values. Plain code, no bus: the service maps MeterError
onto state and events.
"""

from __future__ import annotations

import asyncio
import logging
import termios
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.framer import FramerRTU, FramerType

from .modbus_maps import Block, Reading, RegisterMap, decode, get_map

__all__ = [
    "EnergyWentBackwards",
    "MeterBus",
    "MeterConfig",
    "MeterError",
    "MeterFault",
    "Reading",
    "SerialSettings",
    "UnitCounters",
]

log = logging.getLogger(__name__)


class MeterFault(StrEnum):
    """Why a read failed."""

    TIMEOUT = "timeout"  # no answer within timeout_s (meter offline, wrong unit id, cable)
    CRC = "crc"  # a reply came back but failed its CRC check
    EXCEPTION_RESPONSE = "exception_response"  # the meter answered with a Modbus exception
    BAD_RESPONSE = "bad_response"  # a valid frame of the wrong shape
    PORT = "port"  # the serial port cannot be opened (unplugged USB adapter, wrong path)
    ENERGY_WENT_BACKWARDS = "energy_went_backwards"  # meter replaced or reset


class MeterError(Exception):
    """A meter read failed; `reason` says why. The one exception type of this driver."""

    def __init__(self, reason: MeterFault, unit_id: int, message: str, exception_code: int | None = None):
        super().__init__(f"meter unit {unit_id}: {message}")
        self.reason = reason
        self.unit_id = unit_id
        self.exception_code = exception_code


class EnergyWentBackwards(MeterError):
    """The import energy register is lower than before: a fault (meter replaced/reset), not a reading."""

    def __init__(self, reading: Reading, previous_wh: float):
        super().__init__(MeterFault.ENERGY_WENT_BACKWARDS, reading.unit_id,
                         f"import energy went backwards: {previous_wh} Wh -> {reading.energy_import_wh} Wh")
        self.reading = reading
        self.previous_wh = previous_wh


@dataclass(frozen=True)
class SerialSettings:
    """One RS-485 port. Eastron ships 9600 8N1 (some units Even parity), SDM120 2400 8N1."""

    port: str
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8
    timeout_s: float = 1.0

    def __post_init__(self) -> None:
        if self.parity not in ("N", "E", "O"):
            raise ValueError(f"parity must be N, E or O, not {self.parity!r}")
        if self.stopbits not in (1, 2):
            raise ValueError(f"stopbits must be 1 or 2, not {self.stopbits}")
        if not 0 < self.timeout_s <= 10:
            raise ValueError(f"timeout_s must be in (0, 10], not {self.timeout_s}")


@dataclass(frozen=True)
class MeterConfig:
    """One meter on the bus: its unit id, its model (a key of modbus_maps.MAPS) and how often to poll it."""

    unit_id: int
    model: str
    poll_interval_s: float = 1.0

    def __post_init__(self) -> None:
        _check_unit_id(self.unit_id)
        get_map(self.model)
        if self.poll_interval_s <= 0:
            raise ValueError(f"poll_interval_s must be > 0, not {self.poll_interval_s}")

    @property
    def register_map(self) -> RegisterMap:
        return get_map(self.model)


@dataclass
class UnitCounters:
    """Per-unit wire statistics (counted per Modbus request, reads_ok per complete Reading)."""

    reads_ok: int = 0
    timeouts: int = 0
    crc_errors: int = 0
    exception_responses: int = 0
    bad_responses: int = 0
    port_errors: int = 0
    energy_went_backwards: int = 0
    garbage_bytes: int = 0  # bytes skipped before a valid reply


def _check_unit_id(unit_id: int) -> None:
    if not 1 <= unit_id <= 247:
        raise ValueError(f"unit id must be 1..247, not {unit_id}")


def _crc_ok(frame: bytes) -> bool:
    return int.from_bytes(frame[-2:], "big") == FramerRTU.compute_CRC(frame[:-2])


class _ReplyFilter:
    """Finds the expected reply in the received bytes: skips leading garbage, spots bad CRCs.

    Installed as pymodbus' trace_packet hook: it hands pymodbus only a complete, CRC-valid frame of
    the expected unit, function and length (or nothing yet), so line noise cannot derail decoding.
    """

    def __init__(self) -> None:
        self.unit_id = 0
        self.function_code = 0
        self.count = 0
        self.active = False
        self.crc_failed = False
        self.skipped = 0
        self.stray = 0  # bytes that arrived while no request was outstanding

    def expect(self, unit_id: int, function_code: int, count: int) -> None:
        self.unit_id, self.function_code, self.count = unit_id, function_code, count
        self.active, self.crc_failed, self.skipped = True, False, 0

    def done(self) -> None:
        self.active = False

    def __call__(self, sending: bool, data: bytes) -> bytes:
        if sending:
            return data
        if not self.active:
            self.stray = len(data)
            return b""
        for offset in range(len(data) - 1):
            if data[offset] != self.unit_id:
                continue
            function_code = data[offset + 1]
            if function_code == self.function_code:
                size = 5 + 2 * self.count
                if len(data) > offset + 2 and data[offset + 2] != 2 * self.count:
                    continue
            elif function_code == self.function_code | 0x80:
                size = 5
            else:
                continue
            frame = data[offset:offset + size]
            if len(frame) < size:
                continue  # the rest may still be on its way; a later complete frame wins
            if _crc_ok(frame):
                self.skipped = offset
                return frame
            self.crc_failed = True
        return b""  # nothing complete yet: pymodbus keeps the bytes and calls again


class MeterBus:
    """All meters on one serial port; reads are serialised (one request on the wire at a time)."""

    def __init__(self, settings: SerialSettings):
        self.settings = settings
        self._filter = _ReplyFilter()
        self._client = AsyncModbusSerialClient(
            settings.port, framer=FramerType.RTU, baudrate=settings.baudrate, bytesize=settings.bytesize,
            parity=settings.parity, stopbits=settings.stopbits, timeout=settings.timeout_s, retries=0,
            reconnect_delay=0,  # reconnecting is done here, before each read
            name=f"meter bus {settings.port}", trace_packet=self._filter,
        )
        self._lock = asyncio.Lock()
        self._counters: dict[int, UnitCounters] = {}
        self._last_energy_wh: dict[int, float] = {}
        self._failing: dict[int, MeterFault] = {}
        self.stray_bytes = 0

    @property
    def connected(self) -> bool:
        return self._client.connected

    async def read(self, unit_id: int, model: str) -> Reading:
        """Read one meter: every block of its map, then decode. Raises MeterError."""
        _check_unit_id(unit_id)
        register_map = get_map(model)
        try:
            async with self._lock:
                await self._connect(unit_id)
                registers: dict[int, int] = {}
                for block in register_map.blocks:
                    words = await self._read_block(unit_id, register_map.function_code, block)
                    registers.update(zip(range(block.start, block.start + block.count), words, strict=True))
            # read_at: when the last block arrived
            reading = decode(register_map, registers, unit_id=unit_id, read_at=datetime.now(UTC))
            self._check_energy(reading)
        except MeterError as exc:
            self._note_failure(exc)
            raise
        self._note_success(unit_id)
        return reading

    def counters(self, unit_id: int) -> UnitCounters:
        """A snapshot of the unit's counters."""
        return replace(self._counters.setdefault(unit_id, UnitCounters()))

    def accept_energy_baseline(self, unit_id: int) -> None:
        """Forget the last energy of a unit (after a meter swap): the next reading sets a new baseline."""
        self._last_energy_wh.pop(unit_id, None)

    def close(self) -> None:
        self._client.close()

    async def __aenter__(self) -> MeterBus:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()

    async def _connect(self, unit_id: int) -> None:
        if self._client.connected:
            return
        try:
            ok = await self._client.connect()
        except (OSError, ValueError, termios.error) as exc:
            ok, why = False, str(exc)
        else:
            why = "cannot open it"
        if not ok:
            self._count(unit_id).port_errors += 1
            raise MeterError(MeterFault.PORT, unit_id, f"serial port {self.settings.port}: {why}")

    async def _read_block(self, unit_id: int, function_code: int, block: Block) -> list[int]:
        counters = self._count(unit_id)
        if self._filter.stray:
            log.warning("meter bus %s: discarded %d stray bytes", self.settings.port, self._filter.stray)
            self.stray_bytes += self._filter.stray
            self._filter.stray = 0
        self._filter.expect(unit_id, function_code, block.count)
        request = (self._client.read_holding_registers if function_code == 3
                   else self._client.read_input_registers)
        try:
            response = await request(block.start, count=block.count, device_id=unit_id)
        except ConnectionException as exc:
            counters.port_errors += 1
            raise MeterError(MeterFault.PORT, unit_id, f"serial port {self.settings.port}: {exc}") from exc
        except ModbusException as exc:
            if self._filter.crc_failed:
                counters.crc_errors += 1
                raise MeterError(MeterFault.CRC, unit_id, "reply failed its CRC check") from exc
            counters.timeouts += 1
            raise MeterError(MeterFault.TIMEOUT, unit_id,
                             f"no answer within {self.settings.timeout_s} s") from exc
        finally:
            self._filter.done()
        if self._filter.skipped:
            counters.garbage_bytes += self._filter.skipped
            log.warning("meter unit %d: skipped %d garbage bytes before its reply",
                        unit_id, self._filter.skipped)
        if response.isError():
            counters.exception_responses += 1
            code = getattr(response, "exception_code", None)
            raise MeterError(MeterFault.EXCEPTION_RESPONSE, unit_id,
                             f"exception {code} reading {block.count} registers at {block.start:#x}",
                             exception_code=code)
        words = list(getattr(response, "registers", []))
        if response.function_code != function_code or len(words) != block.count:
            counters.bad_responses += 1
            raise MeterError(MeterFault.BAD_RESPONSE, unit_id,
                             f"asked {block.count} registers at {block.start:#x}, got {len(words)}")
        return words

    def _check_energy(self, reading: Reading) -> None:
        energy_wh = reading.energy_import_wh
        if energy_wh is None:
            return
        previous_wh = self._last_energy_wh.get(reading.unit_id)
        if previous_wh is not None and energy_wh < previous_wh:
            self._count(reading.unit_id).energy_went_backwards += 1
            raise EnergyWentBackwards(reading, previous_wh)
        self._last_energy_wh[reading.unit_id] = energy_wh

    def _count(self, unit_id: int) -> UnitCounters:
        return self._counters.setdefault(unit_id, UnitCounters())

    def _note_failure(self, exc: MeterError) -> None:
        if self._failing.get(exc.unit_id) != exc.reason:
            log.warning("%s (%s)", exc, exc.reason)
        self._failing[exc.unit_id] = exc.reason

    def _note_success(self, unit_id: int) -> None:
        self._count(unit_id).reads_ok += 1
        if self._failing.pop(unit_id, None) is not None:
            log.info("meter unit %d on %s answers again", unit_id, self.settings.port)

