"""The world outside the station, wired from the station config; no bus in here (sim/main.py is the glue).

Per EVSE: a pilot-MCU board with its EV at ``<sim_dir>/mcu<n>`` and a serial RFID reader at
``<sim_dir>/rfid<n>``. Every EVSE's meter sits on ONE simulated RS-485 line at ``<sim_dir>/meter``, at its
configured unit id; a modem at ``<sim_dir>/modem`` when ``[modem] enabled``; the manufacturer's firmware
images on a local HTTP server, signed under ``[firmware] manufacturer_root`` (sim/firmware_images.py).
The physics between them: the board decides the EV's current (PWM offer, EV maximum, cable, relays); each
meter's load follows its board on every change of the board (an observer task per EVSE over
``McuBoard.wait_for``), so its energy register integrates the EV's power while the relays are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from services.evse_io.mcu_pb2 import CpState, LockState, PpState
from sim.ev_model import CABLE_PP_STATES, offered_current_a
from sim.firmware_images import FirmwareImages
from sim.mcu_board import McuBoard
from sim.mcu_board_state import FAULT_FLAGS
from sim.meter_sim import MeterSim, SimulatedMeter
from sim.modem_sim import PROFILES, ModemSim
from sim.rfid_reader import RfidReaderSim
from station.config import Evse, StationConfig

log = logging.getLogger("reon.sim.world")

# station-config meter model -> modbus_maps / meter_sim model name
METER_MODELS = {"SDM630": "sdm630", "SDM72D": "sdm72dm", "SDM120": "sdm120", "ABB_B23": "abb_b23", "EM340": "em340"}
NOMINAL_VOLTAGE_V = 230.0
MAX_EV_CURRENT_A = 80.0
MAX_TOKEN_CHARS = 64
CARD_UID_BYTES = (4, 7, 10)  # ISO/IEC 14443-3 single, double and triple size UIDs
_UID_HEX = re.compile(r"[0-9A-Fa-f]+")
# modem action -> 27.007 registration <stat>
REGISTRATION_STATS = {"register": 1, "roaming": 5, "searching": 2, "denied": 3, "unregister": 0}

OnChange = Callable[[int, bool], Awaitable[None]]


class WorldError(Exception):
    """A control the world refuses; ``code`` is a stable label (not_plugged, no_meter, bad_args, …)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class EvseWorld:
    """One EVSE's outside world: the MCU board with its EV, the RFID reader, the meter (if any)."""

    def __init__(self, evse: Evse, sim_dir: Path, meter: SimulatedMeter | None,
                 keepalive_interval_s: float = 1.0) -> None:
        self.evse_id = evse.id
        self.wired_phases = evse.phases
        self.board = McuBoard(evse.id, sim_dir, keepalive_interval_s=keepalive_interval_s,
                              hwcap_max_current_a=evse.max_current_a, max_phase_count=evse.phases,
                              voltage_v=NOMINAL_VOLTAGE_V)
        if evse.phases == 1:
            self.board.state.three_phase = False  # the wiring has L1 only: the board starts in 1-phase
        self.rfid = RfidReaderSim(sim_dir / f"rfid{evse.id}")
        self.meter = meter
        self.meter_model = evse.meter.model if evse.meter else None

    # ---- the EV ----

    def plug(self, cable_a: int | None = None) -> None:
        """Plug in an EV that wants power; nothing changes when one is plugged already."""
        if cable_a is not None and cable_a not in CABLE_PP_STATES:
            raise WorldError("bad_args", f"cable_a must be one of {sorted(CABLE_PP_STATES)} A, not {cable_a}")
        if self.board.ev.plugged:
            return
        self.board.ev_resume()  # a new plug-in is an EV that wants to charge
        self.board.plug(cable_a)
        self.sync_meter()

    def unplug(self) -> None:
        self.board.unplug()
        self.sync_meter()

    def ev_pause(self) -> None:
        self._need_ev()
        self.board.ev_pause()
        self.sync_meter()

    def ev_resume(self) -> None:
        self._need_ev()
        self.board.ev_resume()
        self.sync_meter()

    def set_ev_max_current(self, amps: float) -> None:
        if not 0 <= amps <= MAX_EV_CURRENT_A:
            raise WorldError("bad_args", f"amps must be 0..{MAX_EV_CURRENT_A:g}, not {amps}")
        self.board.set_ev_max_current(float(amps))
        self.sync_meter()

    def _need_ev(self) -> None:
        if not self.board.ev.plugged:
            raise WorldError("not_plugged", f"no EV is plugged into EVSE {self.evse_id}")

    # ---- card, faults, meter ----

    def swipe(self, token: str) -> bool:
        """Write the card UID as one line on the reader; False when nothing could be written.

        Only what a real ISO/IEC 14443 reader could print is accepted: a 4, 7 or 10 byte UID in hex. Tokens
        of other types (KeyCode, Central, eMAID, …) do not come from a card reader: `reonctl sim token`.
        """
        uid = token.replace(":", "").replace(" ", "")
        if not (_UID_HEX.fullmatch(uid) and len(uid) // 2 in CARD_UID_BYTES and len(uid) % 2 == 0):
            raise WorldError("bad_args", f"{token[:MAX_TOKEN_CHARS]!r} is not a card UID: a card reader prints"
                             " 4, 7 or 10 bytes in hex, e.g. 04A1B2C3; for other token types use"
                             " `reonctl sim token EVSE ID --type TYPE`")
        return self.rfid.swipe(token)

    def fault(self, kind: str) -> None:
        self._check_fault(kind)
        self.board.fault(kind)
        self.sync_meter()

    def clear_fault(self, kind: str | None = None) -> None:
        """Clear one fault or all; with ventilation cleared the EV no longer needs it."""
        if kind is not None:
            self._check_fault(kind)
        self.board.clear_fault(kind)
        if kind in (None, "ventilation"):
            self.board.set_ev_ventilation(False)
        self.sync_meter()

    @staticmethod
    def _check_fault(kind: str) -> None:
        if kind not in FAULT_FLAGS:
            raise WorldError("bad_args", f"unknown fault {kind!r}; one of {', '.join(FAULT_FLAGS)}")

    def meter_offline(self) -> None:
        self._need_meter().go_offline()

    def meter_online(self) -> None:
        self._need_meter().come_back()

    def _need_meter(self) -> SimulatedMeter:
        if self.meter is None:
            raise WorldError("no_meter", f"EVSE {self.evse_id} has no meter")
        return self.meter

    # ---- physics and what it looks like ----

    @property
    def loaded_phases(self) -> int:
        return 3 if self.wired_phases == 3 and self.board.state.three_phase else 1

    def sync_meter(self) -> None:
        """The meter measures what the EV draws now."""
        if self.meter is not None:
            self.meter.set_load([self.board.state.current_a], phases=self.loaded_phases)

    def snapshot(self) -> dict[str, Any]:
        """The EVSE's world (contract shape EVSE_WORLD)."""
        body = self._discrete()
        body["energy_wh"] = round(self.meter.energy_import_wh if self.meter else self.board.state.energy_wh, 3)
        return body

    def _discrete(self) -> dict[str, Any]:
        """Everything but the energy, which changes all the time while the EV charges."""
        s, ev = self.board.state, self.board.ev
        duty = s.pwm_duty_0_01pct
        return {
            "evse": self.evse_id,
            "ev_plugged": ev.plugged,
            "ev_paused": not ev.wants_power,
            "ev_max_current_a": float(ev.ev_max_current_a),
            "cable_a": ev.cable_rating_a,
            "cp_state": CpState.Name(s.cp_state).removeprefix("STATE_"),
            "pp_state": PpState.Name(s.pp_state).removeprefix("STATE_"),
            "pwm_duty_pct": duty / 100,
            "offered_current_a": offered_current_a(duty),
            "allow_power_on": s.allow_power_on,
            "relays_closed": s.relays_closed,
            "lock": LockState.Name(s.lock_state),
            "current_a": round(s.current_a, 3),
            "phases": self.loaded_phases,
            "power_w": round(s.current_a * NOMINAL_VOLTAGE_V * self.loaded_phases, 1),
            "faults": sorted(s.faults),
            "host_seen": s.host_keepalive_at is not None,
            "meter_unit_id": self.meter.unit_id if self.meter else None,
            "meter_model": self.meter_model,
            "meter_online": self.meter.online if self.meter else None,
        }

    def _differs_from(self, seen: dict[str, Any] | None, _state: object) -> bool:
        return self._discrete() != seen

    async def follow(self, on_change: OnChange | None, period_s: float) -> None:
        """Forever: on every change of the board (or each ``period_s``) bring the meter along and call
        ``on_change(evse_id, changed)``; a callback that raises is logged and the physics goes on."""
        seen: dict[str, Any] | None = None
        while True:
            try:
                await self.board.wait_for(partial(self._differs_from, seen), timeout=period_s)
                changed = True
            except TimeoutError:
                changed = False
            seen = self._discrete()
            self.sync_meter()
            if on_change is not None:
                try:
                    await on_change(self.evse_id, changed)
                except Exception:
                    log.exception("evse %d: world change callback failed", self.evse_id)


class World:
    """Every simulated device of a station; build it, ``await start()``, drive it, ``await stop()``.

    While started, ``on_change(evse_id, changed)`` is awaited after every change of an EVSE's world
    (changed=True) and every ``period_s`` (changed=False: only the energy may have moved).
    Raises WorldError("config", …) when the config cannot be simulated (two meters at one unit id).
    """

    def __init__(self, config: StationConfig, *, on_change: OnChange | None = None, period_s: float = 1.0,
                 modem_profile: str = "quectel", keepalive_interval_s: float = 1.0) -> None:
        self.sim_dir = config.sim_dir
        self.on_change = on_change
        self.period_s = period_s
        self._tasks: list[asyncio.Task[None]] = []
        units: dict[int, str] = {}
        for evse in config.evses:
            if evse.meter is None:
                continue
            if evse.meter.unit_id in units:
                raise WorldError("config", f"evse {evse.id}: meter unit_id {evse.meter.unit_id} is taken by "
                                           "another EVSE's meter on the one simulated RS-485 bus")
            units[evse.meter.unit_id] = METER_MODELS[evse.meter.model]
        baud = next((e.meter.baud for e in config.evses if e.meter), 9600)
        self.meter_line = MeterSim(self.sim_dir / "meter", units, baudrate=baud) if units else None
        self.evses = {
            e.id: EvseWorld(e, self.sim_dir, self.meter_line.meter(e.meter.unit_id)
                            if self.meter_line and e.meter else None, keepalive_interval_s)
            for e in config.evses
        }
        self.modem = ModemSim(self.sim_dir, PROFILES[modem_profile]) if config.modem.enabled else None
        self.modem_present = False
        self.firmware = FirmwareImages(config)

    async def start(self) -> None:
        """Open every pseudo-terminal; on failure close what was opened and raise."""
        self.sim_dir.mkdir(parents=True, exist_ok=True)
        try:
            for evse in self.evses.values():
                await evse.board.start()
                evse.rfid.appear()
            if self.meter_line is not None:
                await self.meter_line.start()
            if self.modem is not None:
                self.modem.start()
                self.modem_present = True
            self._tasks = [asyncio.create_task(evse.follow(self.on_change, self.period_s),
                                               name=f"sim-evse-{evse.evse_id}") for evse in self.evses.values()]
            await asyncio.to_thread(self.firmware.start)  # may make the manufacturer's keys: off the loop
        except BaseException:
            await self.stop()
            raise
        log.info("simulated devices: %s", ", ".join(self.devices()))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for evse in self.evses.values():
            await evse.board.stop()
            evse.rfid.vanish()
        if self.meter_line is not None:
            with contextlib.suppress(Exception):
                await self.meter_line.stop()
        if self.modem is not None:
            self.modem.close()
            self.modem_present = False
        self.firmware.stop()

    def evse(self, evse_id: int) -> EvseWorld:
        try:
            return self.evses[evse_id]
        except KeyError:
            raise WorldError("unknown_evse", f"no EVSE {evse_id}; configured: "
                                             f"{', '.join(map(str, self.evses))}") from None

    def devices(self) -> dict[str, str]:
        """{sim name: link path} of every simulated device."""
        out: dict[str, str] = {}
        for evse in self.evses.values():
            out[f"mcu{evse.evse_id}"] = str(evse.board.path)
            out[f"rfid{evse.evse_id}"] = str(evse.rfid.path)
        if self.meter_line is not None:
            out["meter"] = str(self.meter_line.path)
        if self.modem is not None:
            out["modem"] = str(self.modem.path)
        return out

    # ---- the modem ----

    def modem_action(self, action: str, rssi: int | None = None) -> None:
        """Drive the modem sim (contract MODEM_ACTIONS)."""
        modem = self._need_modem()
        if action in REGISTRATION_STATS:
            modem.set_registration(REGISTRATION_STATS[action])
        elif action in ("no_sim", "sim_present"):
            modem.set_sim_present(action == "sim_present")
        elif action == "signal":
            if rssi is None or not (0 <= rssi <= 31 or rssi == 99):
                raise WorldError("bad_args", f"signal needs rssi 0..31 or 99, not {rssi}")
            modem.set_signal(rssi)
        elif action in ("silent", "talk"):
            modem.go_silent(action == "silent")
        elif action == "vanish":
            modem.vanish()
            self.modem_present = False
        elif action == "reappear":
            if not self.modem_present:
                modem.reappear()
                self.modem_present = True
        elif action == "reset":
            modem.reset()
        else:
            raise WorldError("bad_args", f"unknown modem action {action!r}")

    def modem_snapshot(self) -> dict[str, Any] | None:
        """The modem's world (contract shape MODEM_WORLD), None when there is no modem."""
        if self.modem is None:
            return None
        return {"profile": self.modem.profile.name, "present": self.modem_present,
                "sim_present": self.modem.sim_present, "registration": self.modem.registration_stat,
                "rssi": self.modem.rssi, "silent": self.modem.silent}

    def _need_modem(self) -> ModemSim:
        if self.modem is None:
            raise WorldError("no_modem", "the modem is not enabled ([modem] enabled = false)")
        return self.modem

    def snapshot(self) -> dict[str, Any]:
        return {"evses": [e.snapshot() for e in self.evses.values()], "modem": self.modem_snapshot()}
