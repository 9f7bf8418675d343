"""`reonctl top` in a pseudo-terminal against a real broker and services' published state: the screen shows the
charging EVSE's power and transaction, follows a new reading, and Ctrl-C ends it with exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import re
import select
import sys
import time

from bus.client import BusClient
from bus.harness import BrokerThread, remove_run_dir
from reonctl.top import sparkline
from station.config import load_config
from tests.e2e.helpers import ROOT
from tests.stations import write_station

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
TX = "tx-7f3a"


class Terminal:
    """`reonctl top` forked on a pty: its screen as text, keys written to it."""

    def __init__(self, config_path: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a session leader whose controlling terminal is the pty
            os.chdir(ROOT)
            os.environ.update(TERM="xterm-256color", COLUMNS="160", LINES="40")
            os.execv(sys.executable, [sys.executable, "-m", "reonctl.main", "--config", config_path, "top"])
        self.screen = b""

    async def wait_for(self, *needles: str, timeout: float = 15.0) -> str:
        """Read the pty until every needle is on the screen (escape codes removed); the loop keeps running."""
        end = time.monotonic() + timeout
        while True:
            shown = ANSI.sub(b"", self.screen).decode("utf-8", "replace")
            if all(n in shown for n in needles):
                return shown
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"never shown: {needles}; last screen:\n{shown[-3000:]}")
            ready, _, _ = await asyncio.to_thread(select.select, [self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    self.screen += os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    raise AssertionError(f"top exited; screen:\n{shown[-3000:]}") from None

    def ctrl_c(self, timeout: float = 10.0) -> int:
        os.write(self.fd, b"\x03")  # the terminal turns it into SIGINT for its foreground process
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                with contextlib.suppress(OSError):
                    os.read(self.fd, 65536)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError("top did not exit on Ctrl-C")

    def close(self) -> None:
        os.close(self.fd)


async def beat(clients: list[BusClient]) -> None:
    """Heartbeats at the runtime's pace, as the services would."""
    while True:
        for client in clients:
            await client.heartbeat()
        await asyncio.sleep(0.1)


def test_sparkline_scales_to_the_largest_value() -> None:
    assert sparkline([0, 5000, 10000]) == "▁▅█"
    assert sparkline([]) == "" and sparkline([0, 0]) == "▁▁"


async def test_top_shows_the_charging_evse_power_and_transaction_and_exits_0_on_ctrl_c(tmp_path) -> None:
    path = write_station(tmp_path, sim=True, evses=2)
    config = load_config(path)
    broker = BrokerThread(config.paths.run_dir, heartbeat_s=0.2).start()
    clients = {name: BusClient(config.paths.run_dir, name) for name in ("evse_io", "meter", "ocpp")}
    terminal = None
    beating = None
    try:
        for client in clients.values():
            await client.start()
        sample = {"evse": 1, "energy_import_wh": 2345.0, "power_w": 11040.0, "read_at": time.time()}
        await clients["evse_io"].publish_state("evse.1", {"evse_id": 1, "connector_status": "Occupied",
                                                          "charging_state": "Charging", "cp_state": "C",
                                                          "faults": []})
        await clients["meter"].publish_state("meter.1", {"model": "SDM630", "link": "ok", "sample": sample})
        await clients["ocpp"].publish_state("transaction.1", {"evse": 1, "transaction_id": TX,
                                                              "charging_state": "Charging",
                                                              "started_at": time.time() - 75, "authorized": True})
        await clients["ocpp"].publish_state("csms", {"url": "ws://csms", "connected": True,
                                                     "registration": "Accepted", "queue_depth": 4,
                                                     "dead_letters": 0})
        beating = asyncio.create_task(beat(list(clients.values())))  # alive: top shows their state

        terminal = Terminal(str(path))
        shown = await terminal.wait_for("11040 W", TX, "Charging", "2.345 kWh", "0:01:1", "Accepted", "│ ocpp")
        assert "broker not answering" not in shown

        await clients["meter"].publish_state("meter.1", {"model": "SDM630", "link": "ok",
                                                         "sample": {**sample, "power_w": 7360.0}})
        await terminal.wait_for("7360 W")
        assert terminal.ctrl_c() == 0
    finally:
        if beating is not None:
            beating.cancel()
        if terminal is not None:
            terminal.close()
        for client in clients.values():
            await client.close()
        broker.stop()
        remove_run_dir(config.paths.run_dir)
