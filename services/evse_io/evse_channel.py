"""One EVSE below the bus: its pilot-MCU link feeds its ChargingControl, whose actions go back to the MCU.

Wire messages become control inputs (enums through the pilot ``from_wire`` helpers: an unknown value is bad
input, counted, logged once and skipped). The actions of every call are sent at once and in order, inside
the callback that caused them, so a C → B power-off never waits for the bus or the journal. Session events
and "my state changed" go to the owner (service.py), which journals and publishes them. ``tick()`` runs at
the control's ``next_deadline()``. No bus in here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from services.evse_io.charging import ChargingControl
from services.evse_io.charging_types import (
    Action,
    AllowPower,
    ChargingConfig,
    Lock,
    Outputs,
    SessionEvent,
    SetDuty,
)
from services.evse_io.contract import SessionEntry
from services.evse_io.mcu_link import McuLink
from services.evse_io.mcu_pb2 import McuToEverest, ResetReason
from services.evse_io.pilot import DUTY_NO_PWM, EV_PLUGGED_STATES, CpState, LockState, PpState
from station.config import Evse

log = logging.getLogger("reon.evse_io")

MIN_TICK_GAP_S = 0.01  # a deadline that is already due is retried no faster than this
STOP_WAIT_S = 0.5  # at stop, how long to wait for the relays to report open

OnEvents = Callable[[list[SessionEvent]], None]
OnChange = Callable[[int], None]


_E = TypeVar("_E", bound=StrEnum)


def charging_config(evse: Evse) -> ChargingConfig:
    """The EVSE's ChargingConfig: a socket (connector type s…) has PP coding and a lock; a tethered cable not."""
    socket = any(c.type.startswith("s") for c in evse.connectors)
    return ChargingConfig(evse_max_current_a=evse.max_current_a, phases=evse.phases, has_socket=socket,
                          has_lock=socket, lock_on_plug_in=evse.lock_on_plug)


def utc_stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EvseChannel:
    """The MCU link and ChargingControl of one EVSE; commands are ``command(lambda now: control.xxx(…, now))``."""

    def __init__(self, evse: Evse, port: str | None, *, on_events: OnEvents, on_change: OnChange,
                 operative: bool = True, link_options: dict[str, Any] | None = None) -> None:
        self.evse_id = evse.id
        self.control = ChargingControl(evse.id, charging_config(evse))
        self.link = None if port is None else McuLink(
            evse.id, port, evse.mcu_baud, on_message=self._on_message, on_link=self._on_link,
            **(link_options or {}))
        self.current_limit_a: float | None = None  # the lowest of current_limits
        self.current_limit_source: dict[str, Any] | None = None
        self.current_limits: dict[str, dict[str, Any]] = {}  # source → {amps, origin}
        self.unknown_enum = 0
        self._on_events = on_events
        self._on_change = on_change
        self._logged_enums: set[str] = set()
        self._caps: tuple[float, float] | None = None
        self._cp_seen = False  # the first CP report of this process starts the stream's evse_io_started
        self._timer: asyncio.TimerHandle | None = None
        self._relays_open: asyncio.Future[None] | None = None  # awaited by stop()
        self.command(lambda now: self.control.set_availability(operative, now))

    # ---- life ----

    async def start(self) -> None:
        if self.link is not None:
            await self.link.start()

    async def stop(self) -> None:
        """Leave the EVSE safe while nobody watches it: power off, PWM off; wait (≤ 0.5 s) for the relays to
        report open, so the session's power_off is recorded; then close the link."""
        if self.link is not None:
            self.link.allow_power_on(False)  # dropped (and counted) when the port is closed
            self.link.set_pwm_duty(DUTY_NO_PWM)
            if self.link.link_up and self.control.snapshot()["relays_closed"] is not False:
                self._relays_open = asyncio.get_running_loop().create_future()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._relays_open, STOP_WAIT_S)
            await self.link.stop()
        self._cancel_tick()

    # ---- commands and state ----

    def command(self, apply: Callable[[float], Outputs]) -> None:
        """Run one ChargingControl command now; CommandRejected propagates (then nothing changed)."""
        self._apply(apply(self._now()))

    def set_current_limit(self, amps: float | None, source: str = "default",
                          origin: dict[str, Any] | None = None) -> None:
        """The limit of one source (None removes it); `origin` says where it comes from (shown in the state)."""
        self.command(lambda now: self.control.set_current_limit(amps, now, source))
        if amps is None:
            self.current_limits.pop(source, None)
        else:
            self.current_limits[source] = {"amps": float(amps), "origin": origin}
        lowest = min(self.current_limits.items(), key=lambda item: item[1]["amps"], default=None)
        self.current_limit_a = None if lowest is None else lowest[1]["amps"]
        self.current_limit_source = None if lowest is None else {"source": lowest[0], **(lowest[1]["origin"] or {})}

    def snapshot(self) -> dict[str, Any]:
        """The state published as ``evse.<n>`` (contract EVSE_STATE)."""
        body = self.control.snapshot()
        body["current_limit_a"] = self.current_limit_a
        body["current_limit_source"] = self.current_limit_source
        body["current_limits"] = {source: dict(limit) for source, limit in self.current_limits.items()}
        frames_bad = self.link.frame_stats.frames_bad if self.link is not None else 0
        body["bad_input"] = {"frames_bad": frames_bad, "unknown_enum": self.unknown_enum}
        return body

    # ---- from the MCU ----

    def _on_link(self, up: bool) -> None:
        if not up:
            log.warning("EVSE %d: MCU link lost: Faulted, power off", self.evse_id)
        self._apply(self.control.on_link(up, self._now()))

    def _on_message(self, message: McuToEverest) -> None:
        kind = message.WhichOneof("payload")
        now = self._now()
        control = self.control
        if kind == "cp_state":
            cp = self._enum(CpState.from_wire, "cp_state", message.cp_state)
            if cp is not None:
                self._on_cp(cp, now)
        elif kind == "relais_state":
            self._apply(control.on_relays(message.relais_state, now))
            if not message.relais_state and self._relays_open is not None and not self._relays_open.done():
                self._relays_open.set_result(None)
        elif kind == "error_flags":
            flags = {field.name: value for field, value in message.error_flags.ListFields()}
            self._apply(control.on_error_flags(flags, now))
        elif kind == "pp_state":
            pp = self._enum(PpState.from_wire, "pp_state", message.pp_state)
            if pp is not None:
                self._apply(control.on_pp_state(pp, now))
        elif kind == "lock_state":
            lock = self._enum(LockState.from_wire, "lock_state", message.lock_state)
            if lock is not None:
                self._apply(control.on_lock_state(lock, now))
        elif kind == "keep_alive":
            caps = (message.keep_alive.hwcap_max_current, message.keep_alive.hwcap_min_current)
            if caps != self._caps:
                self._caps = caps
                self._apply(control.on_hw_caps(caps[0], caps[1], now))
        elif kind == "reset":
            reason = message.reset
            if reason not in ResetReason.values():
                self._bad_enum("reset", reason)  # counted, but a reset is a reset: outputs are re-sent
            log.warning("EVSE %d: MCU reset (%s): sending every output again", self.evse_id,
                        ResetReason.Name(reason) if reason in ResetReason.values() else reason)
            self._apply(control.resync(now))
        # telemetry and power_meter are not used: energy comes from the meter service

    def _on_cp(self, cp: CpState, now: float) -> None:
        outputs = self.control.on_cp_state(cp, now)
        if not self._cp_seen:
            self._cp_seen = True
            session = self.control.snapshot()["session"]
            started = SessionEvent(SessionEntry.EVSE_IO_STARTED, self.evse_id, session and session["session_id"],
                                   utc_stamp(),
                                   {"ev_plugged": cp in EV_PLUGGED_STATES, "cp_state": cp.value})
            outputs.events.insert(0, started)
        self._apply(outputs)

    def _enum(self, from_wire: Callable[[int], _E], name: str, value: int) -> _E | None:
        try:
            return from_wire(value)
        except ValueError:
            self._bad_enum(name, value)
            return None

    def _bad_enum(self, name: str, value: int) -> None:
        self.unknown_enum += 1
        if name not in self._logged_enums:
            self._logged_enums.add(name)
            log.warning("EVSE %d: MCU sent unknown %s value %r: skipped (further ones are only counted)",
                        self.evse_id, name, value)
        self._on_change(self.evse_id)

    # ---- to the MCU ----

    def _apply(self, outputs: Outputs) -> None:
        for action in outputs.actions:
            self._send(action)
        if outputs.events:
            self._on_events(outputs.events)
        self._schedule_tick()
        self._on_change(self.evse_id)

    def _send(self, action: Action) -> None:
        if self.link is None:
            return
        if isinstance(action, AllowPower):
            self.link.allow_power_on(action.allowed)
        elif isinstance(action, SetDuty):
            self.link.set_pwm_duty(action.duty)
        elif isinstance(action, Lock):
            self.link.lock(action.locked)

    def _schedule_tick(self) -> None:
        self._cancel_tick()
        deadline = self.control.next_deadline()
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(max(deadline, loop.time() + MIN_TICK_GAP_S), self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._apply(self.control.tick(self._now()))

    def _cancel_tick(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()
