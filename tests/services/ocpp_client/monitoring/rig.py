"""A monitoring block on real parts: ocpp.db (SQLite), the real DeviceModel with the block's variables, the real
durable outbound queue (not running: tests read what it holds), an injected clock."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.ocpp_client.device_model.catalog import ConnectorTopology, EvseTopology
from services.ocpp_client.device_model.model import DeviceModel, format_datetime
from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.monitoring.block import MonitoringBlock
from services.ocpp_client.monitoring.characteristics import DeviceModelView
from services.ocpp_client.monitoring.store import Target
from services.ocpp_client.monitoring.variables import block_variables
from services.ocpp_client.store import db_path, open_store

EVSES = (EvseTopology(1, (ConnectorTopology(1, "sType2"),)), EvseTopology(2, (ConnectorTopology(1, "sType2"),)))
START = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


class Rig:
    def __init__(self, data_dir: Path, *, max_custom_monitors: int | None = None,
                 report_limits: tuple[int, int] = (100, 65000)) -> None:
        self.data_dir = data_dir
        self.moment = START
        self.online = True
        self.tx: dict[int | None, str] = {}
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.health: dict[str, Any] = {"station": {"id": "REON-T1"}, "services": {"ocpp": {"alive": True}}}
        self.report_limits = report_limits
        self.power_w: dict[int, str] = {}
        self._max_custom = max_custom_monitors
        self.open()

    def open(self) -> None:
        self.conn = open_store(self.data_dir)
        self.dm = DeviceModel(db_path(self.data_dir), EVSES, extra_variables=block_variables(EVSES),
                              clock=self.now)
        self.queue = OutboundQueue(self.conn, self._never_sent, max_attempts=lambda: 3,
                                   attempt_interval_s=lambda: 1.0, online=lambda: self.online)
        view = DeviceModelView(self.dm)
        self.block = MonitoringBlock(
            self.conn, {e.evse_id: [c.connector_id for c in e.connectors] for e in EVSES},
            describe=view.describe, has_component=view.has_component, declares=view.declares,
            current_value=view.current_value,
            queue_put=lambda action, payload, conn: self.queue.put_nowait(action, payload, kind="monitoring",
                                                                          conn=conn),
            send=self._send, now=self.now, format_time=format_datetime, online=lambda: self.online,
            setting=lambda variable, instance: self.dm.get_str("MonitoringCtrlr", variable,
                                                               **({"variable_instance": instance} if instance else {})),
            transaction_of=lambda evse_id: self.tx.get(evse_id), health=lambda: self.health,
            report_limits=lambda: self.report_limits, max_custom_monitors=self._max_custom)
        for (variable, _), reader in self.block.live_values().items():
            self.dm.set_reader("MonitoringCtrlr", variable, reader)
        for evse_id in (e.evse_id for e in EVSES):
            self.dm.set_reader("EVSE", "Power", lambda n=evse_id: self.power_w.get(n, "0"), evse_id=evse_id)
        self.handlers = self.block.handlers()

    def power(self, evse_id: int, watts: str) -> list:
        """The meter's new power on an EVSE, as the service feeds it: the device model's value, then monitors."""
        self.power_w[evse_id] = watts
        return self.block.on_value(Target("EVSE", "Power", evse_id=evse_id), watts)

    def reopen(self) -> None:
        """As after kill -9: drop every object, open the same files again."""
        self.conn.close()
        self.open()

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Answer a CSMS CALL; report pages (a Reply's after-sent work) go to `sent`."""
        reply = await self.handlers[action](payload)
        if hasattr(reply, "after_sent"):
            if reply.after_sent is not None:
                await reply.after_sent()
            return reply.payload
        return reply

    def events(self) -> list[dict[str, Any]]:
        """Every eventData queued (NotifyEvent), in order."""
        return [data for message in self.queue.pending(10_000) if message.action == "NotifyEvent"
                for data in message.payload["eventData"]]

    def notify_events(self) -> list[dict[str, Any]]:
        return [m.payload for m in self.queue.pending(10_000) if m.action == "NotifyEvent"]

    def monitor_rows(self) -> list[tuple[Any, ...]]:
        return sqlite3.connect(db_path(self.data_dir)).execute(
            "SELECT id, kind, target, type, value, severity, enabled FROM monitoring_monitors ORDER BY id").fetchall()

    def report_monitors(self) -> list[dict[str, Any]]:
        return [m for action, page in self.sent if action == "NotifyMonitoringReport" for m in page["monitor"]]

    async def _send(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.sent.append((action, payload))
        return {}

    async def _never_sent(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("the queue does not run in these tests")


def evse(n: int, connector: int | None = None) -> dict[str, Any]:
    return {"name": "EVSE", "evse": {"id": n, **({"connectorId": connector} if connector else {})}}


def monitor(component: dict[str, Any], variable: str, type_: str, value: float, severity: int,
            **extra: Any) -> dict[str, Any]:
    return {"component": component, "variable": {"name": variable}, "type": type_, "value": value,
            "severity": severity, **extra}


POWER_1 = Target("EVSE", "Power", evse_id=1)
