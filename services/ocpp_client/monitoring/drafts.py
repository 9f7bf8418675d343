"""What the block knows about a variable (through narrow callables) and the events it produces, before ids.

`VariableInfo` is what the device model tells about one variable: `describe(target)` returns it, or None
when the component has no such variable. `EventDraft` is one EventDataType without its eventId: monitors.py
and events.py produce drafts, `events.EventSender` numbers and sends them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.ocpp_client.monitoring.store import Target

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
Declares = Callable[[str, str | None], bool]  # (component name, variable name or any) declared anywhere
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
