"""The compiled validators (jsonschema-rs) agree with the reference (jsonschema, as the `ocpp` package checks):
a payload is accepted only when the reference accepts it, and a refused one gets the reference's CALLERROR
code; schemas are compiled on first use only."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ocpp_client.link import payload_schema
from services.ocpp_client.link.payload_schema import CALL, CALL_RESULT, request_violation, response_violation

NOW = "2024-05-01T12:00:00.000Z"
scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12)
           | st.sampled_from(["Wh", "Energy.Active.Import.Register", "L1", NOW, "Accepted", "Started", "x" * 60]))
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=3)
                           | st.dictionaries(st.text(max_size=10), kids, max_size=3), max_leaves=10)
sampled = st.fixed_dictionaries({"value": json_values}, optional={
    "measurand": json_values, "phase": json_values, "context": json_values,
    "unitOfMeasure": st.fixed_dictionaries({}, optional={"unit": json_values, "multiplier": json_values})})
meter_values = st.fixed_dictionaries({}, optional={
    "evseId": json_values | st.integers(0, 3),
    "meterValue": st.lists(st.fixed_dictionaries({}, optional={"timestamp": json_values | st.just(NOW),
                                                                  "sampledValue": st.lists(sampled, max_size=3)}),
                           max_size=2)})
payloads = st.one_of(
    st.tuples(st.just((CALL, "MeterValues")), meter_values),
    st.tuples(st.just((CALL_RESULT, "Heartbeat")),
              st.fixed_dictionaries({}, optional={"currentTime": json_values | st.just(NOW)})),
    st.tuples(st.sampled_from([(CALL, "Heartbeat"), (CALL_RESULT, "MeterValues"), (CALL, "StatusNotification"),
                               (CALL_RESULT, "BootNotification"), (CALL, "TransactionEvent")]), json_values),
)


def reference(type_id: int, action: str, payload: Any) -> Any:
    return payload_schema._reference_violation(type_id, action, payload)


@settings(max_examples=400, deadline=None)
@given(case=payloads)
def test_compiled_check_accepts_exactly_what_the_reference_accepts_and_names_the_same_code(case) -> None:
    (type_id, action), payload = case
    payload = json.loads(json.dumps(payload))  # as it comes off the wire (NaN and Infinity included)
    ours = request_violation(action, payload) if type_id == CALL else response_violation(action, payload)
    theirs = reference(type_id, action, payload)
    assert (ours is None) == (theirs is None)
    if ours is not None:
        assert (ours.code, ours.details) == (theirs.code, theirs.details)


def test_each_schema_is_compiled_on_first_use_and_kept() -> None:
    saved = dict(payload_schema._compiled)  # the cache is per process: other tests filled it
    payload_schema._compiled.clear()
    try:
        assert request_violation("DataTransfer", {"vendorId": "REWATT"}) is None
        first = payload_schema._compiled["DataTransferRequest"]
        assert request_violation("DataTransfer", {"vendorId": "REWATT", "messageId": "m"}) is None
        assert payload_schema._compiled["DataTransferRequest"] is first
        assert set(payload_schema._compiled) == {"DataTransferRequest"}  # not every schema at once
    finally:
        payload_schema._compiled.update(saved)


def test_violations_keep_their_callerror_codes() -> None:
    assert request_violation("Heartbeat", {"x": 1}).code == "FormatViolation"
    assert response_violation("Heartbeat", {}).code == "OccurrenceConstraintViolation"
    assert response_violation("Heartbeat", {"currentTime": 5}).code == "TypeConstraintViolation"
    bad_measurand = {"evseId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [
        {"value": 1.0, "measurand": "Not.A.Measurand"}]}]}
    assert request_violation("MeterValues", bad_measurand).code == "PropertyConstraintViolation"
    assert request_violation("NoSuchAction", {}).code == "NotImplemented"
