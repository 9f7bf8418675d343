"""One serial device kept open from the event loop: open, read loop, reopen with back-off.

Used by every driver of a serial device (the pilot MCU link, the RFID reader, the AT modem); each keeps its
protocol and hands the port its hooks:
- `on_data(chunk)` for every chunk read (the fd is non-blocking and watched with `loop.add_reader`);
- `on_open()` once the port is open, `on_close(reason)` once it is closed by the task or by `lose()`
  (reason: why the device was lost, or None when `serve` ended); never after `stop()`;
- `serve()`: a coroutine that runs while the port is open (keep-alives, set-up commands); when it returns
  the port is closed and reopened; when the port is lost it is cancelled. Without it the port stays open
  until it fails.
A port that cannot be opened, errors or vanishes (a USB device pulled, a closed pseudo-terminal) is closed
and opened again after `reopen_min_s`, doubling to `reopen_max_s`. The back-off starts again from the
minimum when the owner calls `mark_good()` (the device answered) or the port stayed open `reopen_max_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import serial

log = logging.getLogger("reon.serial")

READ_CHUNK_BYTES = 4096


@dataclass
class PortStats:
    """What happened to the port since start."""

    opens: int = 0
    reopens: int = 0  # successful opens after the first attempt
    open_failures: int = 0
    losses: int = 0  # the device errored or vanished while open


class SerialPort:
    """The port at `path`; `start()` keeps it open until `stop()`."""

    def __init__(
        self,
        path: str,
        baudrate: int,
        *,
        name: str,
        on_data: Callable[[bytes], None],
        on_open: Callable[[], None] | None = None,
        on_close: Callable[[str | None], None] | None = None,
        serve: Callable[[], Awaitable[None]] | None = None,
        reopen_min_s: float = 0.2,
        reopen_max_s: float = 5.0,
        exclusive: bool = True,
        write_timeout_s: float | None = None,
        flush_input: bool = False,
    ) -> None:
        self.path = path
        self.baudrate = baudrate
        self.name = name
        self.reopen_min_s = reopen_min_s
        self.reopen_max_s = reopen_max_s
        self.stats = PortStats()
        self._on_data = on_data
        self._on_open = on_open
        self._on_close = on_close
        self._serve = serve
        self._options = {"exclusive": exclusive, "write_timeout": write_timeout_s}
        self._flush_input = flush_input
        self._serial: serial.Serial | None = None
        self._fd: int | None = None
        self._lost: asyncio.Future[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._delay_s = reopen_min_s
        self._attempted = False
        self._failures_in_row = 0

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    @property
    def fd(self) -> int | None:
        """The open port's file descriptor (non-blocking), None while closed."""
        return self._fd

    @property
    def serial(self) -> serial.Serial | None:
        """The open port as pyserial sees it, None while closed."""
        return self._serial

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"serial {self.name}")

    async def stop(self) -> None:
        """Stop the task and close the port (no `on_close`)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._close_fd()

    def mark_good(self) -> None:
        """The device proved good: the next reopen waits only `reopen_min_s`."""
        self._delay_s = self.reopen_min_s

    def lose(self, reason: str) -> None:
        """The device errored or vanished (a read or write failed): close it now; the task reopens it."""
        if self._fd is None:
            return
        log.warning("%s: port lost (%s), closing and reopening", self.name, reason)
        self.stats.losses += 1
        self._close(reason)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)

    # ---- the task ----

    async def _run(self) -> None:
        while True:
            if self._open():
                opened_at = time.monotonic()
                await self._session()
                if time.monotonic() - opened_at >= self.reopen_max_s:
                    self.mark_good()  # a port that stayed up earns a quick first retry
            await asyncio.sleep(self._delay_s)  # back-off between attempts, not synchronisation
            self._delay_s = min(self._delay_s * 2, self.reopen_max_s)

    async def _session(self) -> None:
        """Run `serve` until it returns or the port is lost, then close the port."""
        lost = self._lost = asyncio.get_running_loop().create_future()
        serve = asyncio.create_task(self._serving(), name=f"serial {self.name} serve")
        try:
            await asyncio.wait({serve, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not serve.done():
                serve.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await serve
        self._close(None)

    async def _serving(self) -> None:
        try:
            if self._serve is not None:
                await self._serve()
            else:
                await asyncio.Event().wait()  # open until lost
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: error while the port was open, reopening", self.name)

    def _open(self) -> bool:
        first_try = not self._attempted
        self._attempted = True
        try:
            port = serial.Serial(self.path, self.baudrate, timeout=0, **self._options)
            if self._flush_input:
                port.reset_input_buffer()
        except (OSError, serial.SerialException, ValueError) as exc:
            self.stats.open_failures += 1
            self._failures_in_row += 1
            level = logging.WARNING if self._failures_in_row == 1 else logging.DEBUG
            log.log(level, "%s: cannot open port (retrying with back-off): %s", self.name, exc)
            return False
        self._failures_in_row = 0
        self.stats.opens += 1
        if not first_try:
            self.stats.reopens += 1
        fd = port.fileno()
        os.set_blocking(fd, False)
        self._serial, self._fd = port, fd
        log.info("%s: port open at %d baud", self.name, self.baudrate)
        if self._on_open is not None:
            try:
                self._on_open()  # before the first chunk is read
            except Exception:
                log.exception("%s: on_open failed", self.name)
        asyncio.get_running_loop().add_reader(fd, self._on_readable)
        return True

    def _close(self, reason: str | None) -> None:
        if self._fd is None:
            return
        self._close_fd()
        if self._on_close is not None:
            try:
                self._on_close(reason)
            except Exception:
                log.exception("%s: on_close failed", self.name)

    def _close_fd(self) -> None:
        fd, port = self._fd, self._serial
        self._fd, self._serial = None, None
        if fd is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(fd)
            loop.remove_writer(fd)
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()

    def _on_readable(self) -> None:
        if self._fd is None:
            return
        try:
            chunk = os.read(self._fd, READ_CHUNK_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.lose(f"read: {errno.errorcode.get(exc.errno or 0, exc)}")
            return
        if not chunk:
            self.lose("read: end of file")
            return
        try:
            self._on_data(chunk)
        except Exception:
            log.exception("%s: on_data failed", self.name)
