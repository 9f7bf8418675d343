"""Asyncio AT-command driver for the cellular modem over pyserial: no bus in it.

One command at a time; a reply is collected line by line until its final result code, and unsolicited result
codes (URCs) go to a callback whenever they arrive, even inside a reply. `ATE0`, `AT+CMEE=2` (and the
registration URCs) are set at every open and after every modem reset (`RDY`). A port that errors, vanishes
(USB re-enumeration) or stops answering is closed and reopened with back-off, 0.2 s doubling to 5 s
(station/serial_port.py).
`ModemError` is the one failure type of this boundary.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import serial

from services.modem import at_parser as p
from services.modem.at_lines import MAX_LINE_BYTES, Discarded, LineReader
from services.modem.modem_info import Link, ModemError, ModemInfo
from station.serial_port import SerialPort

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["AtModem", "Link", "ModemError", "ModemInfo", "ModemStats"]

INIT_COMMANDS = ("ATE0", "AT+CMEE=2")
URC_ENABLE_COMMANDS = ("AT+CREG=1", "AT+CEREG=1")  # best effort: not every modem knows both
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0


@dataclass
class ModemStats:
    garbage_lines: int = 0
    overlong_lines: int = 0
    unexpected_lines: int = 0  # not a URC, and no command was waiting for it
    unparsed_replies: int = 0
    urcs: int = 0
    timeouts: int = 0
    open_failures: int = 0
    reopens: int = 0  # successful opens after the first attempt
    resets: int = 0  # RDY seen


@dataclass
class _Pending:
    command: str
    expect: frozenset[str]
    future: asyncio.Future[list[str]]
    lines: list[str] = field(default_factory=list)


class AtModem:
    """The modem on serial port `port`; `start()` opens it and keeps it open until `close()`."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        command_timeout_s: float = 2.0,
        on_urc: Callable[[str], None] | None = None,
        on_link: Callable[[bool], None] | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        self.port = port
        self._stats = ModemStats()
        self.vendor: p.Vendor | None = None
        self._timeout_s = command_timeout_s
        self._on_urc = on_urc
        self._on_link = on_link
        self._max_line_bytes = max_line_bytes
        self._serial = SerialPort(port, baudrate, name=f"modem {port}", on_data=self._on_data,
                                  on_open=self._opened, on_close=self._closed, serve=self._serve,
                                  reopen_min_s=BACKOFF_FIRST_S, reopen_max_s=BACKOFF_MAX_S, exclusive=False,
                                  write_timeout_s=1.0, flush_input=True)
        self._reader = LineReader(max_line_bytes)
        self._pending: _Pending | None = None
        self._lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._reopen_wanted = False
        self._reinit_wanted = False

    @property
    def stats(self) -> ModemStats:
        """Counters of the AT link, the port's opens and failures included."""
        self._stats.open_failures = self._serial.stats.open_failures
        self._stats.reopens = self._serial.stats.reopens
        return self._stats

    @property
    def ready(self) -> bool:
        """The port is open and the modem answered the start-up commands."""
        return self._ready.is_set()

    async def start(self) -> None:
        self._serial.start()

    async def close(self) -> None:
        await self._serial.stop()
        self._set_ready(False)

    async def wait_ready(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            raise ModemError(f"modem on {self.port} not ready within {timeout_s} s") from None

    async def command(
        self, command: str, *, expect: tuple[str, ...] = (), timeout_s: float | None = None
    ) -> list[str]:
        """Send one AT command; return its information lines. `expect`: its reply prefixes (e.g. "+CSQ:")."""
        if not command.isascii() or "\r" in command or "\n" in command:
            raise ModemError(f"not a single ASCII command line: {command!r}")
        async with self._lock:
            if not self.ready:
                raise ModemError(f"{command}: modem on {self.port} not ready")
            return await self._exchange(command, expect, timeout_s or self._timeout_s)

    async def snapshot(self) -> ModemInfo:
        """Run the whole query set. A modem that cannot be reached gives `link=absent`, not an exception."""
        try:
            return await self._query_all()
        except ModemError as exc:
            log.info("modem snapshot incomplete, link absent: %s", exc)
            return ModemInfo(link=Link.ABSENT)

    # -- the query set ------------------------------------------------------------------------------

    async def _query_all(self) -> ModemInfo:
        identity = self._parse(p.parse_ati, await self._ask("ATI", "+GCAP:")) or p.Identity(None, None, None)
        self.vendor = p.detect_vendor(identity)
        revision = self._parse(p.parse_revision, await self._ask("AT+CGMR", "+CGMR:")) or identity.revision
        imei = self._parse(p.parse_imei, await self._ask("AT+CGSN", "+CGSN:"))
        sim_status = await self._sim_status()
        iccid = None if sim_status is p.SimStatus.NOT_INSERTED else await self._iccid(self.vendor)
        imsi = None
        if sim_status is p.SimStatus.READY:
            imsi = self._parse(p.parse_imsi, await self._ask("AT+CIMI", "+CIMI:"))
        registrations = []
        for command, prefix in (("AT+CEREG?", "+CEREG:"), ("AT+CREG?", "+CREG:")):
            report = self._parse(p.parse_registration_reply, await self._ask(command, prefix))
            if report is not None:
                registrations.append(report.registration)
        registration = p.best_registration(registrations)
        operator = self._parse(p.parse_cops, await self._ask("AT+COPS?", "+COPS:"))
        operator = operator or p.OperatorInfo(None, None)
        signal_dbm = self._parse(p.parse_csq, await self._ask("AT+CSQ", "+CSQ:"))
        if registration in (p.Registration.HOME, p.Registration.ROAMING):
            link = Link.OK
        elif sim_status is not p.SimStatus.READY:
            link = Link.NO_SIM
        else:
            link = Link.OFFLINE
        return ModemInfo(
            link=link,
            manufacturer=identity.manufacturer,
            model=identity.model,
            revision=revision,
            imei=imei,
            iccid=iccid,
            imsi=imsi,
            sim_status=sim_status,
            registration=registration,
            operator=operator.name,
            access_technology=operator.access_technology,
            signal_dbm=signal_dbm,
        )

    async def _sim_status(self) -> p.SimStatus | None:
        try:
            return self._parse(p.parse_cpin, await self.command("AT+CPIN?", expect=("+CPIN:",)))
        except ModemError as exc:
            if exc.final is None:
                raise
            return p.sim_status_from_error(exc.final)

    async def _iccid(self, vendor: p.Vendor) -> str | None:
        """The vendor's ICCID command, falling back to reading EF_ICCID with AT+CRSM."""
        if vendor in p.ICCID_COMMANDS:
            command, prefix = p.ICCID_COMMANDS[vendor]
            iccid = self._parse(p.parse_iccid, await self._ask(command, prefix))
            if iccid is not None:
                return iccid
        return self._parse(p.parse_crsm_iccid, await self._ask(p.CRSM_READ_ICCID, "+CRSM:"))

    async def _ask(self, command: str, prefix: str) -> list[str] | None:
        """A query whose error result just means "not known": None then; no answer still raises."""
        try:
            return await self.command(command, expect=(prefix,))
        except ModemError as exc:
            if exc.final is None:
                raise
            log.debug("modem: %s answered %s %s", command, exc.final.kind, exc.final.text or exc.final.code)
            return None

    def _parse(self, parser: Callable[[list[str]], T], lines: list[str] | None) -> T | None:
        if lines is None:
            return None
        try:
            return parser(lines)
        except (p.AtParseError, IndexError) as exc:
            self._stats.unparsed_replies += 1
            log.warning("modem: reply not understood, ignored: %s", exc)
            return None

    # -- one exchange -------------------------------------------------------------------------------

    async def _exchange(self, command: str, expect: tuple[str, ...], timeout_s: float) -> list[str]:
        port = self._serial.serial
        if port is None:
            raise ModemError(f"{command}: port {self.port} not open")
        try:
            port.write(command.encode("ascii") + b"\r")
        except (serial.SerialException, OSError) as exc:
            self._serial.lose(f"write: {exc}")
            raise ModemError(f"{command}: write to {self.port} failed: {exc}") from exc
        loop = asyncio.get_running_loop()
        pending = _Pending(command, frozenset(x.upper() for x in expect), loop.create_future())
        self._pending = pending
        try:
            return await asyncio.wait_for(pending.future, timeout_s)
        except TimeoutError:
            self._stats.timeouts += 1
            log.warning("modem: %s got no answer within %s s; reopening %s", command, timeout_s, self.port)
            self._want_reopen()
            raise ModemError(f"{command}: no answer within {timeout_s} s") from None
        finally:
            self._pending = None

    def _on_data(self, data: bytes) -> None:
        for item in self._reader.feed(data):
            if isinstance(item, Discarded):
                self._count_discarded(item)
            else:
                self._on_line(item)

    def _count_discarded(self, item: Discarded) -> None:
        if item.reason == "overlong":
            self._stats.overlong_lines += 1
            log.warning("modem: line over %d bytes discarded: %r...", self._max_line_bytes, item.preview)
        else:
            self._stats.garbage_lines += 1
            log.warning("modem: garbage line discarded: %r", item.preview)

    def _on_line(self, line: str) -> None:
        pending = self._pending
        if pending is not None and not pending.future.done():
            if line.upper() == pending.command.upper():
                return  # the modem still echoes
            final = p.parse_final(line)
            if final is not None:
                self._finish(pending, final)
                return
            if not p.is_urc(line, pending.expect):
                pending.lines.append(line)
                return
        elif not p.is_urc(line):
            self._stats.unexpected_lines += 1
            log.warning("modem: unexpected line discarded: %r", line)
            return
        self._deliver_urc(line)

    def _finish(self, pending: _Pending, final: p.FinalResult) -> None:
        if final.ok:
            pending.future.set_result(pending.lines)
        else:
            detail = final.text or (final.code if final.code is not None else "")
            message = f"{pending.command}: {final.kind} {detail}".rstrip()
            pending.future.set_exception(ModemError(message, final))

    def _deliver_urc(self, line: str) -> None:
        self._stats.urcs += 1
        if line.upper() == "RDY":
            self._stats.resets += 1
            log.warning("modem: reset (RDY); setting it up again")
            if self._pending is not None and not self._pending.future.done():
                self._pending.future.set_exception(ModemError(f"{self._pending.command}: modem reset"))
            self._reinit_wanted = True
            self._wake.set()
        if self._on_urc is not None:
            try:
                self._on_urc(line)
            except Exception:
                log.exception("modem: URC callback failed on %r", line)

    # -- port life ----------------------------------------------------------------------------------

    def _opened(self) -> None:
        self._reader = LineReader(self._max_line_bytes)
        self._reopen_wanted = self._reinit_wanted = False
        self._wake.clear()

    def _closed(self, lost: str | None) -> None:
        """The port is closed (lost: why it vanished): the waiting command fails, not ready until set up."""
        pending = self._pending
        if lost is not None and pending is not None and not pending.future.done():
            pending.future.set_exception(ModemError(f"{pending.command}: port {self.port} lost"))
        self._set_ready(False)

    async def _serve(self) -> None:
        """While the port is open: set the modem up (no answer: reopen), then wait while the link is good; set
        it up again after a reset; return when it must reopen."""
        if not await self._initialise():
            return
        self._serial.mark_good()
        log.info("modem: ready on %s", self.port)
        self._set_ready(True)
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._reopen_wanted:
                return
            if self._reinit_wanted:
                self._reinit_wanted = False
                if not await self._initialise():
                    return

    async def _initialise(self) -> bool:
        """Echo off, verbose errors, registration URCs on. Any answer counts; no answer → False."""
        async with self._lock:
            for command in INIT_COMMANDS + URC_ENABLE_COMMANDS:
                try:
                    await self._exchange(command, (), self._timeout_s)
                except ModemError as exc:
                    if exc.final is None:
                        log.warning("modem on %s does not answer: %s", self.port, exc)
                        return False
        return True

    def _want_reopen(self) -> None:
        self._reopen_wanted = True
        self._set_ready(False)
        self._wake.set()

    def _set_ready(self, ready: bool) -> None:
        if ready == self._ready.is_set():
            return
        if ready:
            self._ready.set()
        else:
            self._ready.clear()
        if self._on_link is not None:
            try:
                self._on_link(ready)
            except Exception:
                log.exception("modem: link callback failed")
