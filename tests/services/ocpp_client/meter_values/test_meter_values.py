"""meter_values.py: samples → MeterValue per the SampledDataCtrlr / AlignedDataCtrlr settings, and schedules."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ocpp_client.device_model.catalog import ConnectorTopology, EvseTopology
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.meter_values.sampling import (
    CURRENT,
    CURRENT_OFFERED,
    ENERGY,
    FREQUENCY,
    POWER,
    SAMPLE_CLOCK,
    TRANSACTION_BEGIN,
    VOLTAGE,
    SamplingSettings,
    is_fresh,
    meter_value,
    meter_values_request,
    next_aligned_at,
    next_periodic_at,
    parse_utc,
    phases_in_use,
    sampled_values,
    utc_text,
)
from tests.services.ocpp_client.tx_fixtures import assert_valid_request

MIDNIGHT = 1_699_920_000.0  # 2023-11-14T00:00:00Z
FULL = {
    "evse": 1,
    "energy_import_wh": 12345.5,
    "energy_import_wh_per_phase": [4000.0, 4100.0, 4245.5],
    "power_w": 11000.0,
    "power_w_per_phase": [3600.0, 3700.0, 3700.0],
    "current_a_per_phase": [15.9, 16.0, None],
    "voltage_v_per_phase": [230.1, 229.8, 231.0],
    "frequency_hz": 50.01,
    "read_at": MIDNIGHT + 61.25,
}


def by_measurand(values: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for value in values:
        grouped.setdefault(value["measurand"], []).append(value)
    return grouped


def test_energy_register_is_one_total_value_in_wh_at_the_outlet_with_its_context() -> None:
    values = sampled_values(FULL, [ENERGY], TRANSACTION_BEGIN)
    assert values == [{"value": 12345.5, "context": "Transaction.Begin", "measurand": ENERGY,
                       "location": "Outlet", "unitOfMeasure": {"unit": "Wh"}}]


def test_energy_per_phase_is_added_when_register_values_without_phases_is_false() -> None:
    values = sampled_values(FULL, [ENERGY], TRANSACTION_BEGIN, register_values_without_phases=False)
    assert [(v.get("phase"), v["value"]) for v in values] == [(None, 12345.5), ("L1", 4000.0), ("L2", 4100.0),
                                                               ("L3", 4245.5)]


def test_current_is_per_phase_and_a_phase_the_meter_did_not_read_is_left_out() -> None:
    values = sampled_values(FULL, [CURRENT], SAMPLE_CLOCK)
    assert [(v["phase"], v["value"], v["unitOfMeasure"]["unit"]) for v in values] == [("L1", 15.9, "A"),
                                                                                       ("L2", 16.0, "A")]


def test_voltage_is_per_phase_line_to_neutral_in_volts() -> None:
    values = sampled_values(FULL, [VOLTAGE], SAMPLE_CLOCK)
    assert [v["phase"] for v in values] == ["L1-N", "L2-N", "L3-N"]
    assert {v["unitOfMeasure"]["unit"] for v in values} == {"V"}


def test_power_total_is_preferred_and_per_phase_power_stands_in_when_the_meter_has_no_total() -> None:
    assert [v.get("phase") for v in sampled_values(FULL, [POWER], SAMPLE_CLOCK)] == [None]
    no_total = {**FULL, "power_w": None}
    assert [v["phase"] for v in sampled_values(no_total, [POWER], SAMPLE_CLOCK)] == ["L1", "L2", "L3"]


def test_frequency_in_hz_and_offered_current_only_when_the_sample_has_it() -> None:
    grouped = by_measurand(sampled_values(FULL, [FREQUENCY, CURRENT_OFFERED], SAMPLE_CLOCK))
    assert grouped[FREQUENCY][0]["unitOfMeasure"] == {"unit": "Hz"}
    assert CURRENT_OFFERED not in grouped
    with_offered = sampled_values({**FULL, "current_offered_a": 16.0}, [CURRENT_OFFERED], SAMPLE_CLOCK)
    assert with_offered[0]["value"] == 16.0


def test_single_phase_meter_with_empty_lists_gives_only_what_it_has() -> None:
    sdm120 = {"energy_import_wh": 50.0, "energy_import_wh_per_phase": [], "power_w": 0.0,
              "power_w_per_phase": [], "current_a_per_phase": [0.0], "voltage_v_per_phase": [],
              "frequency_hz": None, "read_at": MIDNIGHT}
    grouped = by_measurand(sampled_values(sdm120, [ENERGY, POWER, CURRENT, VOLTAGE, FREQUENCY], SAMPLE_CLOCK))
    assert sorted(grouped) == [CURRENT, ENERGY, POWER]
    assert grouped[CURRENT][0]["phase"] == "L1"


def test_meter_value_carries_the_time_the_meter_read_it() -> None:
    value = meter_value(FULL, [ENERGY, POWER], SAMPLE_CLOCK)
    assert value is not None
    assert value["timestamp"] == "2023-11-14T00:01:01.250Z"
    assert parse_utc(value["timestamp"]) == FULL["read_at"]


def test_nothing_read_gives_no_meter_value_rather_than_an_empty_one() -> None:
    assert meter_value(None, [ENERGY], SAMPLE_CLOCK) is None
    assert meter_value({**FULL, "energy_import_wh": None}, [ENERGY], SAMPLE_CLOCK) is None
    assert meter_value({**FULL, "energy_import_wh": float("nan")}, [ENERGY], SAMPLE_CLOCK) is None
    assert meter_value({"energy_import_wh": 5.0}, [ENERGY], SAMPLE_CLOCK) is None  # no read_at
    assert meter_value(FULL, [], SAMPLE_CLOCK) is None


def test_unknown_or_repeated_measurands_are_ignored() -> None:
    values = sampled_values(FULL, [ENERGY, "SoC", ENERGY], SAMPLE_CLOCK)
    assert len(values) == 1


def test_meter_values_request_with_every_measurand_is_schema_valid() -> None:
    value = meter_value(FULL, [ENERGY, POWER, CURRENT, VOLTAGE, FREQUENCY], SAMPLE_CLOCK,
                        register_values_without_phases=False)
    assert value is not None
    assert_valid_request("MeterValues", meter_values_request(1, [value]))


def test_periodic_schedule_counts_from_the_anchor() -> None:
    assert next_periodic_at(100.0, 60, 100.0) == 160.0
    assert next_periodic_at(100.0, 60, 159.9) == 160.0
    assert next_periodic_at(100.0, 60, 160.0) == 220.0
    assert next_periodic_at(100.0, 60, 1000.0) == 1060.0
    assert next_periodic_at(100.0, 0, 150.0) is None


def test_clock_aligned_schedule_counts_from_utc_midnight_and_restarts_each_day() -> None:
    assert next_aligned_at(900, MIDNIGHT) == MIDNIGHT + 900
    assert next_aligned_at(900, MIDNIGHT + 899.5) == MIDNIGHT + 900
    assert next_aligned_at(900, MIDNIGHT + 900) == MIDNIGHT + 1800
    assert next_aligned_at(7 * 3600, MIDNIGHT + 22 * 3600) == MIDNIGHT + 86400  # not 28 h after midnight
    assert next_aligned_at(0, MIDNIGHT) is None


def test_a_sample_is_fresh_only_within_the_given_age() -> None:
    assert is_fresh(FULL, FULL["read_at"] + 10, 60)
    assert not is_fresh(FULL, FULL["read_at"] + 61, 60)
    assert not is_fresh(None, 0, 60)


def test_phases_in_use_counts_phases_with_current() -> None:
    assert phases_in_use({"current_a_per_phase": [16.0, 0.2, None]}) == 1
    assert phases_in_use({"current_a_per_phase": []}) is None
    assert phases_in_use(None) is None


def test_utc_text_round_trips() -> None:
    assert utc_text(MIDNIGHT) == "2023-11-14T00:00:00.000Z"
    assert parse_utc("2023-11-14T00:00:00.000Z") == MIDNIGHT
    with pytest.raises(ValueError):
        parse_utc("yesterday")


def test_settings_come_from_the_device_model(tmp_path: Path) -> None:
    evses = [EvseTopology(1, (ConnectorTopology(1, "sType2"),))]
    seeds = {"SampledDataCtrlr.TxUpdatedInterval": 30, "AlignedDataCtrlr.Measurands": "Voltage,Frequency",
             "SampledDataCtrlr.RegisterValuesWithoutPhases": False}
    with DeviceModel(tmp_path / "dm.db", evses, seeds) as dm:
        settings = SamplingSettings.from_device_model(dm)
    assert settings.tx_updated_interval_s == 30
    assert settings.aligned_measurands == (VOLTAGE, FREQUENCY)
    assert settings.tx_started_measurands == (ENERGY,)
    assert settings.register_values_without_phases is False


def test_settings_keep_defaults_for_variables_the_device_model_lacks() -> None:
    class NoVariables:
        def __getattr__(self, name: str):
            def missing(*_args: object) -> object:
                raise LookupError("not declared")
            return missing

    assert SamplingSettings.from_device_model(NoVariables()) == SamplingSettings()
