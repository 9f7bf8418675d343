"""A serial RFID reader on a pseudo-terminal: ``swipe(uid)`` writes the card UID as one hex line.

The reader's port is a ``PtyPort`` (a pty behind a stable symlink, as a udev rule would name a USB reader);
``vanish()`` pulls the reader out (the host's reads fail), ``appear()`` plugs it in again.
Open and close it from the event loop thread.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sim.pty_port import PtyPort

log = logging.getLogger("reon.sim.rfid")


class RfidReaderSim:
    """The card-reader end of the line."""

    def __init__(self, path: str | os.PathLike[str], line_ending: bytes = b"\r\n") -> None:
        self.line_ending = line_ending
        self.port = PtyPort(Path(path), self._from_host)

    @property
    def path(self) -> Path:
        return self.port.path

    @property
    def present(self) -> bool:
        return self.port.is_open

    def appear(self) -> None:
        """Plug the reader in: a new pseudo-terminal behind ``path``."""
        self.port.open()

    def vanish(self) -> None:
        """Pull the reader out: the terminal closes under whoever has it open and the path goes away."""
        self.port.close()

    def swipe(self, uid: str) -> bool:
        """Present a card: its UID as the reader prints it, e.g. ``04A1B2C3``. False when unplugged."""
        return self.send_raw(uid.encode("ascii") + self.line_ending)

    def send_raw(self, data: bytes) -> bool:
        """Write bytes as they are (line noise, malformed lines). False when unplugged or not read."""
        return self.port.write(data)

    def _from_host(self, data: bytes) -> None:
        log.debug("RFID reader sim: ignoring %d bytes from the host", len(data))

    def __enter__(self) -> RfidReaderSim:
        self.appear()
        return self

    def __exit__(self, *exc: object) -> None:
        self.vanish()
