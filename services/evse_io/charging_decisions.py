"""The state of one EVSE's charging control and the MCU outputs it calls for (IEC 61851-1): the base of
ChargingControl (charging.py), which records the inputs and commands and then calls `_reconcile`.

`_reconcile` recomputes the desired outputs from the whole state and emits only the changes, so a power-off
(C -> B, de-authorization, fault) is always in the same call that caused it (IEC 61851-1 Table A.6: 100 ms).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from services.evse_io.charging_session import SessionTracker, utc_now
from services.evse_io.charging_types import (
    PLAIN_FAULT_FLAGS,
    RCD_FAULT_FLAGS,
    Action,
    AllowPower,
    ChargingConfig,
    ErrorFlags,
    Fault,
    Lock,
    Outputs,
    SetDuty,
)
from services.evse_io.pilot import (
    DUTY_NO_PWM,
    EV_PLUGGED_STATES,
    EV_REQUESTING_STATES,
    MAX_CURRENT_A,
    MIN_CURRENT_A,
    CpState,
    LockState,
    PpState,
    current_to_duty,
    pp_ampacity_a,
)

DUTY_RAISE_INTERVAL_S = 5.0  # a running PWM is raised at most once per 5 s; lowering and starting are at once
FORCED_OPEN_AFTER_S = 6.0  # PWM off and the EV stays in C: open the contactor anyway


class ChargingDecisions:
    """What one EVSE knows (MCU inputs, commands) and has commanded; what it must command next."""

    def __init__(
        self, evse_id: int = 1, config: ChargingConfig | None = None,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.evse_id = evse_id
        self._cfg = config or ChargingConfig()
        self._sessions = SessionTracker(evse_id, wall_clock)
        # inputs from the MCU
        self._cp: CpState | None = None
        self._plugged = False
        self._relays_closed: bool | None = None  # None: not known (never reported, or link lost since)
        self._relays_reported = False  # the last report, for the power_on/power_off facts
        self._flags = ErrorFlags()
        self._pp: PpState | None = None
        self._lock_state = LockState.UNDEFINED
        self._link_up = False
        self._link_was_up = False
        self._hw_max_a: float | None = None
        self._hw_min_a = MIN_CURRENT_A
        # commands
        self._external_limits_a: dict[str, float] = {}  # by source (e.g. "default", "smart_charging")
        self._operative_requested = True
        self._operative = True
        self._reserved = False
        self._unlock_requested = False
        self._rcd_latched: set[str] = set()
        # what has been decided and commanded
        self._faults: set[str] = set()
        self._duty = DUTY_NO_PWM
        self._offered_a = 0.0
        self._duty_changed_at = -math.inf
        self._pwm_off_at = -math.inf
        self._power_cmd = False
        self._power_off_cmd_at: float | None = None
        self._lock_cmd: bool | None = None  # None: not commanded yet
        self._resync = False

    def next_deadline(self) -> float | None:
        """Monotonic time at which tick() has something to do, or None."""
        deadlines = []
        if self._duty != DUTY_NO_PWM and self._target_current_a() > self._offered_a:
            deadlines.append(self._duty_changed_at + DUTY_RAISE_INTERVAL_S)
        if self._power_cmd and self._duty == DUTY_NO_PWM:
            deadlines.append(self._pwm_off_at + FORCED_OPEN_AFTER_S)
        off_at = self._power_off_cmd_at
        if self._welding_suspected() and off_at is not None and Fault.WELDED not in self._faults:
            deadlines.append(off_at + self._cfg.welded_detect_s)
        return min(deadlines, default=None)

    @property
    def _external_limit_a(self) -> float | None:
        return min(self._external_limits_a.values(), default=None)

    # ---- the reconciliation --------------------------------------------------------------------------

    def _reconcile(self, now: float) -> Outputs:
        self._faults = self._current_faults(now)
        if self._relays_closed is not True or Fault.WELDED in self._faults:
            self._sessions.close()  # an ending session is over once its relays are open
        self._update_availability()
        resync, self._resync = self._resync, False
        actions: list[Action] = []
        self._decide_duty(now, resync, actions)
        want_power = self._want_power(now)
        if not want_power and (self._power_cmd or resync):
            self._power_cmd = False
            self._power_off_cmd_at = now
            actions.insert(0, AllowPower(False))  # first, whatever else this call sends
        if self._cfg.has_lock:
            self._decide_lock(want_power, resync, actions)
        if want_power and (not self._power_cmd or resync):
            self._power_cmd = True
            actions.append(AllowPower(True))  # last: after the duty and the lock
        return Outputs(actions=actions, events=self._sessions.take_events())

    def _decide_duty(self, now: float, resync: bool, actions: list[Action]) -> None:
        target_a = self._target_current_a()
        duty = current_to_duty(target_a) if target_a > 0 else DUTY_NO_PWM
        rate_limited = self._duty != DUTY_NO_PWM and target_a > self._offered_a
        if duty != self._duty and (not rate_limited or now >= self._duty_changed_at + DUTY_RAISE_INTERVAL_S):
            if duty == DUTY_NO_PWM:
                self._pwm_off_at = now
            self._duty, self._offered_a, self._duty_changed_at = duty, target_a, now
            actions.append(SetDuty(duty))
            return
        if duty == self._duty:
            self._offered_a = target_a
        if resync:
            actions.append(SetDuty(self._duty))

    def _decide_lock(self, want_power: bool, resync: bool, actions: list[Action]) -> None:
        want_lock: bool | None = self._lock_wanted() or want_power
        relays_open = self._relays_closed is False
        if not want_lock and not relays_open:
            want_lock = self._lock_cmd  # never unlock while the relays are (or may be) closed
        if want_lock is not None and want_lock != self._lock_cmd:
            self._lock_cmd = want_lock
            actions.append(Lock(want_lock))
        elif resync and self._lock_cmd is not None and (self._lock_cmd or relays_open):
            actions.append(Lock(self._lock_cmd))

    def _current_faults(self, now: float) -> set[str]:
        faults = {fault for name, fault in PLAIN_FAULT_FLAGS.items() if getattr(self._flags, name)}
        faults |= self._rcd_latched
        faults |= {fault for name, fault in RCD_FAULT_FLAGS.items() if getattr(self._flags, name)}
        if self._cp in (CpState.E, CpState.F):
            faults.add(Fault.CP_SIGNAL)
        if self._cp is CpState.D and self._flags.ventilation_not_available:
            faults.add(Fault.VENTILATION)
        if self._link_was_up and not self._link_up:
            faults.add(Fault.LINK_LOST)
        off_at = self._power_off_cmd_at
        if self._welding_suspected() and off_at is not None and now >= off_at + self._cfg.welded_detect_s:
            faults.add(Fault.WELDED)
        return faults

    def _welding_suspected(self) -> bool:
        return self._relays_closed is True and not self._power_cmd

    def _update_availability(self) -> None:
        if self._operative_requested:
            self._operative = True
        elif not (self._sessions.authorized or self._power_cmd or self._relays_closed):
            self._operative = False  # a pending Inoperative takes effect once the session is over

    def _pp_ampacity_a(self) -> float | None:
        return pp_ampacity_a(self._pp, self._cfg.phases) if self._pp is not None else None

    def _may_offer(self) -> bool:
        return (
            self._link_up
            and not self._faults
            and self._operative
            and self._plugged
            and self._cp in EV_PLUGGED_STATES
            and self._sessions.authorized
            and not (self._cfg.has_lock and self._unlock_requested)
        )

    def _target_current_a(self) -> float:
        """The current to offer: min(hardware, cable, EVSE maximum, external, session cap); 0 = none."""
        if not self._may_offer():
            return 0.0
        limits = [self._cfg.evse_max_current_a, MAX_CURRENT_A]
        if self._cfg.has_socket:
            ampacity = self._pp_ampacity_a()
            if ampacity is None:
                return 0.0  # no cable or a faulty coding: nothing may be offered
            limits.append(ampacity)
        optional = (self._hw_max_a, self._external_limit_a, self._sessions.max_current_a)
        limits += [limit for limit in optional if limit is not None]
        current_a = min(limits)
        return current_a if current_a >= self._hw_min_a else 0.0

    def _want_power(self, now: float) -> bool:
        if not (self._link_up and not self._faults and self._sessions.authorized):
            return False
        if self._cp not in EV_REQUESTING_STATES or (self._cfg.has_lock and self._unlock_requested):
            return False
        if self._duty != DUTY_NO_PWM:
            return True
        return self._power_cmd and now < self._pwm_off_at + FORCED_OPEN_AFTER_S

    def _lock_wanted(self) -> bool:
        if not self._plugged or self._unlock_requested or self._sessions.current is None:
            return False
        if self._sessions.authorized:
            return True  # held through a fault: the session may go on when it clears
        usable = self._operative and not self._faults  # don't trap a cable on an EVSE that can't charge
        return self._cfg.lock_on_plug_in and usable and not self._sessions.ending
