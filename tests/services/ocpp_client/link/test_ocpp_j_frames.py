"""OCPP-J framing, payload schema codes and log redaction, without a socket."""

from __future__ import annotations

import json

import pytest

from services.ocpp_client.link import message_log as ml
from services.ocpp_client.link.ocpp_j import (
    Call,
    CallErrorFrame,
    CallResult,
    FrameError,
    encode_call,
    encode_error,
    parse_frame,
)
from services.ocpp_client.link.payload_schema import KNOWN_ACTIONS, request_violation, response_violation


def test_frames_round_trip_in_compact_json() -> None:
    text = encode_call("id-1", "Heartbeat", {})
    assert text == '[2,"id-1","Heartbeat",{}]'
    assert parse_frame(text) == Call("id-1", "Heartbeat", {})
    assert parse_frame('[3,"id-1",{"a":1}]') == CallResult("id-1", {"a": 1})


def test_callerror_is_read_leniently() -> None:
    assert parse_frame('[4,"id",  "GenericError"]') == CallErrorFrame("id", "GenericError", "", {})
    assert parse_frame('[4,"id","X",5,"no"]') == CallErrorFrame("id", "X", "", {})


@pytest.mark.parametrize("text", ['[3,"id",[]]', '[4,"id"]', '[3,5,{}]'])
def test_broken_replies_are_not_answered(text: str) -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(text)
    assert caught.value.reply is False


def test_callerror_never_carries_invalid_json() -> None:
    text = encode_error("id", "InternalError", "x" * 1000, {"bad": object()})
    frame = json.loads(text)
    assert frame == [4, "id", "InternalError", "x" * 255, {}]


def test_known_actions_are_the_201_messages() -> None:
    assert {"BootNotification", "Reset", "SetVariables", "TransactionEvent"} <= KNOWN_ACTIONS
    assert "RequestStartTransaction" in KNOWN_ACTIONS and len(KNOWN_ACTIONS) == 64


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
        ({"reason": 1, "chargingStation": {"model": "REON", "vendorName": "REWATT"}}, "TypeConstraintViolation"),
        ({"reason": "Boom", "chargingStation": {"model": "REON", "vendorName": "REWATT"}},
         "PropertyConstraintViolation"),
        ({"reason": "PowerUp", "chargingStation": {"model": "R" * 21, "vendorName": "REWATT"}},
         "PropertyConstraintViolation"),
        ({"reason": "PowerUp", "chargingStation": {"model": "REON", "vendorName": "REWATT"}, "x": 1},
         "FormatViolation"),
    ],
)
def test_schema_violations_map_to_ocpp_j_codes(payload: dict, code: str) -> None:
    violation = request_violation("BootNotification", payload)
    assert violation is not None and violation.code == code
    assert violation.details["path"].startswith("/")


def test_valid_payloads_have_no_violation() -> None:
    boot = {"reason": "PowerUp", "chargingStation": {"model": "REON", "vendorName": "REWATT"}}
    assert request_violation("BootNotification", boot) is None
    assert response_violation("Heartbeat", {"currentTime": "2025-01-01T00:00:00Z"}) is None


def test_write_only_values_and_network_secrets_are_redacted() -> None:
    set_variables = {"setVariableData": [
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
         "attributeValue": "very-secret-password"},
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
         "attributeValue": "300"},
    ]}
    line = ml.call_line(ml.IN, "SetVariables", "m1", set_variables, ml.DEFAULT_SECRET_VARIABLES)
    assert "very-secret-password" not in line and '"attributeValue":"300"' in line
    profile = {"configurationSlot": 1, "connectionData": {
        "apn": {"apn": "internet", "apnPassword": "apn-secret", "simPin": 1234, "apnAuthentication": "AUTO"},
        "vpn": {"server": "v", "user": "u", "password": "vpn-secret", "key": "psk-secret", "type": "IPSec"}}}
    text = ml.compact(profile)
    for secret in ("apn-secret", "1234", "vpn-secret", "psk-secret"):
        assert secret not in text
    assert '"apn":"internet"' in text


def test_long_payloads_are_cut_in_the_log() -> None:
    text = ml.compact({"data": "x" * 10_000})
    assert len(text) < ml.PAYLOAD_LOG_MAX_CHARS + 40 and text.endswith("chars)")
