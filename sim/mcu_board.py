"""A simulated pilot/contactor MCU board on a pseudo-terminal, speaking the real wire protocol.

The host opens the stable path ``<link_dir>/mcu<evse_id>`` (a symlink to the pty slave). The board sends its
keep-alive every second, reports CP/PP/relay/lock state and error flags on change (and in full with every
keep-alive), and obeys the host within its own safety rules: the relays close only while power-on is allowed,
the EV is in C or D and no fault blocks. Faults, garbage and a vanishing device can be injected; everything
the host sent is recorded with monotonic timestamps, for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from cobs import cobs

from services.evse_io.mcu_framing import FrameDecoder, FrameStats, encode_frame
from services.evse_io.mcu_pb2 import (
    LOCKED,
    STATE_C,
    STATE_D,
    STATE_F,
    UNLOCKED,
    USER,
    EverestToMcu,
    KeepAliveLo,
    McuToEverest,
    PowerMeter,
)
from sim.ev_model import EvModel
from sim.mcu_board_state import BLOCKING_FAULTS, FAULT_FLAGS, BoardState
from sim.pty_port import PtyPort

log = logging.getLogger("reon.sim.mcu")

HOST_AWAY_S = 1.5  # a host keep-alive after a longer gap means a (re)started host: report everything
REPORTED_FIELDS = ("cp_state", "pp_state", "relais_state", "lock_state", "error_flags")


class McuBoard:
    """One EVSE's MCU board with its EV, on a pty whose stable path is ``<link_dir>/mcu<evse_id>``.

    Call its methods from the event loop that ran ``start()``.
    """

    def __init__(
        self,
        evse_id: int,
        link_dir: str | Path,
        *,
        ev: EvModel | None = None,
        keepalive_interval_s: float = 1.0,
        hwcap_max_current_a: float = 32.0,
        hwcap_min_current_a: float = 6.0,
        max_phase_count: int = 3,
        min_phase_count: int = 1,
        voltage_v: float = 230.0,
        send_power_meter: bool = True,
    ) -> None:
        self.evse_id = evse_id
        self.path = Path(link_dir) / f"mcu{evse_id}"
        self.ev = ev or EvModel()
        self.state = BoardState()
        self.keepalive_interval_s = keepalive_interval_s
        self._keepalive = KeepAliveLo(
            hw_type=1,
            hw_revision=1,
            protocol_version_major=0,
            protocol_version_minor=1,
            sw_version_string="reon-sim-mcu",
            hwcap_max_current=hwcap_max_current_a,
            hwcap_min_current=hwcap_min_current_a,
            hwcap_max_phase_count=max_phase_count,
            hwcap_min_phase_count=min_phase_count,
            supports_changing_phases_during_charging=False,
        )
        self.voltage_v = voltage_v
        self.send_power_meter = send_power_meter
        self._decoder = FrameDecoder(EverestToMcu, name=f"sim mcu{evse_id}")
        self.port = PtyPort(self.path, self._on_data)
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[tuple[Callable[[BoardState], bool], asyncio.Future[BoardState]]] = []
        self._last_reported: dict[str, object] = {}  # last report of each field, to send changes only
        self._on_wire: dict[str, object] = {}  # last value of each field that reached the wire
        self._started_at = time.monotonic()
        self._energy_at = time.monotonic()

    # ---- life ----

    async def start(self) -> None:
        """Create the pty and the stable path, start the keep-alive."""
        self._open_port()
        self._update()
        self._task = asyncio.create_task(self._keepalive_loop(), name=f"sim-mcu-{self.evse_id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.port.close()
        for _, future in self._waiters:
            future.cancel()
        self._waiters.clear()

    @property
    def decoder_stats(self) -> FrameStats:
        """Bad frames received from the host (FrameStats)."""
        return self._decoder.stats

    # ---- the EV ----

    def plug(self, cable_rating_a: int | None = None) -> None:
        self.ev.plug(cable_rating_a)
        self._update()

    def unplug(self) -> None:
        self.ev.unplug()
        self._update()

    def ev_pause(self) -> None:
        self.ev.pause()
        self._update()

    def ev_resume(self) -> None:
        self.ev.resume()
        self._update()

    def set_ev_max_current(self, current_a: float) -> None:
        self.ev.ev_max_current_a = current_a
        self._update()

    def set_ev_ventilation(self, needed: bool) -> None:
        self.ev.needs_ventilation = needed
        self._update()

    # ---- faults and hostile input ----

    def fault(self, kind: str) -> None:
        """Inject a fault: one of FAULT_FLAGS. 'ventilation' also makes the EV need ventilation (state D)."""
        if kind not in FAULT_FLAGS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULT_FLAGS)}")
        self.state.faults.add(kind)
        if kind == "ventilation":
            self.ev.needs_ventilation = True
        self._update()

    def clear_fault(self, kind: str | None = None) -> None:
        """Clear one fault, or all of them (the lock-failure flag too)."""
        was_silent = "silence" in self.state.faults
        if kind is None:
            self.state.faults.clear()
            self.state.lock_failed = False
        else:
            self.state.faults.discard(kind)
            if kind == "lock_failure":
                self.state.lock_failed = False
        if was_silent and "silence" not in self.state.faults:
            self._report_all()
        self._update()

    def go_silent(self) -> None:
        """Stop sending anything (keep-alive loss); commands are still received and recorded."""
        self.fault("silence")

    def resume_talking(self) -> None:
        self.clear_fault("silence")

    def send_garbage(self, data: bytes) -> None:
        """Write raw bytes to the host, even while silent."""
        self.port.write(data)

    def send_frame(self, message: McuToEverest) -> None:
        """Write one well-formed frame, even while silent."""
        self.port.write(encode_frame(message))

    def send_corrupt_crc_frame(self, message: McuToEverest | None = None) -> None:
        """A correctly COBS-framed message whose CRC is wrong."""
        body = (message or McuToEverest(cp_state=self.state.cp_state)).SerializeToString()
        self.port.write(cobs.encode(body + b"\xde\xad\xbe\xef") + b"\x00")

    def send_partial_frame(self, message: McuToEverest | None = None) -> None:
        """The first half of a frame with no delimiter: it spoils the frame that follows."""
        frame = encode_frame(message or McuToEverest(cp_state=self.state.cp_state))
        self.port.write(frame[: len(frame) // 2])

    # ---- the device vanishing (USB re-enumeration) ----

    def vanish(self) -> None:
        """Remove the path and close the pty: the host's reads fail."""
        self.port.close()

    def reappear(self) -> None:
        """A new pty behind the same path; the board state is kept (the MCU kept running)."""
        if not self.port.is_open:
            self._open_port()

    # ---- waiting on the board ----

    async def wait_for(self, predicate: Callable[[BoardState], bool], timeout: float = 2.0) -> BoardState:
        """Wait until ``predicate(state)`` holds; TimeoutError after ``timeout`` s."""
        if predicate(self.state):
            return self.state
        future: asyncio.Future[BoardState] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def _notify(self) -> None:
        for predicate, future in list(self._waiters):
            if future.done():
                continue
            try:
                if predicate(self.state):
                    future.set_result(self.state)
            except Exception as exc:
                future.set_exception(exc)

    # ---- the MCU logic ----

    def _update(self) -> None:
        """Recompute the EV's answer, the relays and the current; report what changed."""
        s = self.state
        self._integrate_energy()
        cp_state = self.ev.observe_pwm(s.pwm_duty_0_01pct)
        s.cp_state = STATE_F if s.pwm_duty_0_01pct == 0 else cp_state
        s.pp_state = self.ev.pp_state()
        blocked = bool(s.faults & BLOCKING_FAULTS) or (s.cp_state == STATE_D and "ventilation" in s.faults)
        may_close = s.allow_power_on and s.cp_state in (STATE_C, STATE_D) and not blocked
        s.relays_closed = may_close or (s.relays_closed and "welded" in s.faults)
        s.current_a = self.ev.current_a(s.pwm_duty_0_01pct, s.relays_closed)
        self._report_changes()
        self._notify()

    def _integrate_energy(self) -> None:
        now = time.monotonic()
        phases = 3 if self.state.three_phase else 1
        self.state.energy_wh += (
            self.state.current_a * self.voltage_v * phases * (now - self._energy_at) / 3600
        )
        self._energy_at = now

    def _on_host_message(self, message: EverestToMcu) -> None:
        s = self.state
        now = time.monotonic()
        kind = message.WhichOneof("payload")
        value = getattr(message, kind)
        if kind != "keep_alive":
            s.host_log.append((now, kind, value))
        if kind == "keep_alive":
            host_was_away = s.host_keepalive_at is None or now - s.host_keepalive_at > HOST_AWAY_S
            s.host_keepalive_at = now
            if host_was_away:
                self._report_all()
        elif kind == "pwm_duty_cycle":
            self._command("pwm_duty_0_01pct", value, now)
        elif kind == "allow_power_on":
            self._command("allow_power_on", value, now)
        elif kind == "set_number_of_phases":
            self._command("three_phase", value, now)
        elif kind == "connector_lock":
            self._command("lock_commanded", value, now)
            if "lock_failure" in s.faults:
                s.lock_failed = True
            else:
                s.lock_state = LOCKED if value else UNLOCKED
        elif kind == "reset" and value:
            self._reset(now)
        elif kind == "firmware_update":
            s.bootloader_invoked = message.firmware_update.invoke_rom_bootloader
        self._update()

    def _command(self, name: str, value: object, now: float) -> None:
        if getattr(self.state, name) != value:
            setattr(self.state, name, value)
            self.state.changed_at[name] = now

    def _reset(self, now: float) -> None:
        """The MCU reboots: PWM off, power not allowed; it says so and reports everything."""
        self.state.resets += 1
        self._command("pwm_duty_0_01pct", 10000, now)
        self._command("allow_power_on", False, now)
        self._on_wire.pop("reset", None)  # every reset is news
        self._send(McuToEverest(reset=USER))
        self._last_reported.clear()
        self._send_keepalive()

    # ---- reporting ----

    def _current_reports(self) -> dict[str, McuToEverest]:
        s = self.state
        return {
            "cp_state": McuToEverest(cp_state=s.cp_state),
            "pp_state": McuToEverest(pp_state=s.pp_state),
            "relais_state": McuToEverest(relais_state=s.relays_closed),
            "lock_state": McuToEverest(lock_state=s.lock_state),
            "error_flags": McuToEverest(error_flags=s.error_flags()),
        }

    def _report_changes(self) -> None:
        for name, message in self._current_reports().items():
            if self._last_reported.get(name) != message:
                self._send(message)

    def _report_all(self) -> None:
        self._last_reported.clear()
        self._send_keepalive()
        self._report_changes()

    def _send_keepalive(self) -> None:
        self._keepalive.time_stamp = int((time.monotonic() - self._started_at) * 1000) & 0xFFFFFFFF
        self._send(McuToEverest(keep_alive=self._keepalive))

    def _send_power_meter(self) -> None:
        s = self.state
        phase_a = [s.current_a, s.current_a if s.three_phase else 0.0, s.current_a if s.three_phase else 0.0]
        watts = [a * self.voltage_v for a in phase_a]
        self._send(
            McuToEverest(
                power_meter=PowerMeter(
                    time_stamp=self._keepalive.time_stamp,
                    vrmsL1=self.voltage_v,
                    vrmsL2=self.voltage_v,
                    vrmsL3=self.voltage_v,
                    irmsL1=phase_a[0],
                    irmsL2=phase_a[1],
                    irmsL3=phase_a[2],
                    wattL1=watts[0],
                    wattL2=watts[1],
                    wattL3=watts[2],
                    totalWattHr=s.energy_wh,
                    freqL1=50.0,
                    freqL2=50.0,
                    freqL3=50.0,
                )
            )
        )

    def _send(self, message: McuToEverest) -> None:
        """Send one message (unless silent or vanished); note when a new value first went on the wire."""
        kind = message.WhichOneof("payload")
        if kind in REPORTED_FIELDS:
            self._last_reported[kind] = message
        if "silence" in self.state.faults or not self.port.write(encode_frame(message)):
            return
        if kind in ("keep_alive", "power_meter") or self._on_wire.get(kind) == message:
            return  # a periodic repeat: the host knew this already
        self._on_wire[kind] = message
        now = time.monotonic()
        self.state.reported_at[kind] = now
        self.state.sent_log.append((now, kind, getattr(message, kind)))

    async def _keepalive_loop(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_interval_s)  # the board's own 1 s clock
            self._integrate_energy()
            if "silence" in self.state.faults:
                continue
            self._report_all()
            if self.send_power_meter:
                self._send_power_meter()

    def _open_port(self) -> None:
        self._decoder.reset()
        self.state.host_keepalive_at = None  # the first host keep-alive on the new port gets a full report
        self.port.open()

    def _on_data(self, chunk: bytes) -> None:
        for message in self._decoder.feed(chunk):
            self._on_host_message(message)
