"""Asyncio serial link to one EVSE's pilot/contactor MCU (docs/hardware.md §1); no bus in here.

The link owns the port (station/serial_port.py: read from the event loop, a port that errors or vanishes
closed and reopened with back-off, 0.2 s doubling to 5 s), sends the host keep-alive every second while it is
open and declares the link down when the MCU's keep-alive stops for ``keepalive_timeout_s`` (5 s) or the port
is lost. Nothing raises out of the link task; bad frames are counted and skipped.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.evse_io.mcu_framing import DEFAULT_MAX_FRAME_BYTES, FrameDecoder, FrameStats, encode_frame
from services.evse_io.mcu_pb2 import EverestToMcu, FirmwareUpdate, KeepAlive, KeepAliveLo, McuToEverest
from station.serial_port import SerialPort

log = logging.getLogger("reon.evse_io.mcu")

MAX_PENDING_WRITE_BYTES = 4096
DUTY_MAX_0_01PCT = 10000

OnMessage = Callable[[McuToEverest], None]
OnLink = Callable[[bool], None]
OnSent = Callable[[EverestToMcu, float], None]


@dataclass
class LinkStats:
    """Counters of the link itself; frame errors are in ``McuLink.frame_stats``."""

    frames_sent: int = 0
    frames_received: int = 0
    frames_dropped_tx: int = 0  # not written: port closed or the OS buffer stayed full
    port_opens: int = 0
    port_losses: int = 0


class McuLink:
    """The host side of one pilot-MCU UART.

    Callbacks are plain functions called from the event loop: ``on_message(McuToEverest)`` for every good
    frame, ``on_link(up)`` when the link goes up or down, ``on_sent(msg, sent_at_monotonic_s)`` after every
    frame handed to the OS. A callback that raises is logged and ignored. Send helpers return False when the
    frame could not be written (port closed); the owner re-asserts its outputs on ``on_link(True)``.
    """

    def __init__(
        self,
        evse_id: int,
        port_path: str,
        baudrate: int = 115200,
        *,
        on_message: OnMessage | None = None,
        on_link: OnLink | None = None,
        on_sent: OnSent | None = None,
        keepalive_interval_s: float = 1.0,
        keepalive_timeout_s: float = 5.0,
        reopen_min_s: float = 0.2,
        reopen_max_s: float = 5.0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        hw_type: int = 0,
        hw_revision: int = 0,
        sw_version: str = "reon",
    ) -> None:
        self.evse_id = evse_id
        self.port_path = port_path
        self.baudrate = baudrate
        self.on_message = on_message
        self.on_link = on_link
        self.on_sent = on_sent
        self.keepalive_interval_s = keepalive_interval_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.reopen_min_s = reopen_min_s
        self.reopen_max_s = reopen_max_s
        self._keepalive_template = KeepAlive(
            hw_type=hw_type, hw_revision=hw_revision, sw_version_string=sw_version
        )
        self._name = f"evse {evse_id} mcu {port_path}"
        self._decoder = FrameDecoder(McuToEverest, max_frame_bytes=max_frame_bytes, name=self._name)
        self.stats = LinkStats()
        self.mcu_keepalive: KeepAliveLo | None = None  # the last one received: hardware capabilities
        self._link_up = False
        self._port = SerialPort(port_path, baudrate, name=self._name, on_data=self._on_data, on_open=self._opened,
                                on_close=self._closed, serve=self._send_keepalives, reopen_min_s=reopen_min_s,
                                reopen_max_s=reopen_max_s)
        self._pending_tx = bytearray()
        self._expiry: asyncio.TimerHandle | None = None
        self._started_at = time.monotonic()

    # ---- life ----

    async def start(self) -> None:
        """Start the link task; it keeps (re)opening the port until ``stop()``."""
        self._port.start()

    async def stop(self) -> None:
        """Stop the task and close the port (no ``on_link`` call)."""
        await self._port.stop()
        self._pending_tx.clear()
        self._cancel_expiry()
        self._link_up = False

    @property
    def link_up(self) -> bool:
        """True while the MCU's keep-alive arrives in time."""
        return self._link_up

    @property
    def port_open(self) -> bool:
        return self._port.is_open

    @property
    def frame_stats(self) -> FrameStats:
        """Bad COBS / CRC / protobuf / over-long frames received, cumulative over reopens."""
        return self._decoder.stats

    # ---- commands to the MCU ----

    def send(self, message: EverestToMcu) -> bool:
        """Write one message; False when the port is closed or the frame had to be dropped."""
        if not self._port.is_open:
            self.stats.frames_dropped_tx += 1
            return False
        if not self._write(encode_frame(message)):
            return False
        self.stats.frames_sent += 1
        self._call("on_sent", self.on_sent, message, time.monotonic())
        return True

    def set_pwm_duty(self, duty_0_01pct: int) -> bool:
        """PWM duty in 0.01 % (0 = state F, 10000 = steady +12 V / PWM off)."""
        if not 0 <= duty_0_01pct <= DUTY_MAX_0_01PCT:
            raise ValueError(f"duty must be 0..{DUTY_MAX_0_01PCT} (0.01 %), not {duty_0_01pct}")
        return self.send(EverestToMcu(pwm_duty_cycle=duty_0_01pct))

    def allow_power_on(self, allowed: bool) -> bool:
        """Let the MCU close the relays (it still enforces its own safety) or make it open them."""
        return self.send(EverestToMcu(allow_power_on=allowed))

    def lock(self, locked: bool) -> bool:
        """Lock (True) or unlock (False) the connector."""
        return self.send(EverestToMcu(connector_lock=locked))

    def reset(self) -> bool:
        """Reset the MCU."""
        return self.send(EverestToMcu(reset=True))

    def set_phases(self, three: bool) -> bool:
        """Switch between 3-phase (True) and 1-phase (False) charging."""
        return self.send(EverestToMcu(set_number_of_phases=three))

    def invoke_bootloader(self) -> bool:
        """Restart the MCU into its ROM bootloader (firmware flashing)."""
        return self.send(EverestToMcu(firmware_update=FirmwareUpdate(invoke_rom_bootloader=True)))

    # ---- the port's hooks ----

    def _opened(self) -> None:
        self._pending_tx.clear()
        self._decoder.reset()
        self.stats.port_opens += 1

    def _closed(self, lost: str | None) -> None:
        """The port was lost (`lost` says why) or the keep-alive task failed: the link is down."""
        if lost is not None:
            self.stats.port_losses += 1
        self._pending_tx.clear()
        self._set_link(False)

    async def _send_keepalives(self) -> None:
        """Send the host keep-alive at a steady cadence while the port is open."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            self._send_keepalive()
            next_at = max(next_at + self.keepalive_interval_s, loop.time())
            await asyncio.sleep(next_at - loop.time())  # the cadence, not synchronisation

    def _send_keepalive(self) -> None:
        keepalive = KeepAlive()
        keepalive.CopyFrom(self._keepalive_template)
        keepalive.time_stamp = int((time.monotonic() - self._started_at) * 1000) & 0xFFFFFFFF
        self.send(EverestToMcu(keep_alive=keepalive))

    def _lose_port(self, reason: str) -> None:
        """The device errored or vanished: close it now, the port's task reopens it."""
        self._port.lose(reason)

    # ---- reading ----

    def _on_data(self, chunk: bytes) -> None:
        for message in self._decoder.feed(chunk):
            self.stats.frames_received += 1
            if message.WhichOneof("payload") == "keep_alive":
                self.mcu_keepalive = message.keep_alive
                self._on_mcu_keepalive()
            self._call("on_message", self.on_message, message)
            if not self._port.is_open:  # a callback stopped the link or the port
                return

    def _on_mcu_keepalive(self) -> None:
        self._cancel_expiry()
        self._expiry = asyncio.get_running_loop().call_later(
            self.keepalive_timeout_s, self._keepalive_expired
        )
        self._set_link(True)

    def _keepalive_expired(self) -> None:
        self._expiry = None
        log.warning("%s: no MCU keep-alive for %.1f s, link down", self._name, self.keepalive_timeout_s)
        self._set_link(False)

    def _cancel_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def _set_link(self, up: bool) -> None:
        if up == self._link_up:
            return
        self._link_up = up
        if not up:
            self._cancel_expiry()
        log.info("%s: link %s", self._name, "up" if up else "down")
        self._call("on_link", self.on_link, up)

    # ---- writing ----

    def _write(self, frame: bytes) -> bool:
        """Write now, or queue behind bytes the OS has not taken yet; False if dropped."""
        fd = self._port.fd
        assert fd is not None
        if self._pending_tx:
            if len(self._pending_tx) + len(frame) > MAX_PENDING_WRITE_BYTES:
                self.stats.frames_dropped_tx += 1
                log.warning("%s: transmit buffer full, frame dropped", self._name)
                return False
            self._pending_tx += frame
            return True
        try:
            written = os.write(fd, frame)
        except (BlockingIOError, InterruptedError):
            written = 0
        except OSError as exc:
            self.stats.frames_dropped_tx += 1
            self._lose_port(f"write: {errno.errorcode.get(exc.errno or 0, exc)}")
            return False
        if written < len(frame):
            self._pending_tx += frame[written:]
            asyncio.get_running_loop().add_writer(fd, self._on_writable)
        return True

    def _on_writable(self) -> None:
        fd = self._port.fd
        if fd is None:
            return
        try:
            written = os.write(fd, self._pending_tx)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lose_port(f"write: {errno.errorcode.get(exc.errno or 0, exc)}")
            return
        del self._pending_tx[:written]
        if not self._pending_tx:
            asyncio.get_running_loop().remove_writer(fd)

    def _call(self, name: str, callback: Callable[..., None] | None, *args: object) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:
            log.exception("%s: %s callback raised", self._name, name)
