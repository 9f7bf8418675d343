"""Time-driven work of the transaction state machine: EVConnectionTimeOut, periodic and clock-aligned meter
values, TxEndedInterval samples and settled pause hints.

`tick(now)` does what is due and `next_deadline()` says when it is next needed; both are cheap when nothing
is due. Periodic values count from the transaction start, clock-aligned ones from UTC midnight
(meter_values.py). A periodic or clock-aligned value needs a sample read at most `max_sample_age_s` ago:
a meter that stopped answering produces no new samples, not old ones re-sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from services.ocpp_client.meter_values.sampling import (
    SAMPLE_CLOCK,
    SAMPLE_PERIODIC,
    is_fresh,
    meter_value,
    meter_values_request,
    next_aligned_at,
    next_periodic_at,
)
from services.ocpp_client.transactions.core import Step, TxCore
from services.ocpp_client.transactions.events import UPDATED, TxOutput
from services.ocpp_client.transactions.model import (
    HINT_SETTLE_S,
    SUSPENDED_EV,
    SUSPENDED_EVSE,
    EvseRecord,
    TxSettings,
    charging_state,
)

# the variables that move a timer's deadline (SamplingSettings, TxSettings): a change wakes the timers at once
DEADLINE_VARIABLES = (("SampledDataCtrlr", "Enabled"), ("SampledDataCtrlr", "TxUpdatedInterval"),
                      ("SampledDataCtrlr", "TxEndedInterval"), ("AlignedDataCtrlr", "Enabled"),
                      ("AlignedDataCtrlr", "Interval"), ("AlignedDataCtrlr", "TxEndedInterval"),
                      ("TxCtrlr", "EVConnectionTimeOut"))


def on_deadline_change(dm: Any, wake: Callable[[], None]) -> None:
    """Call `wake` after a committed change of a variable that moves a deadline (one a DeviceModel declares)."""
    for component, variable in DEADLINE_VARIABLES:
        with contextlib.suppress(LookupError):  # not declared: it cannot change
            dm.on_change(component, variable, lambda _change: wake())


class TxTimers:
    """tick / next_deadline, as moves of the core; keeps the station-wide clock-aligned schedule."""

    def __init__(self, core: TxCore) -> None:
        self.core = core
        self._aligned_interval: int | None = None
        self._next_aligned_at: float | None = None

    def tick(self, now: float) -> TxOutput:
        """Timers: EVConnectionTimeOut, periodic and clock-aligned meter values, TxEnded samples, pause hints.
        Call it at `next_deadline()` (and whenever convenient: it does nothing before a deadline)."""
        out = TxOutput()
        s = self.core.settings()
        for evse_id in sorted(self.core.evses):
            rec = self.core.record(evse_id)
            if any(when <= now for when in self._deadlines(rec, s)) or self._state_stale(rec, now):
                with self.core.step(evse_id, now, out) as st:
                    self._tick_evse(st)
        self._tick_aligned(now, s, out)
        return out

    def next_deadline(self) -> float | None:
        """The earliest time `tick` has work to do, or None."""
        s = self.core.settings()
        times = [when for evse_id in self.core.evses for when in self._deadlines(self.core.record(evse_id), s)]
        if self._next_aligned_at is not None:
            times.append(self._next_aligned_at)
        return min(times) if times else None

    def _deadlines(self, rec: EvseRecord, s: TxSettings) -> list[float]:
        times = [rec.connect_deadline] if rec.connect_deadline is not None else []
        tx = rec.tx
        if tx is not None:
            sampling = s.sampling
            for when, interval in ((tx.next_periodic_at, sampling.tx_updated_interval_s),
                                   (tx.next_ended_sample_at, sampling.tx_ended_interval_s),
                                   (tx.next_aligned_ended_at, sampling.aligned_tx_ended_interval_s)):
                if (when is None) == (interval > 0):  # to be scheduled, or switched off
                    times.append(tx.started_at)
                elif when is not None:
                    times.append(when)
            if rec.hint in (SUSPENDED_EV, SUSPENDED_EVSE) and rec.hint_since is not None:
                settled = rec.hint_since + HINT_SETTLE_S
                if charging_state(rec, settled) != tx.charging_state:  # else already reported
                    times.append(settled)
        return times

    @staticmethod
    def _state_stale(rec: EvseRecord, now: float) -> bool:
        return rec.tx is not None and charging_state(rec, now) != rec.tx.charging_state

    def _tick_evse(self, st: Step) -> None:
        rec, sampling, now = st.rec, st.s.sampling, st.now
        if rec.connect_deadline is not None and now >= rec.connect_deadline:
            rec.connect_deadline = None
            if rec.authorized and not rec.ev_connected:
                self.core.end_authorization(st, "Timeout", "EVConnectTimeout")  # E03.FR.05, TC_E_05 / TC_F_04
        tx = rec.tx
        if tx is None:
            return
        fresh = is_fresh(self.core.sample_for(rec), now, self.core.max_sample_age_s)
        sample = self.core.sample_for(rec) if fresh else None
        without_phases = sampling.register_values_without_phases
        if self._timer_fired(tx, "next_periodic_at", sampling.tx_updated_interval_s, now):
            value = self.core.periodic_value(st) if fresh else None
            if value:
                self.core.emit(st, UPDATED, "MeterValuePeriodic", meter_values=[value])
        if self._timer_fired(tx, "next_ended_sample_at", sampling.tx_ended_interval_s, now) \
                and sampling.sampled_enabled:
            self.core.add_ended_sample(st, meter_value(sample, sampling.tx_ended_measurands, SAMPLE_PERIODIC,
                                                 register_values_without_phases=without_phases))
        if self._timer_fired(tx, "next_aligned_ended_at", sampling.aligned_tx_ended_interval_s, now,
                             aligned=True) and sampling.aligned_enabled:
            self.core.add_ended_sample(st, meter_value(sample, sampling.aligned_tx_ended_measurands, SAMPLE_CLOCK,
                                                 register_values_without_phases=without_phases))
        self.core.refresh_state(st)

    @staticmethod
    def _timer_fired(tx: Any, attribute: str, interval: int, now: float, aligned: bool = False) -> bool:
        """Advance one of the transaction's timers; True when it was due (a new schedule is not due)."""
        when = getattr(tx, attribute)
        following = next_aligned_at(interval, now) if aligned else next_periodic_at(tx.started_at, interval, now)
        if interval <= 0 or when is None:
            setattr(tx, attribute, following)
            return False
        if now < when:
            return False
        setattr(tx, attribute, following)
        return True

    def _tick_aligned(self, now: float, s: TxSettings, out: TxOutput) -> None:
        sampling = s.sampling
        interval = sampling.aligned_interval_s if sampling.aligned_enabled else 0
        if interval != self._aligned_interval or self._next_aligned_at is None:
            self._aligned_interval = interval
            self._next_aligned_at = next_aligned_at(interval, now)
            return
        if now < self._next_aligned_at:
            return
        self._next_aligned_at = next_aligned_at(interval, now)
        open_tx = self.core.open_transactions()
        if sampling.aligned_send_during_idle and open_tx:
            return  # SendDuringIdle: no clock-aligned values while a transaction is ongoing (TC_J_06)
        for evse_id in sorted(self.core.evses):
            sample = self.core.samples.get(evse_id)
            if not is_fresh(sample, now, self.core.max_sample_age_s):
                continue
            value = meter_value(sample, sampling.aligned_measurands, SAMPLE_CLOCK,
                                register_values_without_phases=sampling.register_values_without_phases)
            if value is None:
                continue
            if evse_id in open_tx:
                with self.core.step(evse_id, now, out) as st:
                    self.core.emit(st, UPDATED, "MeterValueClock", meter_values=[value])
            else:
                out.meter_values.append(meter_values_request(evse_id, [value]))
