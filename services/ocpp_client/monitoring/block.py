"""The monitoring block assembled from narrow parts: what the service wires in (wave 2) and what tests drive.

Inputs: the ocpp.db connection, the device model's view (characteristics.DeviceModelView or equivalents),
`queue_put(action, payload, conn)` into the durable queue, `send(action, payload)` for report pages, the
clock, `online()`, `setting(variable, instance)` reading MonitoringCtrlr integers/booleans, `transaction_of`,
`health()` for REWATT Health, and the topology {evse id: connector ids}.
Feeds: `on_evse_state`, `on_meter_state`, `on_modem_state` (bus state bodies), `on_value` (a variable's new
value, e.g. EVSE.Power from the meter's samples), and `run_periodic()` as a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from services.ocpp_client.monitoring import problems
from services.ocpp_client.monitoring.events import EventSender, ProblemTracker, QueuePut
from services.ocpp_client.monitoring.handlers import Health, MonitoringHandlers
from services.ocpp_client.monitoring.monitors import (
    CurrentValue,
    Declares,
    Describe,
    EventDraft,
    HasComponent,
    MonitorEngine,
    TransactionOf,
)
from services.ocpp_client.monitoring.problems import Topology, factory_monitors
from services.ocpp_client.monitoring.setting import MonitorSetter
from services.ocpp_client.monitoring.store import MonitoringStore, Target

log = logging.getLogger("reon.ocpp.monitoring")

PERIODIC_IDLE_S = 5.0  # with no periodic monitor: look again (a new one may have been set)


class MonitoringBlock:
    def __init__(self, conn: sqlite3.Connection, topology: Topology, *, describe: Describe,
                 has_component: HasComponent, declares: Declares, current_value: CurrentValue, queue_put: QueuePut,
                 send: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]],
                 now: Callable[[], datetime], format_time: Callable[[datetime], str], online: Callable[[], bool],
                 setting: Callable[[str, str | None], str], transaction_of: TransactionOf = lambda evse_id: None,
                 health: Health = lambda: {}, report_limits: Callable[[], tuple[int, int]] = lambda: (100, 65000),
                 max_custom_monitors: int | None = None) -> None:
        self.store = MonitoringStore(conn)
        self.store.seed(factory_monitors(topology))
        self._setting = setting

        def limit(variable: str, instance: str) -> int:
            return int(setting(variable, instance))

        kw = {} if max_custom_monitors is None else {"max_custom": max_custom_monitors}
        self.setter = MonitorSetter(self.store, describe, has_component, declares, limit, **kw)
        self.engine = MonitorEngine(self.store, describe, current_value, now, transaction_of, self.enabled)
        self.sender = EventSender(self.store, queue_put, online=online,
                                  offline_queuing_severity=lambda: int(setting("OfflineQueuingSeverity", None)),
                                  now=now, format_time=format_time)
        self.tracker = ProblemTracker(self.store, self.sender, topology, now, transaction_of)
        self.calls = MonitoringHandlers(self.store, self.setter, send=send, report_limits=report_limits, now=now,
                                        format_time=format_time, health=health)
        self._wake = asyncio.Event()

    def enabled(self) -> bool:
        return self._setting("Enabled", None) == "true"

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[Any]]]:
        async def set_monitoring(request: dict[str, Any]) -> Any:
            response = await self.calls.set_variable_monitoring(request)
            accepted = [r["id"] for r in response["setMonitoringResult"] if r["status"] == "Accepted"]
            self.sender.send(self.engine.prime(accepted))
            self._wake.set()  # a new periodic monitor
            return response

        return {**self.calls.handlers(), "SetVariableMonitoring": set_monitoring}

    def live_values(self) -> dict[tuple[str, str | None], Callable[[], str]]:
        """Readers for the MonitoringCtrlr mirrors (DeviceModel.set_reader)."""
        return {("MonitoringBase", None): self.store.base, ("ActiveMonitoringBase", None): self.store.base,
                ("MonitoringLevel", None): lambda: str(self.store.level()),
                ("ActiveMonitoringLevel", None): lambda: str(self.store.level())}

    # ----- feeds -----------------------------------------------------------------------------------

    def on_evse_state(self, evse_id: int, state: Mapping[str, Any]) -> list[EventDraft]:
        return self._problems(self.tracker.update("evse_io", evse_id, problems.evse_io_codes(state)))

    def on_meter_state(self, evse_id: int, state: Mapping[str, Any]) -> list[EventDraft]:
        return self._problems(self.tracker.update("meter", evse_id, problems.meter_codes(state)))

    def on_modem_state(self, state: Mapping[str, Any]) -> list[EventDraft]:
        return self._problems(self.tracker.update("modem", None, problems.modem_codes(state)))

    def _problems(self, drafts: list[EventDraft]) -> list[EventDraft]:
        """A problem flag that changed is a new value too: the CSMS's own monitors on it see it."""
        for draft in drafts:
            self.on_value(draft.target, draft.actual_value)
        return drafts

    def on_value(self, target: Target, value: str | None) -> list[EventDraft]:
        """A variable's new value: the monitors it triggers are sent as one NotifyEvent."""
        drafts = self.engine.on_value(target, value)
        self.sender.send(drafts)
        return drafts

    def tick(self) -> list[EventDraft]:
        """Send the periodic monitors that are due."""
        drafts = self.engine.due()
        self.sender.send(drafts)
        return drafts

    async def run_periodic(self) -> None:
        """Periodic and PeriodicClockAligned monitors (N08), until cancelled."""
        while True:
            try:
                self.tick()
            except sqlite3.Error:
                log.exception("periodic monitors: database error; retrying")
            wait_s = self.engine.seconds_to_next()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), PERIODIC_IDLE_S if wait_s is None else min(wait_s, 60.0))
