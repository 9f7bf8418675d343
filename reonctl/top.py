"""`reonctl top`: a live terminal view of the station, updated from the bus as things change (rich Live).

Per EVSE the status, power with a short history (sparkline), energy, transaction and time charging; the CSMS
link and its queue; every service's health. It reads the same published state as reon-metrics (StationView):
the broker's cached state at start, then live state and heartbeats. Ctrl-C (SIGINT) or SIGTERM ends it, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bus.client import BusClient
from services.metrics.station_view import StationView, count, number, text
from station.config import StationConfig

SPARK = "▁▂▃▄▅▆▇█"
HISTORY = 40
REDRAW_S = 0.25  # at most 4 redraws a second, however busy the bus
TICK_S = 1.0  # ages and charging times move even when nothing is published


def sparkline(values: list[float], width: int = HISTORY) -> str:
    """Block characters scaled from 0 to the largest value; empty history, empty line."""
    values = values[-width:]
    top = max(values, default=0.0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(int(v / top * (len(SPARK) - 1) + 0.5), len(SPARK) - 1)] for v in values)


def _duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _v(value: Any, fmt: str = "{}") -> str:
    return "-" if value is None else fmt.format(value)


class TopScreen:
    """The view plus a power history per EVSE, rendered as rich tables."""

    def __init__(self, config: StationConfig) -> None:
        self.config = config
        self.view = StationView()
        self.power_w: dict[int, deque[float]] = {}

    def apply(self, topic: str, env: Any) -> bool:
        changed = self.view.apply(topic, env)
        if changed and topic.startswith("meter.state.meter."):
            evse = topic.rsplit(".", 1)[1]
            sample = self.view.body(topic).get("sample")
            power = number(sample.get("power_w")) if isinstance(sample, dict) else None
            if evse.isdigit() and power is not None:
                self.power_w.setdefault(int(evse), deque(maxlen=HISTORY)).append(power)
        return changed

    def render(self) -> Group:
        now = time.time()
        title = Text(f"REON {self.config.station.id}  ", style="bold")
        title.append(time.strftime("%H:%M:%S"), style="dim")
        return Group(title, self._evses(now), self._csms(), self._services(now))

    def _evses(self, now: float) -> Table:
        table = Table(title="EVSEs", title_justify="left", expand=True)
        for column in ("EVSE", "status", "state", "CP", "power", "history", "energy", "transaction", "charging"):
            table.add_column(column, no_wrap=True)
        ids = sorted(set(self.view.evse_ids()) | {e.id for e in self.config.evses})
        for evse in ids:
            io = self.view.body(f"evse_io.state.evse.{evse}") if self.view.alive("evse_io") else {}
            meter = self.view.body(f"meter.state.meter.{evse}") if self.view.alive("meter") else {}
            tx = self.view.body(f"ocpp.state.transaction.{evse}") if self.view.alive("ocpp") else {}
            sample = meter.get("sample") if meter.get("link") != "offline" else None
            sample = sample if isinstance(sample, dict) else {}
            power, energy = number(sample.get("power_w")), number(sample.get("energy_import_wh"))
            started = number(tx.get("started_at"))
            faults = io.get("faults") if isinstance(io.get("faults"), list) else []
            status = text(io.get("connector_status")) or "-"
            table.add_row(
                str(evse), Text(status, style="red" if faults or status == "Faulted" else ""),
                text(tx.get("charging_state")) or text(io.get("charging_state")) or "-",
                text(io.get("cp_state")) or "-",
                _v(power, "{:.0f} W"), sparkline(list(self.power_w.get(evse, ()))),
                _v(energy / 1000 if energy is not None else None, "{:.3f} kWh"),
                text(tx.get("transaction_id")) or "-",
                _duration(now - started) if started is not None and text(tx.get("transaction_id")) else "-")
        return table

    def _csms(self) -> Table:
        body = self.view.body("ocpp.state.csms") if self.view.alive("ocpp") else {}
        link = body.get("link") if isinstance(body.get("link"), dict) else {}
        table = Table(title="CSMS", title_justify="left", expand=True)
        for column in ("url", "connected", "registration", "queue", "dead letters", "reconnects"):
            table.add_column(column, no_wrap=True)
        connected = body.get("connected")
        table.add_row(text(body.get("url")) or self.config.csms.url,
                      Text("yes", style="green") if connected is True else Text("no", style="red"),
                      text(body.get("registration")) or "-", _v(count(body.get("queue_depth"))),
                      _v(count(body.get("dead_letters"))), _v(count(link.get("reconnects"))))
        return table

    def _services(self, now: float) -> Table:
        table = Table(title="Services", title_justify="left", expand=True)
        for column in ("service", "alive", "pid", "restarts", "heartbeat"):
            table.add_column(column, no_wrap=True)
        for name, entry in sorted(self.view.liveness().items()):
            beat = self.view.beats.get(name)
            last = beat.ts if beat is not None else number(entry.get("last_heartbeat"))
            alive = entry.get("alive") is True
            table.add_row(name, Text("yes", style="green") if alive else Text("NO", style="bold red"),
                          _v(count(entry.get("pid"))), _v(count(entry.get("restarts"))),
                          _v(now - last if last is not None else None, "{:.1f} s ago"))
        return table


async def run_top(config: StationConfig, console: Console) -> None:
    """Until SIGINT/SIGTERM: read the bus, redraw on change (coalesced) and every second."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = BusClient(config.paths.run_dir, "reonctl", strict=False)
    logging.getLogger("bus.client").setLevel(logging.ERROR)  # no "broker not answering" line over the screen
    await client.start(wait_s=0)  # no heartbeat: a viewer is not a service
    screen = TopScreen(config)
    sub = client.subscribe("")
    stopping = asyncio.create_task(stop.wait())
    try:
        with Live(screen.render(), console=console, auto_refresh=False, transient=False) as live:
            drawn_at = 0.0
            while not stop.is_set():
                getting = asyncio.create_task(sub.get())
                done, _ = await asyncio.wait({getting, stopping}, timeout=TICK_S,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getting in done:
                    screen.apply(*getting.result())
                    while not sub.queue.empty():
                        screen.apply(*sub.queue.get_nowait())
                else:
                    getting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await getting
                if time.monotonic() - drawn_at >= REDRAW_S or getting not in done:
                    live.update(screen.render(), refresh=True)
                    drawn_at = time.monotonic()
    finally:
        stopping.cancel()
        sub.close()
        await client.close()


@click.command()
@click.pass_obj
def top(config: StationConfig) -> None:
    """Live view of the station from the bus: EVSEs with power history, CSMS link, services (Ctrl-C quits)."""
    asyncio.run(run_top(config, Console()))
