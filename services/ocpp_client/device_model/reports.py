"""Device-model requests of the CSMS: request payload → response payload, plus NotifyReport pages.

- GetVariables (B06) and SetVariables (B05): one result per entry, in request order. More entries than
  DeviceDataCtrlr.ItemsPerMessage[...] → CALLERROR OccurrenceConstraintViolation, a request larger than
  BytesPerMessage[...] → CALLERROR FormatViolation (B06.FR.16/17; the same rule for SetVariables/GetReport).
- GetBaseReport (B07) and GetReport (B08): the response plus the NotifyReportRequest payloads to send
  after it, paged by ItemsPerMessage[GetReport] and BytesPerMessage[GetReport], seqNo from 0, tbc on all
  but the last page. Values of WriteOnly variables are never reported (B07.FR.03/B08.FR.03, errata 2025-01).
- GetReport componentCriteria (B08.FR.07-10): a component qualifies when it meets *any* listed criterion:
  its variable of that name (Active, Available, Enabled, Problem) has Actual value "true"; a component
  without an Active/Available/Enabled variable counts as meeting that criterion, never Problem. All
  variables of a qualifying component are reported, narrowed by componentVariable when given.

Payloads are assumed schema-valid (the RPC layer checks them first). No I/O in here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.ocpp_client.device_model.catalog import VariableSpec
from services.ocpp_client.device_model.keys import VariableRef, component_json, variable_json
from services.ocpp_client.device_model.model import AttributeOutcome, DeviceModel, format_datetime
from services.ocpp_client.device_model.paging import split_pages
from services.ocpp_client.link.rpc_errors import CallError

COMPONENT_CRITERIA = ("Active", "Available", "Enabled", "Problem")
_CRITERIA_FOLDED = frozenset(criterion.casefold() for criterion in COMPONENT_CRITERIA)
SUMMARY_PROBLEM_VARIABLES = ("problem", "tripped", "overload", "fallback")

Payload = dict[str, Any]
log = logging.getLogger("reon.ocpp.device_model")


@dataclass(frozen=True)
class ReportReply:
    """A GetBaseReport/GetReport answer: the response, then the NotifyReportRequests to send in order."""

    response: Payload
    notify_reports: list[Payload] = field(default_factory=list)


def get_variables(dm: DeviceModel, request: Payload, *, message_bytes: int | None = None) -> Payload:
    """GetVariablesRequest → GetVariablesResponse (B06)."""
    entries = request["getVariableData"]
    _check_limits(dm, request, len(entries), "GetVariables", message_bytes)
    results = []
    for data in entries:
        attribute = data.get("attributeType", "Actual")
        ref = _ref(data["component"], data["variable"])
        spec = dm.lookup(ref)
        outcome = AttributeOutcome(_unknown_status(dm, ref)) if spec is None else dm.read_for_csms(spec, attribute)
        result: Payload = {"attributeStatus": outcome.status, "attributeType": attribute}
        if outcome.status == "Accepted":
            result["attributeValue"] = outcome.value or ""
        result.update(_status_info(outcome, "attributeStatusInfo"))
        result["component"] = data["component"]
        result["variable"] = data["variable"]
        results.append(result)
    return {"getVariableResult": results}


def set_variables(dm: DeviceModel, request: Payload, *, message_bytes: int | None = None) -> Payload:
    """SetVariablesRequest → SetVariablesResponse (B05); accepted values are committed before it returns."""
    entries = request["setVariableData"]
    _check_limits(dm, request, len(entries), "SetVariables", message_bytes)
    outcomes: list[AttributeOutcome | None] = []
    writes: list[tuple[VariableSpec, str, str]] = []
    for data in entries:
        ref = _ref(data["component"], data["variable"])
        spec = dm.lookup(ref)
        if spec is None:
            outcomes.append(AttributeOutcome(_unknown_status(dm, ref)))
        else:
            outcomes.append(None)
            writes.append((spec, data.get("attributeType", "Actual"), data["attributeValue"]))
    written = iter(dm.write_from_csms(writes))
    results = []
    for data, outcome in zip(entries, outcomes, strict=True):
        final = outcome if outcome is not None else next(written)
        attribute = data.get("attributeType", "Actual")
        result: Payload = {"attributeStatus": final.status, "attributeType": attribute}
        result.update(_status_info(final, "attributeStatusInfo"))
        result["component"] = data["component"]
        result["variable"] = data["variable"]
        results.append(result)
    return {"setVariableResult": results}


def get_base_report(dm: DeviceModel, request: Payload) -> ReportReply:
    """GetBaseReportRequest → GetBaseReportResponse and its NotifyReport pages (B07)."""
    report_base = request["reportBase"]
    if report_base == "FullInventory":
        data = [_report_data(dm, spec) for spec in dm.catalog]
    elif report_base == "ConfigurationInventory":
        data = [_report_data(dm, spec, writable_only=True) for spec in dm.catalog]
    elif report_base == "SummaryInventory":
        data = [_report_data(dm, spec) for spec in dm.catalog if _in_summary(dm, spec)]
    else:
        return ReportReply({"status": "NotSupported", "statusInfo": {"reasonCode": "UnsupportedParam"}})
    return _reply(dm, request["requestId"], [entry for entry in data if entry is not None])


def get_report(dm: DeviceModel, request: Payload, *, message_bytes: int | None = None) -> ReportReply:
    """GetReportRequest → GetReportResponse and its NotifyReport pages (B08)."""
    component_variables = request.get("componentVariable") or []
    _check_limits(dm, request, len(component_variables), "GetReport", message_bytes)
    criteria = request.get("componentCriteria") or []
    unsupported = [criterion for criterion in criteria if criterion not in COMPONENT_CRITERIA]
    if unsupported:
        info = {"reasonCode": "UnsupportedParam", "additionalInfo": f"componentCriteria {unsupported}"[:512]}
        return ReportReply({"status": "NotSupported", "statusInfo": info})
    qualified = _components_meeting(dm, criteria) if criteria else None
    data = []
    for spec in dm.catalog:
        if qualified is not None and spec.ident[:4] not in qualified:
            continue
        if component_variables and not any(_selects(cv, spec) for cv in component_variables):
            continue
        entry = _report_data(dm, spec)
        if entry is not None:
            data.append(entry)
    return _reply(dm, request["requestId"], data)


def notify_report_pages(dm: DeviceModel, request_id: int, report_data: Sequence[Payload]) -> list[Payload]:
    """Split report data into NotifyReportRequest payloads within the GetReport message limits, exactly
    (paging.py); an entry too large for BytesPerMessage alone is left out and logged."""
    max_items = dm.get_int("DeviceDataCtrlr", "ItemsPerMessage", variable_instance="GetReport")
    max_bytes = dm.get_int("DeviceDataCtrlr", "BytesPerMessage", variable_instance="GetReport")
    generated_at = format_datetime(dm.now())

    def payload(seq_no: int, tbc: bool, entries: list[Payload]) -> Payload:
        return {"requestId": request_id, "generatedAt": generated_at, "seqNo": seq_no, "tbc": tbc,
                "reportData": entries}

    pages = split_pages("NotifyReport", report_data, payload, max_items=max_items, max_bytes=max_bytes)
    if pages.left_out:
        log.warning("report %d: %d entries larger than BytesPerMessage[GetReport] %d left out", request_id,
                    pages.left_out, max_bytes)
    return pages.payloads


# ----- helpers ----------------------------------------------------------------------------------------


def _reply(dm: DeviceModel, request_id: int, data: list[Payload]) -> ReportReply:
    if not data:
        return ReportReply({"status": "EmptyResultSet", "statusInfo": {"reasonCode": "NotFound"}})
    return ReportReply({"status": "Accepted"}, notify_report_pages(dm, request_id, data))


def _check_limits(dm: DeviceModel, request: Payload, items: int, instance: str, message_bytes: int | None
                  ) -> None:
    max_items = dm.get_int("DeviceDataCtrlr", "ItemsPerMessage", variable_instance=instance)
    if items > max_items:
        raise CallError("OccurrenceConstraintViolation",
                        f"{items} entries, DeviceDataCtrlr.ItemsPerMessage[{instance}] is {max_items}")
    size = message_bytes if message_bytes is not None else _json_size(request)
    max_bytes = dm.get_int("DeviceDataCtrlr", "BytesPerMessage", variable_instance=instance)
    if size > max_bytes:
        raise CallError("FormatViolation",
                        f"{size} bytes, DeviceDataCtrlr.BytesPerMessage[{instance}] is {max_bytes}")


def _json_size(payload: Any) -> int:
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())


def _ref(component: Payload, variable: Payload) -> VariableRef:
    evse = component.get("evse") or {}
    return VariableRef(component["name"], variable["name"], component.get("instance"), evse.get("id"),
                       evse.get("connectorId"), variable.get("instance"))


def _unknown_status(dm: DeviceModel, ref: VariableRef) -> str:
    return "UnknownVariable" if dm.has_component(ref) else "UnknownComponent"


def _status_info(outcome: AttributeOutcome, key: str) -> Payload:
    if outcome.reason_code is None:
        return {}
    info: Payload = {"reasonCode": outcome.reason_code}
    if outcome.detail:
        info["additionalInfo"] = outcome.detail[:512]
    return {key: info}


def _report_data(dm: DeviceModel, spec: VariableSpec, *, writable_only: bool = False) -> Payload | None:
    """One ReportDataType entry; None when no attribute qualifies (ReadOnly under writable_only)."""
    attributes = []
    for declared in spec.attributes:
        if writable_only and declared.mutability == "ReadOnly":
            continue
        attribute: Payload = {"type": declared.type}
        if declared.mutability != "WriteOnly":
            attribute["value"] = dm.clip_for_report(dm.value(spec, declared.type) or "")
        attribute.update(mutability=declared.mutability, persistent=spec.persistent, constant=spec.constant)
        attributes.append(attribute)
    if not attributes:
        return None
    return {"component": component_json(spec), "variable": variable_json(spec), "variableAttribute": attributes,
            "variableCharacteristics": _characteristics(spec)}


def _characteristics(spec: VariableSpec) -> Payload:
    characteristics: Payload = {"dataType": spec.data_type, "supportsMonitoring": spec.supports_monitoring}
    if spec.unit is not None:
        characteristics["unit"] = spec.unit
    if spec.min_limit is not None:
        characteristics["minLimit"] = _number(spec.min_limit)
    if spec.max_limit is not None:
        characteristics["maxLimit"] = _number(spec.max_limit)
    if spec.values_list is not None:
        characteristics["valuesList"] = ",".join(spec.values_list)
    return characteristics


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _in_summary(dm: DeviceModel, spec: VariableSpec) -> bool:
    """SummaryInventory: availability of station/EVSEs/connectors and any raised problem flags."""
    name = spec.variable.casefold()
    if name == "availabilitystate":
        return True
    return name in SUMMARY_PROBLEM_VARIABLES and dm.value(spec) == "true"


def _components_meeting(dm: DeviceModel, criteria: Iterable[str]) -> set[tuple]:
    """Components meeting at least one criterion (see the module docstring)."""
    flags: dict[tuple, dict[str, bool]] = {}
    for spec in dm.catalog:
        component_flags = flags.setdefault(spec.ident[:4], {})
        name = spec.variable.casefold()
        if name in _CRITERIA_FOLDED and spec.variable_instance is None and spec.attribute("Actual"):
            component_flags[name] = dm.value(spec) == "true"
    wanted = [criterion.casefold() for criterion in criteria]
    return {component for component, component_flags in flags.items()
            if any(component_flags.get(name, name != "problem") for name in wanted)}


def _selects(component_variable: Payload, spec: VariableSpec) -> bool:
    """Whether a GetReport componentVariable entry names `spec`; left-out parts match all (B08)."""
    component = component_variable["component"]
    if component["name"].casefold() != spec.component.casefold():
        return False
    if not _same(component.get("instance"), spec.component_instance):
        return False
    evse = component.get("evse")
    if evse is not None:
        if evse.get("id") != spec.evse_id:
            return False
        if "connectorId" in evse and evse["connectorId"] != spec.connector_id:
            return False
    variable = component_variable.get("variable")
    if variable is None:
        return True
    return variable["name"].casefold() == spec.variable.casefold() and _same(
        variable.get("instance"), spec.variable_instance)


def _same(requested: str | None, declared: str | None) -> bool:
    """A requested instance must match; no requested instance matches every instance."""
    return requested is None or (declared is not None and requested.casefold() == declared.casefold())
