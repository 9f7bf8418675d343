"""The device end of a simulated serial port: a pseudo-terminal behind a stable symlink.

The host opens ``path`` (a symlink to the pty slave) as it would open /dev/ttyUSB0. ``close()`` removes the
path and the pty, so the host's reads fail as when a USB device is pulled; ``open()`` makes a new pty behind
the same path, as when it re-enumerates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("reon.sim.pty")

READ_CHUNK_BYTES = 4096


class PtyPort:
    """A pty whose data from the host goes to ``on_data``; open/close from the event loop thread."""

    def __init__(self, path: str | Path, on_data: Callable[[bytes], None]) -> None:
        self.path = Path(path)
        self.on_data = on_data
        self.bytes_dropped_tx = 0
        self._master_fd: int | None = None
        self._slave_fd: int | None = None

    @property
    def is_open(self) -> bool:
        return self._master_fd is not None

    def open(self) -> None:
        """Create the pty and point ``path`` at it (replacing any old link atomically)."""
        if self._master_fd is not None:
            return
        master_fd, slave_fd = os.openpty()
        tty.setraw(slave_fd)  # no echo or line discipline before the host configures the port
        os.set_blocking(master_fd, False)
        # holding the slave open keeps the master from reading EIO while the host has the port closed
        self._master_fd, self._slave_fd = master_fd, slave_fd
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(os.ttyname(slave_fd), tmp)
        os.replace(tmp, self.path)
        asyncio.get_running_loop().add_reader(master_fd, self._on_readable)
        log.info("%s -> %s", self.path, os.ttyname(slave_fd))

    def close(self) -> None:
        """Remove ``path`` and close the pty: the host sees EIO."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        if self._master_fd is not None:
            asyncio.get_running_loop().remove_reader(self._master_fd)
        for fd in (self._master_fd, self._slave_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master_fd = self._slave_fd = None

    def write(self, data: bytes) -> bool:
        """Write to the host; False (and counted) when closed or the pty buffer is full."""
        if self._master_fd is None:
            return False
        try:
            written = os.write(self._master_fd, data)
        except OSError:
            written = 0
        if written < len(data):
            self.bytes_dropped_tx += len(data) - written  # nobody reads the pty and its buffer is full
            return False
        return True

    def _on_readable(self) -> None:
        if self._master_fd is None:
            return
        try:
            chunk = os.read(self._master_fd, READ_CHUNK_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("%s: pty read failed: %s", self.path, exc)
            return
        if chunk:
            self.on_data(chunk)
