"""The manual's availability switch (EVSE.AvailabilityStatus) maps onto ChangeAvailability for that EVSE."""

from __future__ import annotations

import pytest

from services.ocpp_client.availability.switch import (
    SwitchValueError,
    as_change_availability,
    is_switch,
    set_variable_status,
    switch_value,
    switch_variables,
)
from services.ocpp_client.link.payload_schema import request_violation


@pytest.mark.parametrize(("value", "operational"), [("Unavailable", "Inoperative"), ("Available", "Operative"),
                                                     ("unavailable", "Inoperative")])
def test_writing_the_switch_is_change_availability_of_that_evse(value: str, operational: str) -> None:
    request = as_change_availability(2, value)
    assert request == {"operationalStatus": operational, "evse": {"id": 2}}
    assert request_violation("ChangeAvailability", request) is None


@pytest.mark.parametrize("value", ["Occupied", "Reserved", "Faulted", "", "Inoperative", "1"])
def test_a_value_other_than_available_or_unavailable_is_refused(value: str) -> None:
    with pytest.raises(SwitchValueError):
        as_change_availability(1, value)


def test_scheduled_and_accepted_answer_set_variables_accepted_rejected_stays_rejected() -> None:
    assert set_variable_status("Accepted") == "Accepted"
    assert set_variable_status("Scheduled") == "Accepted"
    assert set_variable_status("Rejected") == "Rejected"


def test_the_switch_reads_available_while_operative() -> None:
    assert switch_value(True) == "Available" and switch_value(False) == "Unavailable"


def test_only_an_evse_level_availability_status_is_the_switch() -> None:
    assert is_switch("EVSE", "AvailabilityStatus", 1)
    assert is_switch("evse", "availabilitystatus", 1)
    assert not is_switch("EVSE", "AvailabilityState", 1)  # the standardized one stays ReadOnly
    assert not is_switch("EVSE", "AvailabilityStatus", None)
    assert not is_switch("EVSE", "AvailabilityStatus", 1, 1)
    assert not is_switch("Connector", "AvailabilityStatus", 1)


def test_each_evse_gets_a_read_write_switch() -> None:
    specs = switch_variables([2, 1])
    assert [(s.component, s.variable, s.evse_id) for s in specs] == [("EVSE", "AvailabilityStatus", 1),
                                                                     ("EVSE", "AvailabilityStatus", 2)]
    assert all(s.attribute("Actual").mutability == "ReadWrite" for s in specs)  # type: ignore[union-attr]
    assert specs[0].values_list == ("Available", "Unavailable")
