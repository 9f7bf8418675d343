"""The evaluation of monitors: a variable's new value (or the clock) in, NotifyEvent drafts out (N07, N08).

Only active monitors with severity ≤ the monitoring level count (N05.FR.03); a monitor with transaction=true
only while a transaction runs on its EVSE. Hard-wired monitors are driven by `events.py` (the problems the
hardware reports), not here.
- UpperThreshold: the value rises above `value` → Alerting; it comes back to `value` or below → Alerting
  with cleared=true (N07.FR.16/17, TC_N_20). LowerThreshold mirrors it (below / back to `value` or above).
  The tripped state is the hysteresis: nothing more is sent while the value stays on the same side, and it
  is kept in the store, so a restart neither repeats nor loses a trip.
- Delta, numeric variable: the absolute difference to the last reported value (at first the value when
  the monitor was set, see `prime`, else the first value seen) reaches `value` → Delta, and that value
  becomes the reference (N07.FR.18/19, errata 2025-01 §3.4). Delta on other types: any change of the value.
- Periodic: every `value` seconds from the first tick (N08); PeriodicClockAligned: at the multiples of
  `value` seconds after midnight UTC. Both report the current value, trigger Periodic.
WriteOnly variables report actualValue "" (N07.FR.10).

What the block knows about a variable (through narrow callables) and the events it produces, before ids.

`VariableInfo` is what the device model tells about one variable: `describe(target)` returns it, or None
when the component has no such variable. `EventDraft` is one EventDataType without its eventId: monitors.py
and events.py produce drafts, `events.EventSender` numbers and sends them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.ocpp_client.monitoring.store import HARD_WIRED, Monitor, MonitoringStore, Target

NUMERIC_TYPES = frozenset({"integer", "decimal"})


@dataclass(frozen=True)
class VariableInfo:
    data_type: str
    min_limit: float | None = None
    max_limit: float | None = None
    supports_monitoring: bool = True
    write_only: bool = False

    @property
    def numeric(self) -> bool:
        return self.data_type in NUMERIC_TYPES


Describe = Callable[[Target], VariableInfo | None]
HasComponent = Callable[[Target], bool]
Declares = Callable[[str | None, str | None], bool]  # (component, variable) declared anywhere; None: any
CurrentValue = Callable[[Target], str | None]
TransactionOf = Callable[[int | None], str | None]  # the transaction id on an EVSE (None: none / station-wide)


@dataclass(frozen=True)
class EventDraft:
    target: Target
    trigger: str  # Alerting | Delta | Periodic
    actual_value: str
    severity: int
    notification_type: str  # HardWiredNotification | HardWiredMonitor | PreconfiguredMonitor | CustomMonitor
    timestamp: datetime
    monitor_id: int | None = None
    cleared: bool = False
    tech_code: str | None = None
    tech_info: str | None = None
    transaction_id: str | None = None

    def to_event_data(self, event_id: int, format_time: Callable[[datetime], str]) -> dict[str, object]:
        """EventDataType (actualValue clipped to the schema's 2500 characters)."""
        data: dict[str, object] = {
            "eventId": event_id, "timestamp": format_time(self.timestamp), "trigger": self.trigger,
            "actualValue": self.actual_value[:2500], "eventNotificationType": self.notification_type,
            "component": self.target.component_json(), "variable": self.target.variable_json(),
        }
        if self.cleared:
            data["cleared"] = True
        if self.monitor_id is not None:
            data["variableMonitoringId"] = self.monitor_id
        if self.tech_code:
            data["techCode"] = self.tech_code[:50]
        if self.tech_info:
            data["techInfo"] = self.tech_info[:500]
        if self.transaction_id:
            data["transactionId"] = self.transaction_id[:36]
        return data


log = logging.getLogger("reon.ocpp.monitoring")

PERIODIC_TYPES = frozenset({"Periodic", "PeriodicClockAligned"})


class MonitorEngine:
    def __init__(self, store: MonitoringStore, describe: Describe, current_value: CurrentValue,
                 now: Callable[[], datetime], transaction_of: TransactionOf = lambda evse_id: None,
                 enabled: Callable[[], bool] = lambda: True) -> None:
        self._store = store
        self._describe = describe
        self._current = current_value
        self._now = now
        self._transaction_of = transaction_of
        self._enabled = enabled
        self._next_due: dict[int, datetime] = {}

    # ----- value changes ---------------------------------------------------------------------------

    def on_value(self, target: Target, value: str | None) -> list[EventDraft]:
        """Drafts for the monitors on `target` that the new value triggers (their state is stored)."""
        if value is None or not self._enabled():
            return []
        drafts: list[EventDraft] = []
        for monitor in self._relevant(target):
            if monitor.settings.type in PERIODIC_TYPES:
                continue
            draft = self._evaluate(monitor, value)
            if draft is not None:
                drafts.append(draft)
        return drafts

    def _relevant(self, target: Target) -> list[Monitor]:
        on_target = [m for m in self._store.monitors() if m.target.key == target.key and m.kind != HARD_WIRED]
        if not on_target:  # the common case (every meter value is offered): no database read
            return []
        level = self._store.level()
        return [m for m in on_target if m.settings.severity <= level
                and (not m.settings.transaction or self._transaction_of(m.target.evse_id) is not None)]

    def _evaluate(self, monitor: Monitor, value: str) -> EventDraft | None:
        kind, limit = monitor.settings.type, monitor.settings.value
        if kind == "Delta":
            return self._delta(monitor, value)
        number = _number(value)
        if number is None:
            return None
        tripped = bool(monitor.state.get("tripped"))
        beyond = number > limit if kind == "UpperThreshold" else number < limit
        if beyond == tripped:
            return None
        self._store.set_state(monitor.id, {"tripped": beyond})
        return self._draft(monitor, "Alerting", value, cleared=not beyond)

    def _delta(self, monitor: Monitor, value: str) -> EventDraft | None:
        reference = monitor.state.get("reference")
        if reference is None:
            self._store.set_state(monitor.id, {"reference": value})
            return None
        info = self._describe(monitor.target)
        new, old = _number(value), _number(reference)
        if info is not None and info.numeric and new is not None and old is not None:
            if abs(new - old) < monitor.settings.value:
                return None
        elif value == reference:
            return None
        self._store.set_state(monitor.id, {"reference": value})
        return self._draft(monitor, "Delta", value)

    def prime(self, monitor_ids: list[int]) -> list[EventDraft]:
        """Monitors just set or replaced: a Delta takes the variable's current value as its reference; a
        threshold is checked against the current value at once (N07.FR.11, TC_N_51). The drafts to send."""
        drafts = []
        for monitor_id in monitor_ids:
            monitor = self._store.get(monitor_id)
            if monitor is None or monitor.state:
                continue
            value = self._current(monitor.target)
            if value is None:
                continue
            if monitor.settings.type == "Delta":
                self._store.set_state(monitor.id, {"reference": value})
            elif monitor.settings.type in ("UpperThreshold", "LowerThreshold") and monitor in self._relevant(
                    monitor.target) and self._enabled():
                draft = self._evaluate(monitor, value)
                if draft is not None:
                    drafts.append(draft)
        return drafts

    # ----- periodic --------------------------------------------------------------------------------

    def due(self) -> list[EventDraft]:
        """Drafts of the periodic monitors whose time has come; call after `seconds_to_next()`."""
        self.due_schedule()
        now = self._now()
        level = self._store.level()
        drafts = []
        for monitor_id, due_at in list(self._next_due.items()):
            monitor = self._store.get(monitor_id)
            if monitor is None:
                continue
            if due_at > now:
                continue
            self._next_due[monitor.id] = _next_time(monitor, now)
            if not self._enabled() or monitor.settings.severity > level:
                continue
            if monitor.settings.transaction and self._transaction_of(monitor.target.evse_id) is None:
                continue
            drafts.append(self._draft(monitor, "Periodic", self._current(monitor.target) or ""))
        return drafts

    def seconds_to_next(self) -> float | None:
        """Seconds until the next periodic monitor is due (0: now); None when there is none."""
        self.due_schedule()
        if not self._next_due:
            return None
        return max(0.0, (min(self._next_due.values()) - self._now()).total_seconds())

    def due_schedule(self) -> None:
        """Schedule periodic monitors added since the last look (and forget removed ones)."""
        now = self._now()
        periodic = {m.id: m for m in self._store.monitors() if m.settings.type in PERIODIC_TYPES}
        for gone in set(self._next_due) - set(periodic):
            del self._next_due[gone]
        for monitor in periodic.values():
            self._next_due.setdefault(monitor.id, _next_time(monitor, now))

    # ----- helpers ---------------------------------------------------------------------------------

    def _draft(self, monitor: Monitor, trigger: str, value: str, *, cleared: bool = False) -> EventDraft:
        info = self._describe(monitor.target)
        actual = "" if info is not None and info.write_only else value
        return EventDraft(monitor.target, trigger, actual, monitor.settings.severity, monitor.notification_type,
                          self._now(), monitor_id=monitor.id, cleared=cleared,
                          transaction_id=self._transaction_of(monitor.target.evse_id))


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _next_time(monitor: Monitor, now: datetime) -> datetime:
    interval_s = max(1.0, monitor.settings.value)
    if monitor.settings.type == "Periodic":
        return now + timedelta(seconds=interval_s)
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed_s = (now - midnight).total_seconds()
    steps = math.floor(elapsed_s / interval_s) + 1
    return midnight + timedelta(seconds=steps * interval_s)
