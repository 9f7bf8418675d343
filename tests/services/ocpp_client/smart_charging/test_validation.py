"""K01 rejection rules: each bad profile gets the spec's reasonCode (part 2 appendix 5)."""

from __future__ import annotations

from typing import Any

import pytest

from services.ocpp_client.smart_charging.profiles import ProfileError, parse_profile
from services.ocpp_client.smart_charging.validation import (
    Limits,
    Rejection,
    check_profile,
    check_remote_start_profile,
)
from tests.services.ocpp_client.smart_charging.builders import T0, at, profile, profile_payload

LIMITS = Limits(evse_ids=frozenset({1, 2}), periods_per_schedule=24, max_stack_level=8,
                active_transactions={1: "TX-1"})


def reason(evse_id: int = 1, installed: tuple = (), limits: Limits = LIMITS, **kw: Any) -> str | None:
    try:
        check_profile(profile(evse_id, **kw), list(installed), limits)
    except Rejection as exc:
        return exc.reason_code
    return None


def test_tx_default_profile_on_an_existing_evse_is_accepted() -> None:
    """TC_K_01_CS, TC_K_10_CS (evse 0), TC_K_03_CS (station max on 0)."""
    assert reason(1) is None
    assert reason(0) is None
    assert reason(0, purpose="ChargingStationMaxProfile") is None


def test_profile_for_an_evse_that_does_not_exist_is_rejected_unknown_evse() -> None:
    """TC_K_14_CS: evseId = EVSE count + 1 (K01.FR.28)."""
    assert reason(3) == "UnknownEvse"


def test_station_max_profile_on_an_evse_is_rejected() -> None:
    assert reason(1, purpose="ChargingStationMaxProfile") == "InvalidProfile"


def test_tx_profile_on_all_evses_is_rejected() -> None:
    """TC_K_11_CS (K01.FR.16)."""
    assert reason(0, purpose="TxProfile", transaction_id="TX-1") == "InvalidProfile"


def test_tx_profile_without_transaction_on_the_evse_is_rejected() -> None:
    """TC_K_02_CS (K01.FR.09): no transaction on EVSE 2."""
    assert reason(2, purpose="TxProfile", transaction_id="UNKNOWN-TRANSACTION-ID") == "TxNotFound"


def test_tx_profile_for_another_transaction_is_rejected() -> None:
    """TC_K_16_CS (K01.FR.33): a transaction runs on EVSE 1, the profile names another one."""
    assert reason(1, purpose="TxProfile", transaction_id="UNKNOWN-TRANSACTION-ID") == "TxNotFound"
    assert reason(1, purpose="TxProfile", transaction_id="TX-1", kind="Relative") is None  # TC_K_60_CS


def test_tx_profile_without_transaction_id_is_rejected() -> None:
    assert reason(1, purpose="TxProfile") == "TxNotFound"


def test_transaction_id_on_a_default_profile_is_rejected() -> None:
    assert reason(1, transaction_id="TX-1") == "InvalidProfile"


def test_unsupported_rate_unit_is_rejected() -> None:
    """TC_K_12_CS (K01.FR.26): a station configured for A only."""
    only_amps = Limits(evse_ids=frozenset({1}), rate_units=("A",))
    assert reason(1, limits=only_amps, unit="W", periods=[(0, 6000)]) == "UnsupportedRateUnit"


def test_stack_level_above_profile_stack_level_is_rejected() -> None:
    assert reason(1, stack_level=9) == "InvalidStackLevel"
    assert reason(1, stack_level=8) is None


def test_same_stack_level_and_purpose_with_overlapping_validity_is_a_duplicate() -> None:
    """K01.FR.06; a different EVSE, purpose, level or a disjoint validity is not a duplicate."""
    installed = (profile(1, profile_id=1, valid_from=at(0), valid_to=at(3600)),)
    assert reason(1, installed, profile_id=2, valid_from=at(1800)) == "DuplicateProfile"
    assert reason(1, installed, profile_id=2, valid_from=at(3600)) is None
    assert reason(2, installed, profile_id=2) is None
    assert reason(1, installed, profile_id=2, stack_level=1) is None
    assert reason(0, installed, profile_id=2, purpose="ChargingStationMaxProfile") is None


def test_same_id_replaces_instead_of_duplicating() -> None:
    """TC_K_04_CS (K01.FR.05)."""
    installed = (profile(1, profile_id=1, periods=[(0, 6.0)]),)
    assert reason(1, installed, profile_id=1, periods=[(0, 10.0)]) is None


@pytest.mark.parametrize(("periods", "code"), [
    ([(10, 6.0)], "InvalidSchedule"),  # first startPeriod not 0
    ([(0, 6.0), (100, 8.0), (100, 9.0)], "InvalidSchedule"),  # not ascending (overlapping)
    ([(0, 6.0), (200, 8.0), (100, 9.0)], "InvalidSchedule"),
    ([(0, -1.0)], "InvalidSchedule"),  # negative limit
    ([(i * 60, 6.0) for i in range(25)], "TooManyElements"),  # PeriodsPerSchedule 24
    ([(i * 60, 6.0) for i in range(1000)], "TooManyElements"),
])
def test_bad_periods_are_rejected(periods: list[tuple[int, float]], code: str) -> None:
    assert reason(1, periods=periods) == code


def test_phase_to_use_rules() -> None:
    switching = Limits(evse_ids=frozenset({1}), phase_switching=True)
    assert reason(1, limits=switching, number_phases=1, phaseToUse=2) is None
    assert reason(1, limits=switching, number_phases=3, phaseToUse=2) == "InvalidSchedule"
    assert reason(1, number_phases=1, phaseToUse=2) == "InvalidSchedule"  # no ACPhaseSwitchingSupported
    assert reason(1, number_phases=4) == "InvalidSchedule"


def test_phase_to_use_that_conflicts_with_the_station_max_is_rejected() -> None:
    switching = Limits(evse_ids=frozenset({1}), phase_switching=True)
    station = profile(0, profile_id=9, purpose="ChargingStationMaxProfile", number_phases=1, phaseToUse=1)
    assert reason(1, (station,), switching, number_phases=1, phaseToUse=3) == "InvalidSchedule"
    assert reason(1, (station,), switching, number_phases=1, phaseToUse=1) is None


def test_kind_rules() -> None:
    """TC_K_19_CS: Recurring accepted with recurrencyKind and startSchedule."""
    assert reason(1, kind="Recurring", recurrency="Daily", start=T0) is None
    assert reason(1, kind="Recurring", recurrency="Weekly", start=T0) is None
    assert reason(1, kind="Recurring", start=T0) == "InvalidProfile"
    assert reason(1, kind="Recurring", recurrency="Daily") == "InvalidSchedule"
    assert reason(1, kind="Absolute", recurrency="Daily") == "InvalidProfile"
    assert reason(1, kind="Relative", start=T0) == "InvalidSchedule"


def test_validity_rules() -> None:
    assert reason(1, valid_from=at(100), valid_to=at(50)) == "InvalidProfile"
    assert reason(1, valid_to=at(-1)) == "InvalidProfile"


def test_entries_limit_is_enforced_but_a_replacement_still_fits() -> None:
    full = Limits(evse_ids=frozenset({1}), max_entries=2)
    installed = (profile(1, profile_id=1), profile(1, profile_id=2, stack_level=1))
    assert reason(1, installed, full, profile_id=3, stack_level=2) == "TooManyElements"
    assert reason(1, installed, full, profile_id=2, stack_level=1) is None


def test_malformed_numbers_are_invalid_not_a_crash() -> None:
    payload = profile_payload()
    payload["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] = "lots"
    with pytest.raises(ProfileError) as caught:
        parse_profile(1, payload, T0)
    assert caught.value.reason_code == "InvalidSchedule"
    payload = profile_payload(valid_from=T0)
    payload["validFrom"] = "yesterday"
    with pytest.raises(ProfileError):
        parse_profile(1, payload, T0)


def test_remote_start_profile_must_be_a_tx_profile_without_transaction_id() -> None:
    """K05/F01: the transaction has no id yet."""
    def remote(**kw: Any) -> str | None:
        try:
            check_remote_start_profile(profile(1, **kw), [], LIMITS)
        except Rejection as exc:
            return exc.reason_code
        return None

    assert remote(purpose="TxProfile", kind="Relative") is None
    assert remote(purpose="TxDefaultProfile") == "InvalidProfile"
    assert remote(purpose="TxProfile", transaction_id="TX-1") == "InvalidProfile"
    assert remote(purpose="TxProfile", periods=[(0, -6.0)]) == "InvalidSchedule"
