"""SetVariableMonitoring (N04) and ClearVariableMonitoring (N06): one result per entry, in request order.

Checks of one setMonitoringData entry, first failing one wins (nothing is stored for it):
- severity outside 0-9 (or a value that is not a finite number) → Rejected ValueOutOfRange;
- `id` given: no such monitor → Rejected NotFound; a hard-wired one, or one on another variable → Rejected;
- the variable is unknown: UnknownComponent when no component has that name, or when the variable is declared
  on other instances of the component (EVSE 99 AvailabilityState; reasonCode UnknownEvse); Rejected when the
  component exists and the variable exists only on other components (ChargingStation.Power, N04.FR.16,
  TC_N_39); else UnknownVariable (N04.FR.03/04, TC_N_11/37);
- the variable does not support monitoring → Rejected UnsupportedParam;
- UpperThreshold/LowerThreshold on a non-numeric variable → UnsupportedMonitorType (N04.FR.05);
- a threshold outside the variable's minLimit..maxLimit → Rejected ValueOutOfRange (N04.FR.06, errata
  2025-01); a negative Delta → Rejected ValueOutOfRange (N04.FR.14); a Periodic/PeriodicClockAligned
  interval below 1 s → Rejected ValuePositiveOnly;
- another active monitor on the variable with the same type and severity (also earlier in this request)
  → Duplicate (N04.FR.10);
- more custom monitors than MAX_CUSTOM_MONITORS → Rejected TooManyElements.
The accepted entries are stored in one transaction: new ones get an id (N04.FR.08), an entry with the id
of an existing monitor replaces its settings (N04.FR.12; a preconfigured one is overruled, N04.FR.15).
More entries than MonitoringCtrlr.ItemsPerMessage[...] → CALLERROR OccurrenceConstraintViolation, a larger
request than BytesPerMessage[...] → CALLERROR FormatViolation; nothing changes then.
Clear: unknown id → NotFound (N06.FR.02), hard-wired → Rejected (N06.FR.03), else Accepted (N06.FR.01).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

from services.ocpp_client.link.rpc_errors import CallError
from services.ocpp_client.monitoring.monitors import Declares, Describe, HasComponent
from services.ocpp_client.monitoring.store import HARD_WIRED, MonitoringStore, Settings, Target
from services.ocpp_client.monitoring.variables import SEVERITY_MAX, SEVERITY_MIN

log = logging.getLogger("reon.ocpp.monitoring")

MAX_CUSTOM_MONITORS = 1000
THRESHOLDS = frozenset({"UpperThreshold", "LowerThreshold"})
PERIODIC = frozenset({"Periodic", "PeriodicClockAligned"})

Payload = dict[str, Any]
Limit = Callable[[str, str], int]  # (variable, instance) of MonitoringCtrlr → value


def check_message_limits(request: Payload, items: int, instance: str, limit: Limit) -> None:
    """CALLERROR when the request breaks MonitoringCtrlr.ItemsPerMessage/BytesPerMessage[instance]."""
    max_items = limit("ItemsPerMessage", instance)
    if items > max_items:
        log.warning("%s with %d entries refused (ItemsPerMessage %d)", instance, items, max_items)
        raise CallError("OccurrenceConstraintViolation",
                        f"{items} entries, MonitoringCtrlr.ItemsPerMessage[{instance}] is {max_items}")
    size = len(json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode())
    max_bytes = limit("BytesPerMessage", instance)
    if size > max_bytes:
        log.warning("%s of %d bytes refused (BytesPerMessage %d)", instance, size, max_bytes)
        raise CallError("FormatViolation", f"{size} bytes, MonitoringCtrlr.BytesPerMessage[{instance}] is {max_bytes}")


class MonitorSetter:
    def __init__(self, store: MonitoringStore, describe: Describe, has_component: HasComponent,
                 declares: Declares, limit: Limit, *, max_custom: int = MAX_CUSTOM_MONITORS) -> None:
        self._store = store
        self._describe = describe
        self._has_component = has_component
        self._declares = declares
        self._limit = limit
        self._max_custom = max_custom

    def set_variable_monitoring(self, request: Payload) -> Payload:
        entries = request["setMonitoringData"]
        check_message_limits(request, len(entries), "SetVariableMonitoring", self._limit)
        results: list[Payload] = []
        adds: list[tuple[Target, Settings]] = []
        replaces: list[tuple[int, Settings]] = []
        taken: set[tuple[Any, ...]] = set()  # (target key, type, severity) accepted in this request
        for entry in entries:
            target = Target.from_ocpp(entry["component"], entry["variable"])
            settings = Settings(entry["type"], float(entry["value"]), int(entry["severity"]),
                                bool(entry.get("transaction", False)))
            status, reason, replace_id = self._check(entry.get("id"), target, settings, taken,
                                                     len(adds))
            result: Payload = {"status": status, "type": settings.type, "severity": settings.severity,
                               "component": entry["component"], "variable": entry["variable"]}
            if reason:
                result["statusInfo"] = {"reasonCode": reason}
            if status == "Accepted":
                taken.add((target.key, settings.type, settings.severity))
                if replace_id is not None:
                    replaces.append((replace_id, settings))
                    result["id"] = replace_id
                else:
                    adds.append((target, settings))
            else:
                log.info("SetVariableMonitoring %s %s on %s: %s %s", settings.type, settings.value, _name(target),
                         status, reason or "")
            results.append(result)
        new_ids = iter(self._store.write(adds, replaces))
        for result in results:
            if result["status"] == "Accepted" and "id" not in result:
                result["id"] = next(new_ids)
        return {"setMonitoringResult": results}

    def clear_variable_monitoring(self, request: Payload) -> Payload:
        ids = request["id"]
        check_message_limits(request, len(ids), "ClearVariableMonitoring", self._limit)
        results, cleared = [], []
        for monitor_id in ids:
            monitor = self._store.get(monitor_id)
            if monitor is None or (not monitor.enabled and monitor.kind != HARD_WIRED):
                results.append({"status": "NotFound", "id": monitor_id, "statusInfo": {"reasonCode": "NotFound"}})
            elif monitor.kind == HARD_WIRED:
                results.append({"status": "Rejected", "id": monitor_id,
                                "statusInfo": {"reasonCode": "UnsupportedRequest",
                                               "additionalInfo": "a hard-wired monitor cannot be cleared"}})
            else:
                cleared.append(monitor_id)
                results.append({"status": "Accepted", "id": monitor_id})
        self._store.clear(cleared)
        return {"clearMonitoringResult": results}

    # ----- checks ----------------------------------------------------------------------------------

    def _check(self, monitor_id: int | None, target: Target, s: Settings, taken: set[tuple[Any, ...]],
               added: int) -> tuple[str, str | None, int | None]:
        if not SEVERITY_MIN <= s.severity <= SEVERITY_MAX or not math.isfinite(s.value):
            return "Rejected", "ValueOutOfRange", None
        if monitor_id is not None:
            existing = self._store.get(monitor_id)
            if existing is None:
                return "Rejected", "NotFound", None
            if existing.kind == HARD_WIRED or existing.target.key != target.key:
                return "Rejected", "InvalidValue", None
        info = self._describe(target)
        if info is None:
            if not self._declares(target.component, None):
                return "UnknownComponent", "NotFound", None
            if self._has_component(target):
                if self._declares(None, target.variable):  # e.g. ChargingStation.Power: Power is an EVSE's
                    return "Rejected", "InvalidValue", None
                return "UnknownVariable", "NotFound", None
            if not self._declares(target.component, target.variable):
                return "UnknownVariable", "NotFound", None
            unknown_evse = target.evse_id is not None and not self._has_component(
                Target("EVSE", target.variable, evse_id=target.evse_id))
            return "UnknownComponent", "UnknownEvse" if unknown_evse else "NotFound", None
        if not info.supports_monitoring:
            return "Rejected", "UnsupportedParam", None
        if s.type in THRESHOLDS:
            if not info.numeric:
                return "UnsupportedMonitorType", "UnsupportedParam", None
            if (info.min_limit is not None and s.value < info.min_limit) or (
                    info.max_limit is not None and s.value > info.max_limit):
                return "Rejected", "ValueOutOfRange", None
        elif s.type == "Delta" and s.value < 0:
            return "Rejected", "ValueOutOfRange", None
        elif s.type in PERIODIC and s.value < 1:
            return "Rejected", "ValuePositiveOnly", None
        if (target.key, s.type, s.severity) in taken or any(
                m.target.key == target.key and m.settings.type == s.type and m.settings.severity == s.severity
                and m.id != monitor_id for m in self._store.monitors()):
            return "Duplicate", "InvalidValue", None
        if monitor_id is None and self._store.custom_count() + added >= self._max_custom:
            return "Rejected", "TooManyElements", None
        return "Accepted", None, monitor_id


def _name(target: Target) -> str:
    where = f"@{target.evse_id}" if target.evse_id is not None else ""
    return f"{target.component}{where}.{target.variable}"
