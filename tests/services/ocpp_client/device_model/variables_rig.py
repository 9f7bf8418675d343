"""What the GetVariables / SetVariables and report tests share (test_device_model_get_set.py,
test_device_model_reports.py): a device model with two EVSEs and a setpoint variable, and request helpers that
check every request and every payload produced against the OCPP 2.0.1 JSON schemas of the `ocpp` package."""

import functools
import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import ocpp

from services.ocpp_client.device_model import reports
from services.ocpp_client.device_model.catalog import (
    AttributeSpec,
    ConnectorTopology,
    EvseTopology,
    VariableSpec,
)
from services.ocpp_client.device_model.model import DeviceModel

SCHEMA_DIR = Path(ocpp.__file__).parent / "v201" / "schemas"
PASSWORD = "reon-sim-password-0001"
EVSES = (
    EvseTopology(1, (ConnectorTopology(1, "sType2"),)),
    EvseTopology(2, (ConnectorTopology(1, "sType2"), ConnectorTopology(2, "cType2"))),
)
SEEDS = {
    "OCPPCommCtrlr.OfflineThreshold": 300,
    "AuthCtrlr.LocalAuthorizeOffline": True,
    "SecurityCtrlr.BasicAuthPassword": PASSWORD,
    "ChargingStation.Model": "REON",
}
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
# A variable with setpoint attributes, to exercise MinSet/MaxSet (REON's catalog has Actual only).
HEATER = VariableSpec(
    "Heater", "Temperature", "decimal",
    (AttributeSpec("Actual", "ReadOnly", "21.5"), AttributeSpec("MinSet", "ReadWrite", "5"),
     AttributeSpec("MaxSet", "ReadWrite", None)),
    unit="Celsius", min_limit=-40, max_limit=80,
)


@functools.cache
def _validator(name: str) -> jsonschema.Draft6Validator:
    return jsonschema.Draft6Validator(json.loads((SCHEMA_DIR / f"{name}.json").read_text()))


def assert_valid(name: str, payload: dict) -> dict:
    errors = [f"{list(error.path)}: {error.message}" for error in _validator(name).iter_errors(payload)]
    assert not errors, f"{name} breaks its schema: {errors}"
    return payload



def open_device_model(path: Path, extra_seeds: dict | None = None) -> DeviceModel:
    return DeviceModel(path, EVSES, {**SEEDS, **(extra_seeds or {})}, extra_variables=[HEATER], clock=lambda: NOW)


def cv(component: str, variable: str, *, evse=None, connector=None, instance=None, attribute=None) -> dict:
    entry: dict = {"component": {"name": component}, "variable": {"name": variable}}
    if evse is not None:
        entry["component"]["evse"] = {"id": evse}
        if connector is not None:
            entry["component"]["evse"]["connectorId"] = connector
    if instance is not None:
        entry["variable"]["instance"] = instance
    if attribute is not None:
        entry["attributeType"] = attribute
    return entry


def get(dm: DeviceModel, *entries: dict) -> list[dict]:
    request = assert_valid("GetVariablesRequest", {"getVariableData": list(entries)})
    return assert_valid("GetVariablesResponse", reports.get_variables(dm, request))["getVariableResult"]


def set_(dm: DeviceModel, *entries: tuple[dict, str]) -> list[dict]:
    data = [{**entry, "attributeValue": value} for entry, value in entries]
    request = assert_valid("SetVariablesRequest", {"setVariableData": data})
    return assert_valid("SetVariablesResponse", reports.set_variables(dm, request))["setVariableResult"]


def base_report(dm: DeviceModel, report_base: str, request_id: int = 7) -> reports.ReportReply:
    request = assert_valid("GetBaseReportRequest", {"requestId": request_id, "reportBase": report_base})
    return _checked(reports.get_base_report(dm, request), "GetBaseReportResponse", request_id)


def custom_report(dm: DeviceModel, request_id: int = 8, **fields) -> reports.ReportReply:
    request = assert_valid("GetReportRequest", {"requestId": request_id, **fields})
    return _checked(reports.get_report(dm, request), "GetReportResponse", request_id)


def _checked(reply: reports.ReportReply, response_schema: str, request_id: int) -> reports.ReportReply:
    assert_valid(response_schema, reply.response)
    for seq_no, page in enumerate(reply.notify_reports):
        assert_valid("NotifyReportRequest", page)
        assert (page["requestId"], page["seqNo"]) == (request_id, seq_no)
        assert page["tbc"] is (seq_no < len(reply.notify_reports) - 1)
        assert page["generatedAt"] == "2025-01-02T03:04:05.000Z"
    return reply


def report_data(reply: reports.ReportReply) -> list[dict]:
    return [entry for page in reply.notify_reports for entry in page["reportData"]]


def names(data: list[dict]) -> list[str]:
    return [f"{entry['component']['name']}.{entry['variable']['name']}" for entry in data]
