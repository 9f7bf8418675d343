"""reon-meter: polls each EVSE's energy meter over Modbus RTU; publishes samples, link state and faults.

Glue only: modbus_meter.py does the wire, link_health.py decides ok/degraded/offline. One MeterBus per
serial port (the meters on it are told apart by unit id), one MeterChannel per EVSE with a poll loop and an
offline watchdog, so a meter is reported offline on time even while the bus is busy with timeouts.
A failed read never yields a sample: the state keeps the last good sample with its own read_at. Every good
poll is a `sample` event; the state goes out when something but the sample and `reads_ok` changed (link,
fault, an error counter) and otherwise at most every STATE_REFRESH_S, so an idle station does not pass two
copies of every reading through the bus.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import asdict
from typing import Any

from bus import runtime
from bus.client import BusClient
from bus.rpc import RpcError
from services.meter.contract import CONTRACT
from services.meter.link_health import Link, LinkHealth
from services.meter.modbus_maps import MAX_REGISTERS_PER_READ
from services.meter.modbus_meter import (
    EnergyWentBackwards,
    MeterBus,
    MeterError,
    MeterFault,
    Reading,
    SerialSettings,
)
from station.config import Evse, Meter, StationConfig

# station config model names -> the driver's register maps
MODEL_NAMES = {"SDM630": "sdm630", "SDM72D": "sdm72dm", "SDM120": "sdm120", "ABB_B23": "abb_b23",
               "EM340": "em340"}
MAX_REPLY_TIMEOUT_S = 1.0
TRANSIENT_FAULTS = (MeterFault.CRC, MeterFault.BAD_RESPONSE)  # read_now tries once more after these
STATE_REFRESH_S = 5.0  # the state's sample and reads_ok are at most this old while nothing else changes


def sample_of(evse_id: int, reading: Reading) -> dict[str, Any]:
    """A Reading as the contract's SAMPLE (UTC seconds, values rounded to what a meter resolves)."""
    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return {
        "evse": evse_id,
        "energy_import_wh": r(reading.energy_import_wh),
        "energy_import_wh_per_phase": [r(v) for v in reading.energy_import_wh_per_phase],
        "power_w": r(reading.power_w),
        "power_w_per_phase": [r(v) for v in reading.power_w_per_phase],
        "current_a_per_phase": [r(v) for v in reading.current_a_per_phase],
        "voltage_v_per_phase": [r(v) for v in reading.voltage_v_per_phase],
        "frequency_hz": r(reading.frequency_hz),
        "read_at": reading.read_at.timestamp(),
    }


class MeterChannel:
    """One EVSE's meter: polls it, keeps its link health, publishes its samples, faults and state."""

    def __init__(self, service: MeterService, evse_id: int, meter: Meter, bus: MeterBus) -> None:
        self.service = service
        self.evse_id = evse_id
        self.meter = meter
        self.model = MODEL_NAMES[meter.model]
        self.bus = bus
        self.health = LinkHealth(meter.offline_after_s)
        self.last_sample: dict[str, Any] | None = None
        self.published_link: Link | None = None
        self._published_key: tuple[Any, ...] | None = None
        self._published_at = float("-inf")
        self._answered = asyncio.Event()

    async def read(self) -> dict[str, Any]:
        """One read through the driver, mapped onto samples, faults and state. Raises MeterError."""
        try:
            reading = await self.bus.read(self.meter.unit_id, self.model)
        except EnergyWentBackwards as exc:
            first = not self.health.energy_went_backwards
            self.health.refused(time.monotonic())
            self._answered.set()
            if first:
                self.service.log.error("EVSE %d meter: import energy went backwards (%.1f Wh -> %s Wh); readings"
                                       " refused until it climbs past the last value", self.evse_id,
                                       exc.previous_wh, exc.reading.energy_import_wh)
                await self.service.publish_event(f"fault.{self.evse_id}", {
                    "kind": "energy_went_backwards", "previous_wh": exc.previous_wh,
                    "reading_wh": exc.reading.energy_import_wh})
            await self.publish_state()
            raise
        except MeterError:
            self.health.failed()
            await self.publish_state()
            raise
        self.health.reading(time.monotonic())
        self._answered.set()
        self.last_sample = sample_of(self.evse_id, reading)
        await self.service.publish_event(f"sample.{self.evse_id}", self.last_sample)
        await self.publish_state()
        return self.last_sample

    async def poll_forever(self) -> None:
        """Read every poll_s (fixed rate; a late read is not followed by a burst)."""
        next_s = time.monotonic()
        last_bug = ""
        task = asyncio.current_task()
        while True:
            try:
                await self.read()
            except MeterError:
                pass  # counted and logged by the driver, shown in the state
            except Exception as exc:  # a bug must not stop the polling of this meter; logged once per kind
                if repr(exc) != last_bug:
                    self.service.log.exception("EVSE %d meter: poll failed unexpectedly", self.evse_id)
                last_bug = repr(exc)
            if task is not None and task.cancelling():
                # Python 3.11's wait_for (inside pymodbus) drops a cancel that races a reply: honour it here
                raise asyncio.CancelledError
            next_s = max(next_s + self.meter.poll_s, time.monotonic())
            await asyncio.sleep(next_s - time.monotonic())

    async def watch_offline(self) -> None:
        """Publish `offline` the moment offline_after_s pass without a reading, however long reads take."""
        while True:
            left_s = self.health.offline_in_s(time.monotonic())
            if left_s > 0:
                await asyncio.sleep(left_s)
                continue
            if self.published_link is not Link.OFFLINE:
                await self.publish_state()
            self._answered.clear()
            if self.health.offline_in_s(time.monotonic()) == 0:
                await self._answered.wait()

    async def publish_state(self) -> None:
        """The state, when anything but the sample and reads_ok changed or STATE_REFRESH_S passed."""
        now = time.monotonic()
        link = self.health.link(now)
        if self.published_link not in (None, Link.OFFLINE) and link is Link.OFFLINE:
            self.service.log.warning("EVSE %d meter (unit %d on %s): offline, no reading for %.1f s",
                                     self.evse_id, self.meter.unit_id, self.bus.settings.port,
                                     self.meter.offline_after_s)
        elif self.published_link is Link.OFFLINE and link is not Link.OFFLINE:
            self.service.log.info("EVSE %d meter: answering, link %s", self.evse_id, link)
        self.published_link = link
        fault = "energy_went_backwards" if self.health.energy_went_backwards else None
        counts = self.bus.counters(self.meter.unit_id)
        key = (link, fault, self.last_sample is None, *(v for k, v in vars(counts).items() if k != "reads_ok"))
        if key == self._published_key and now - self._published_at < STATE_REFRESH_S:
            return
        self._published_key, self._published_at = key, now
        counters = asdict(counts)
        await self.service.publish_state(f"meter.{self.evse_id}", {
            "model": self.meter.model,
            "unit_id": self.meter.unit_id,
            "port": self.bus.settings.port,
            "link": str(link),
            "fault": fault,
            "sample": self.last_sample,
            "counters": counters,
        })


class MeterService(runtime.Service):
    contract = CONTRACT

    def __init__(self, config: StationConfig, bus: BusClient) -> None:
        super().__init__(config, bus)
        self.buses: dict[str, MeterBus] = {}
        self.channels: dict[int, MeterChannel] = {}

    async def start(self) -> None:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # it logs every failure with a hex dump
        by_port: dict[str, list[Evse]] = {}
        for evse in self.config.evses:
            if evse.meter is not None:
                port = self.config.device_port(evse.meter.port, "meter")
                if not port:
                    self.log.error("EVSE %d: meter has no port configured; it will show offline", evse.id)
                by_port.setdefault(port or "", []).append(evse)
        for port, evses in by_port.items():
            self.buses[port] = MeterBus(self._serial_settings(port, evses))
            for evse in evses:
                assert evse.meter is not None
                self.channels[evse.id] = MeterChannel(self, evse.id, evse.meter, self.buses[port])
        for channel in self.channels.values():
            await channel.publish_state()
        self.log.info("meters: %s", ", ".join(
            f"EVSE {c.evse_id} {c.meter.model} unit {c.meter.unit_id} on {port or '(no port)'}"
            for port, evses in by_port.items() for c in (self.channels[e.id] for e in evses)) or "none")

    def _serial_settings(self, port: str, evses: list[Evse]) -> SerialSettings:
        """One line, one baud rate and parity (the first EVSE's). A reply may take a third of offline_after_s
        (at most 1 s), but never less than the longest reply needs on the wire at this baud rate."""
        meters = [e.meter for e in evses if e.meter is not None]
        first = meters[0]
        for evse, meter in zip(evses, meters, strict=True):
            if (meter.baud, meter.parity) != (first.baud, first.parity):
                self.log.warning("EVSE %d meter: %d baud parity %s differs from the other meters on %s; using"
                                 " %d baud parity %s", evse.id, meter.baud, meter.parity, port, first.baud,
                                 first.parity)
        units = [m.unit_id for m in meters]
        for unit_id in sorted({u for u in units if units.count(u) > 1}):
            self.log.error("unit id %d is configured for more than one meter on %s: they read the same meter",
                           unit_id, port)
        wire_s = (5 + 2 * MAX_REGISTERS_PER_READ) * 11 / first.baud  # the longest reply, 11 bits a byte
        timeout_s = max(wire_s + 0.1, min(MAX_REPLY_TIMEOUT_S, min(m.offline_after_s for m in meters) / 3))
        return SerialSettings(port=port, baudrate=first.baud, parity=first.parity, timeout_s=timeout_s)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            for channel in self.channels.values():
                tasks.create_task(channel.poll_forever(), name=f"meter-poll-{channel.evse_id}")
                tasks.create_task(channel.watch_offline(), name=f"meter-watch-{channel.evse_id}")

    async def stop(self) -> None:
        for bus in self.buses.values():
            bus.close()

    async def cmd_read_now(self, args: dict[str, Any]) -> dict[str, Any]:
        """A fresh reading now; CRC or malformed replies are tried once more."""
        evse_id = args["evse"]
        if not any(e.id == evse_id for e in self.config.evses):
            raise RpcError("unknown_evse", f"no EVSE {evse_id}")
        channel = self.channels.get(evse_id)
        if channel is None:
            raise RpcError("no_meter", f"EVSE {evse_id} has no meter")
        for attempt in (1, 2):
            try:
                return await channel.read()
            except EnergyWentBackwards as exc:
                raise RpcError("energy_went_backwards", str(exc)) from None
            except MeterError as exc:
                if exc.reason in (MeterFault.TIMEOUT, MeterFault.PORT):
                    raise RpcError("meter_offline", str(exc)) from None
                if attempt == 2 or exc.reason not in TRANSIENT_FAULTS:
                    raise RpcError("meter_error", f"{exc} ({exc.reason})") from None
        raise AssertionError("unreachable")


def main() -> int:
    return runtime.main(MeterService)


if __name__ == "__main__":
    sys.exit(main())
