"""NotifyEvent (G05, N07): hardware problems and monitor drafts → numbered events in the durable queue.

`ProblemTracker.update(source, evse_id, codes)` takes the active problem codes of one source (problems.py
turns an evse_io / meter / modem state into codes) and reports every problem variable whose set of active
codes changed: actualValue "true" with trigger Delta while any code is active, and "false" with
cleared=true when the last one goes (TC_G_20); techCode names the codes. The reported codes are stored with
the event in one transaction, so a problem that cleared while REON was down is reported cleared at the
next update, and none is reported twice. Severity above the monitoring level: stored, not sent (N05).

`EventSender.send(drafts)` numbers the drafts (eventIds unique across restarts) and puts one
NotifyEventRequest through `queue_put` (the durable queue: nothing is lost while offline or across a
restart). While offline, drafts with a severity above MonitoringCtrlr.OfflineQueuingSeverity are dropped
and counted (N07.FR.04); the others are queued.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from services.ocpp_client.monitoring.monitors import EventDraft, TransactionOf
from services.ocpp_client.monitoring.problems import HARD_WIRED_MONITOR, Problem, Topology, problem, problem_targets
from services.ocpp_client.monitoring.store import HARD_WIRED, MonitoringStore, Target
from services.ocpp_client.store import atomic

log = logging.getLogger("reon.ocpp.monitoring")

QueuePut = Callable[[str, dict[str, Any], sqlite3.Connection], object]


class EventSender:
    def __init__(self, store: MonitoringStore, queue_put: QueuePut, *, online: Callable[[], bool],
                 offline_queuing_severity: Callable[[], int], now: Callable[[], datetime],
                 format_time: Callable[[datetime], str]) -> None:
        self._store = store
        self._queue_put = queue_put
        self._online = online
        self._offline_severity = offline_queuing_severity
        self._now = now
        self._format_time = format_time

    def send(self, drafts: Iterable[EventDraft]) -> int:
        """Queue one NotifyEvent with these drafts (offline: the severe enough ones); how many were queued.
        Joins the caller's open transaction on the store's connection."""
        drafts = list(drafts)
        if drafts and not self._online():
            limit = self._offline_severity()
            kept = [d for d in drafts if d.severity <= limit]
            dropped = len(drafts) - len(kept)
            if dropped:
                total = self._store.count_dropped_offline(dropped)
                log.info("offline: %d event(s) above OfflineQueuingSeverity %d dropped (%d since install)",
                         dropped, limit, total)
            drafts = kept
        if not drafts:
            return 0
        conn = self._store.conn
        with atomic(conn):
            ids = self._store.next_event_ids(len(drafts))
            payload = {"generatedAt": self._format_time(self._now()), "seqNo": 0,
                       "eventData": [d.to_event_data(i, self._format_time) for i, d in zip(ids, drafts, strict=True)]}
            self._queue_put("NotifyEvent", payload, conn)
        return len(drafts)


class ProblemTracker:
    def __init__(self, store: MonitoringStore, sender: EventSender, topology: Topology, now: Callable[[], datetime],
                 transaction_of: TransactionOf = lambda evse_id: None) -> None:
        self._store = store
        self._sender = sender
        self._topology = topology
        self._now = now
        self._transaction_of = transaction_of

    def update(self, source: str, evse_id: int | None, codes: Iterable[str]) -> list[EventDraft]:
        """Report the changes of one source's problems (evse_id None: the station, e.g. the modem)."""
        rows = [problem(source, code) for code in codes]
        by_target: dict[Target, list[Problem]] = {t: [] for t in self._known_targets(source, evse_id)}
        for row in rows:
            for target in self._targets(row, evse_id):
                by_target.setdefault(target, []).append(row)
        if all(self._store.problem_codes(self._key(source, t)) == {p.code for p in active}
               for t, active in by_target.items()):
            return []  # the usual case (evse_io republishes every 30 s): no write transaction at all
        drafts: list[EventDraft] = []
        with atomic(self._store.conn):
            for target, active in by_target.items():
                draft = self._change(source, target, active)
                if draft is not None:
                    drafts.append(draft)
            level = self._store.level()
            self._sender.send(d for d in drafts if d.severity <= level)
        return drafts

    def is_active(self, target: Target) -> bool:
        """Whether a problem is reported on that variable now (its device-model value)."""
        suffix = f":{target.to_text()}"
        return any(key.endswith(suffix) for key in self._store.all_problems())

    def active(self) -> dict[str, list[str]]:
        """Every problem currently reported, by variable (for the REWATT Problems message)."""
        return self._store.all_problems()

    def _change(self, source: str, target: Target, active: list[Problem]) -> EventDraft | None:
        key = self._key(source, target)
        before = self._store.problem_codes(key)
        now_codes = frozenset(p.code for p in active)
        if now_codes == before:
            return None
        self._store.set_problem_codes(key, now_codes)
        rows = active or [problem(source, code) for code in sorted(before)]
        severity = min(p.severity for p in rows)
        monitored = any(p.notification == HARD_WIRED_MONITOR for p in rows)
        hard_wired = self._hard_wired_monitor(target) if monitored else None
        tech_code = ",".join(sorted(p.tech_code for p in rows))
        log.log(logging.WARNING if active else logging.INFO, "%s%s.%s %s (%s)", target.component,
                f"@{target.evse_id}" if target.evse_id is not None else "", target.variable,
                "problem" if active else "cleared", tech_code)
        return EventDraft(target, "Delta", "true" if active else "false", severity,
                          "HardWiredMonitor" if hard_wired is not None else "HardWiredNotification", self._now(),
                          monitor_id=hard_wired, cleared=not active, tech_code=tech_code,
                          transaction_id=self._transaction_of(target.evse_id))

    @staticmethod
    def _key(source: str, target: Target) -> str:
        return f"{source}:{target.to_text()}"

    def _targets(self, row: Problem, evse_id: int | None) -> list[Target]:
        if row.scope == "station" or evse_id is None:
            return [Target(row.component, row.variable)]
        topology = {evse_id: self._topology.get(evse_id, ())}
        return problem_targets(row.component, row.variable, row.scope, topology)

    def _known_targets(self, source: str, evse_id: int | None) -> list[Target]:
        """Targets with codes stored for this source and EVSE: those whose problems may have cleared."""
        prefix = f"{source}:"
        targets = []
        for key in self._store.all_problems():
            if key.startswith(prefix):
                target = Target.from_text(key[len(prefix):])
                if evse_id is None or target.evse_id == evse_id:
                    targets.append(target)
        return targets

    def _hard_wired_monitor(self, target: Target) -> int | None:
        return next((m.id for m in self._store.monitors(include_inactive=True)
                     if m.kind == HARD_WIRED and m.target.key == target.key), None)
