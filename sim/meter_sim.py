"""Simulated Modbus RTU energy meters on a pseudo-terminal, served by the pymodbus serial server.

The pymodbus server opens a port by path, and so does the driver; a pty has only one path (the slave),
so the line is two ptys joined back to back: the server opens one, the driver the other through the
symlink (`<dir>/meter`). The join is also where line faults are made: noise, a vanishing port.
Each meter's registers follow a small physical model (load current -> power -> energy over time).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import time
import tty
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from services.meter.modbus_maps import Quantity, encode, get_map

__all__ = ["MeterSim", "SimulatedMeter"]

log = logging.getLogger(__name__)

NOMINAL_VOLTAGE_V = 230.0
NOMINAL_FREQUENCY_HZ = 50.0


class SimulatedMeter:
    """One meter: per-phase load currents, ~230 V, 50 Hz, import energy integrating power over time."""

    def __init__(
        self,
        unit_id: int,
        model: str = "sdm630",
        *,
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
    ):
        self.unit_id = unit_id
        self.register_map = get_map(model)
        self.online = True
        self.bad_crc_replies = 0  # the next n replies go out with a broken CRC
        self._clock = clock
        self._rng = random.Random(unit_id if seed is None else seed)
        phases = self.register_map.phases
        self._current_a = [0.0] * phases
        self._voltage_v = [NOMINAL_VOLTAGE_V] * phases
        self._energy_wh = [0.0] * phases
        self._missing: set[tuple[Quantity, int | None]] = set()
        self._last_s = clock()

    @property
    def phases(self) -> int:
        return self.register_map.phases

    @property
    def energy_import_wh(self) -> float:
        self._integrate()
        return sum(self._energy_wh)

    @property
    def current_a_per_phase(self) -> tuple[float, ...]:
        return tuple(self._current_a)

    def set_load(self, current_a_per_phase: Sequence[float], phases: int | None = None) -> None:
        """Draw these currents from now on; `phases` loaded phases (one value applies to each of them)."""
        phases = len(current_a_per_phase) if phases is None else phases
        if not 1 <= phases <= 3 or any(i < 0 for i in current_a_per_phase):
            raise ValueError(f"bad load {current_a_per_phase} on {phases} phases")
        if len(current_a_per_phase) == 1:
            current_a_per_phase = list(current_a_per_phase) * phases
        currents = [float(i) for i in current_a_per_phase[:phases]]
        self._integrate()
        self._current_a = (currents + [0.0] * self.phases)[: self.phases]

    def set_energy_wh(self, energy_import_wh: float) -> None:
        """Set the import energy register (lower than before = a meter that went backwards)."""
        self._integrate()
        total = sum(self._energy_wh)
        if total > 0:
            self._energy_wh = [e * energy_import_wh / total for e in self._energy_wh]
        else:
            self._energy_wh = [energy_import_wh / self.phases] * self.phases

    def mark_missing(self, quantity: Quantity | str, phase: int | None = None) -> None:
        """Answer "not available" for one value (ABB 0x7FFF../0xFFFF..)."""
        if not self.register_map.missing_sentinels:
            raise ValueError(f"{self.register_map.model} has no 'not available' value")
        self._missing.add((Quantity(quantity), phase))

    def go_offline(self) -> None:
        self.online = False

    def come_back(self) -> None:
        self.online = True

    def reply_with_bad_crc(self, count: int = 1) -> None:
        self.bad_crc_replies += count

    def values(self) -> dict[tuple[Quantity, int | None], float | None]:
        """What the meter measures right now, keyed like modbus_maps.encode wants it."""
        self._integrate()
        self._voltage_v = [NOMINAL_VOLTAGE_V + self._rng.uniform(-1.0, 1.0) for _ in self._voltage_v]
        power_w = [v * i for v, i in zip(self._voltage_v, self._current_a, strict=True)]
        values: dict[tuple[Quantity, int | None], float | None] = {
            (Quantity.POWER_W, None): sum(power_w),
            (Quantity.FREQUENCY_HZ, None): NOMINAL_FREQUENCY_HZ + self._rng.uniform(-0.02, 0.02),
            (Quantity.ENERGY_IMPORT_WH, None): sum(self._energy_wh),
        }
        for phase in range(1, self.phases + 1):
            values[(Quantity.VOLTAGE_V, phase)] = self._voltage_v[phase - 1]
            values[(Quantity.CURRENT_A, phase)] = self._current_a[phase - 1]
            values[(Quantity.POWER_W, phase)] = power_w[phase - 1]
            values[(Quantity.ENERGY_IMPORT_WH, phase)] = self._energy_wh[phase - 1]
        for key in self._missing:
            values[key] = None
        return values

    def registers(self) -> dict[int, int]:
        """The register image {address: word} of the map's fields."""
        return encode(self.register_map, self.values())

    def _integrate(self) -> None:
        now_s = self._clock()
        hours = max(0.0, now_s - self._last_s) / 3600
        self._last_s = now_s
        for phase, (v, i) in enumerate(zip(self._voltage_v, self._current_a, strict=True)):
            self._energy_wh[phase] += v * i * hours


class _PtyLine:
    """Two pseudo-terminals joined back to back: the server's end, and the driver's end behind a symlink."""

    def __init__(self, link_path: Path):
        self.link_path = link_path
        self._loop = asyncio.get_running_loop()
        self._server_fds = os.openpty()
        tty.setraw(self._server_fds[1])
        os.set_blocking(self._server_fds[0], False)
        self.server_path = os.ttyname(self._server_fds[1])
        self._loop.add_reader(self._server_fds[0], self._forward_to_driver)
        self._driver_fds: tuple[int, int] | None = None
        self.plug()

    @property
    def plugged(self) -> bool:
        return self._driver_fds is not None

    def plug(self) -> None:
        """A (new) port appears at link_path."""
        if self._driver_fds:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._driver_fds = (master, slave)
        tmp = self.link_path.with_name(self.link_path.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.link_path)
        self._loop.add_reader(master, self._forward_to_server)

    def unplug(self) -> None:
        """The port vanishes (USB adapter pulled): the driver's end hangs up and the path is gone."""
        if not self._driver_fds:
            return
        master, slave = self._driver_fds
        self._driver_fds = None
        self._loop.remove_reader(master)
        os.close(master)
        os.close(slave)
        self.link_path.unlink(missing_ok=True)

    def write_to_driver(self, data: bytes) -> None:
        if self._driver_fds:
            _write(self._driver_fds[0], data)

    def close(self) -> None:
        self.unplug()
        self._loop.remove_reader(self._server_fds[0])
        for fd in self._server_fds:
            os.close(fd)

    def _forward_to_driver(self) -> None:
        data = _read(self._server_fds[0])
        if data:
            self.write_to_driver(data)

    def _forward_to_server(self) -> None:
        if self._driver_fds and (data := _read(self._driver_fds[0])):
            _write(self._server_fds[0], data)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except (BlockingIOError, InterruptedError):
        return b""
    except OSError as exc:  # the other end has hung up
        log.debug("pty read failed: %s", exc)
        return b""


def _write(fd: int, data: bytes) -> None:
    try:
        os.write(fd, data)
    except OSError as exc:  # nobody reading and the buffer is full: the bytes are lost, as on a wire
        log.debug("pty write dropped %d bytes: %s", len(data), exc)


class MeterSim:
    """Meters on one simulated RS-485 line; the driver opens `link_path` (by default the SDM630 at unit 1)."""

    def __init__(
        self,
        link_path: str | os.PathLike[str],
        meters: Mapping[int, str] | None = None,
        *,
        baudrate: int = 9600,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.link_path = Path(link_path)
        self.baudrate = baudrate
        self.meters = {
            unit_id: SimulatedMeter(unit_id, model, clock=clock)
            for unit_id, model in (meters or {1: "sdm630"}).items()
        }
        self._line: _PtyLine | None = None
        self._server: ModbusSerialServer | None = None
        self._reply_prefix = b""

    @property
    def path(self) -> Path:
        return self.link_path

    def meter(self, unit_id: int) -> SimulatedMeter:
        return self.meters[unit_id]

    async def start(self) -> None:
        self._line = _PtyLine(self.link_path)
        devices = [self._device(meter) for meter in self.meters.values()]
        # id 0 catches every other unit id; its replies are dropped in _on_packet, so they time out
        devices.append(SimDevice(id=0, simdata=SimData(0, datatype=DataType.REGISTERS)))
        self._server = ModbusSerialServer(
            devices, port=self._line.server_path, baudrate=self.baudrate, trace_packet=self._on_packet
        )
        await self._server.serve_forever(background=True)
        await asyncio.sleep(0)  # pymodbus opens the port with call_soon(setup): let it run before any stop()

    async def stop(self) -> None:
        if self._server:
            await self._server.shutdown()
            self._server = None
        if self._line:
            self._line.close()
            self._line = None

    async def __aenter__(self) -> MeterSim:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    def inject_garbage(self, data: bytes) -> None:
        """Put noise on the line now, towards the driver."""
        self._started_line().write_to_driver(data)

    def garble_next_reply(self, prefix: bytes) -> None:
        """Send these noise bytes right before the next reply, in the same burst."""
        self._reply_prefix += prefix

    def unplug_port(self) -> None:
        """The port vanishes (USB adapter pulled): the driver's end hangs up and the symlink goes."""
        self._started_line().unplug()

    def plug_port(self) -> None:
        """A new port appears behind the same symlink."""
        self._started_line().plug()

    def _started_line(self) -> _PtyLine:
        if self._line is None:
            raise RuntimeError("MeterSim is not started")
        return self._line

    def _device(self, meter: SimulatedMeter) -> SimDevice:
        blocks = [
            SimData(b.start, count=b.count, datatype=DataType.REGISTERS) for b in meter.register_map.blocks
        ]
        return SimDevice(id=meter.unit_id, simdata=blocks, action=partial(self._on_access, meter))

    @staticmethod
    async def _on_access(
        meter: SimulatedMeter,
        function_code: int,
        start: int,
        _address: int,
        _count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Refresh the register image before each read (addresses outside the blocks never get here)."""
        if set_values is not None or function_code != meter.register_map.function_code:
            return ExcCodes.ILLEGAL_FUNCTION
        for address, word in meter.registers().items():
            registers[address - start] = word
        return None

    def _on_packet(self, sending: bool, packet: bytes) -> bytes:
        """pymodbus trace hook on the server: silence offline/unknown units, break CRCs, add noise."""
        if not sending or not packet:
            return packet
        meter = self.meters.get(packet[0])
        if meter is None or not meter.online:
            return b""
        if meter.bad_crc_replies:
            meter.bad_crc_replies -= 1
            packet = packet[:-1] + bytes([packet[-1] ^ 0xFF])
        packet, self._reply_prefix = self._reply_prefix + packet, b""
        return packet


async def _run(link_path: str, meters: dict[int, str], current_a: float) -> None:
    async with MeterSim(link_path, meters) as sim:
        for meter in sim.meters.values():
            meter.set_load([current_a], phases=meter.phases)
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        print(f"meters {meters} on {link_path}; Ctrl-C to stop", flush=True)
        await stop.wait()


def main() -> None:
    """`python -m sim.meter_sim /tmp/reon/meter 1:sdm630 2:em340 --current-a 16`"""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("link_path")
    parser.add_argument("meters", nargs="*", default=["1:sdm630"], help="UNIT_ID:MODEL")
    parser.add_argument("--current-a", type=float, default=0.0)
    args = parser.parse_args()
    meters = {int(unit): model for unit, model in (m.split(":", 1) for m in args.meters)}
    asyncio.run(_run(args.link_path, meters, args.current_a))


if __name__ == "__main__":
    main()
