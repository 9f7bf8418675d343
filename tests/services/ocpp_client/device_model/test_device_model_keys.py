"""The `[device_model]` config key syntax: Component[inst]@evse/connector.Variable[inst]."""

import pytest

from services.ocpp_client.device_model.keys import DeviceModelKeyError, VariableRef, parse_key


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("OCPPCommCtrlr.HeartbeatInterval", VariableRef("OCPPCommCtrlr", "HeartbeatInterval")),
        (
            "OCPPCommCtrlr.MessageAttempts[TransactionEvent]",
            VariableRef("OCPPCommCtrlr", "MessageAttempts", variable_instance="TransactionEvent"),
        ),
        ("EVSE@2.AvailabilityState", VariableRef("EVSE", "AvailabilityState", evse_id=2)),
        (
            "Connector@1/2.ConnectorType",
            VariableRef("Connector", "ConnectorType", evse_id=1, connector_id=2),
        ),
        (
            "FiscalMetering[Main]@1.SerialNumber[Meter]",
            VariableRef("FiscalMetering", "SerialNumber", "Main", 1, None, "Meter"),
        ),
        ("  ClockCtrlr.TimeSource  ", VariableRef("ClockCtrlr", "TimeSource")),
        ("X[v1.2].Y", VariableRef("X", "Y", component_instance="v1.2")),
    ],
)
def test_valid_keys_parse_into_variable_refs(key: str, expected: VariableRef) -> None:
    assert parse_key(key) == expected


def test_ref_prints_back_in_key_syntax() -> None:
    for key in ("OCPPCommCtrlr.MessageAttempts[TransactionEvent]", "Connector@1/2.ConnectorType",
                "FiscalMetering[Main]@1.SerialNumber[Meter]"):
        assert str(parse_key(key)) == key


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "empty key"),
        ("OCPPCommCtrlr", "missing '.'"),
        (".HeartbeatInterval", "component name is missing"),
        ("OCPPCommCtrlr.", "variable name is missing"),
        ("OCPPCommCtrlr.Heartbeat Interval", "variable name 'Heartbeat Interval'"),
        ("9Ctrlr.X", "component name '9Ctrlr' must start with a letter"),
        ("OCPPCommCtrlr.MessageAttempts[TransactionEvent", "'[' without a matching ']'"),
        ("OCPPCommCtrlr.MessageAttempts]x[", "']' without a matching '['"),
        ("OCPPCommCtrlr.MessageAttempts[]", "instance in '[]' is empty"),
        ("OCPPCommCtrlr.MessageAttempts[a]b", "Name[instance]"),
        ("EVSE@.AvailabilityState", "EVSE id after '@'"),
        ("EVSE@0.AvailabilityState", "EVSE id after '@'"),
        ("EVSE@one.AvailabilityState", "EVSE id after '@'"),
        ("Connector@1/.ConnectorType", "connector id after '/'"),
        ("Connector@1/x.ConnectorType", "connector id after '/'"),
        ("A" * 51 + ".X", "must start with a letter"),
    ],
)
def test_bad_key_error_names_the_key_and_the_problem(key: str, problem: str) -> None:
    with pytest.raises(DeviceModelKeyError) as caught:
        parse_key(key)
    message = str(caught.value)
    assert problem in message
    assert repr(key) in message
    assert caught.value.key == key


def test_key_error_is_a_value_error_for_the_config_loader() -> None:
    with pytest.raises(ValueError, match="device_model key 'Nope'"):
        parse_key("Nope")
