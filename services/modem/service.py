"""reon-modem: keeps the modem's state on the bus (identity, SIM, registration, signal) and spots SIM swaps.

Glue only: at_modem.py talks AT and reopens a vanished port by itself; this module reads a snapshot every
`[modem] poll_s`, on URCs that change what the station knows (+CEREG/+CREG, +CPIN, RDY) and on link change,
publishes it, and compares the ICCID with the last one persisted in `<data_dir>/modem.db`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import asdict
from typing import Any

from bus import runtime
from bus.client import BusClient
from services.modem.at_modem import AtModem, ModemStats
from services.modem.at_parser import REGISTRATION_PREFIXES, line_prefix
from services.modem.contract import CONTRACT
from services.modem.modem_info import Link, ModemError, ModemInfo
from services.modem.store import ModemStore
from station.config import StationConfig

START_WAIT_S = 2.0  # how long start() waits for the modem to answer before publishing what it has
URC_SETTLE_S = 0.1  # URCs come in bursts (RDY, +CPIN, +CEREG): read once after the burst
REFRESH_URC_PREFIXES = REGISTRATION_PREFIXES | {"+CPIN:", "+QSIMSTAT:", "+SIMCARD:"}
REFRESH_URCS = frozenset({"RDY", "POWERED DOWN", "NORMAL POWER DOWN"})


def same_iccid(a: str, b: str) -> bool:
    """ICCIDs compare without the filler F some modems print and others strip."""
    return a.upper().rstrip("F") == b.upper().rstrip("F")


class ModemService(runtime.Service):
    contract = CONTRACT

    def __init__(self, config: StationConfig, bus: BusClient) -> None:
        super().__init__(config, bus)
        self.modem: AtModem | None = None
        self.store: ModemStore | None = None
        self.state: dict[str, Any] = self._state_of(ModemInfo(link=Link.ABSENT), None)
        self._wake = asyncio.Event()
        self._refresh_lock = asyncio.Lock()

    async def start(self) -> None:
        settings = self.config.modem
        port = self.config.device_port(settings.port, "modem")
        if not settings.enabled:
            self.log.info("modem disabled in the station config: link absent, nothing polled")
        elif not port:
            self.log.error("[modem] is enabled but has no port: link absent")
        else:
            self.store = ModemStore(self.config.paths.data_dir / "modem.db")
            self.modem = AtModem(port, baudrate=settings.baud, on_urc=self._on_urc, on_link=self._on_link)
            await self.modem.start()
            with contextlib.suppress(ModemError):
                await self.modem.wait_ready(START_WAIT_S)
            await self.refresh()
            return
        await self.publish_state("modem", self.state)

    async def run(self) -> None:
        """Read the modem every poll_s, or soon after something worth a read happened."""
        if self.modem is None:
            return
        task = asyncio.current_task()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.modem.poll_s):
                    await self._wake.wait()
            if self._wake.is_set():
                await asyncio.sleep(URC_SETTLE_S)
            self._wake.clear()
            await self.refresh()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError  # Python 3.11's wait_for (in the driver) can drop a racing cancel

    async def stop(self) -> None:
        if self.modem is not None:
            await self.modem.close()
        if self.store is not None:
            self.store.close()

    async def cmd_refresh(self, _args: dict[str, Any]) -> dict[str, Any]:
        if self.modem is None:
            return self.state
        return await self.refresh()

    async def refresh(self) -> dict[str, Any]:
        """One snapshot of the modem: check the ICCID, publish the state, return it."""
        assert self.modem is not None
        async with self._refresh_lock:
            info = await self.modem.snapshot()  # never raises: an unreachable modem is link absent
            if info.iccid is not None:
                await self._check_iccid(info.iccid)
            state = self._state_of(info, time.time() if info.link is not Link.ABSENT else None)
            if state["link"] != self.state["link"]:
                self.log.info("modem link %s -> %s (%s, %s)", self.state["link"], state["link"],
                              state["registration"], state["operator"] or "no operator")
            self.state = state
            await self.publish_state("modem", state)
            return state

    async def _check_iccid(self, iccid: str) -> None:
        """A different ICCID than the last one read (persisted): sim_changed, then remember the new one."""
        assert self.store is not None
        last = self.store.last_iccid()
        if last is not None and same_iccid(last, iccid):
            return
        if last is not None:
            self.log.warning("SIM changed: ICCID %s -> %s", last, iccid)
            await self.publish_event("sim_changed", {"old_iccid": last, "new_iccid": iccid})
        self.store.save_iccid(iccid, time.time())  # after the event: a crash in between repeats it, never loses it

    def _state_of(self, info: ModemInfo, read_at: float | None) -> dict[str, Any]:
        stats = self.modem.stats if self.modem is not None else ModemStats()
        return {**info.as_dict(), "read_at": read_at, "counters": asdict(stats)}

    def _on_urc(self, line: str) -> None:
        if line.upper() in REFRESH_URCS or line_prefix(line) in REFRESH_URC_PREFIXES:
            self.log.debug("modem URC %r: reading the modem", line)
            self._wake.set()

    def _on_link(self, up: bool) -> None:
        self.log.info("modem port %s %s", self.modem.port if self.modem else "?", "ready" if up else "lost")
        self._wake.set()


def main() -> int:
    return runtime.main(ModemService)


if __name__ == "__main__":
    sys.exit(main())
