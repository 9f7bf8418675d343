"""Meter values in and around transactions: TC_J_01/02/03/06/09/10, periodic and clock-aligned timing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from services.ocpp_client.meter_values.sampling import POWER, SamplingSettings, parse_utc, utc_text
from services.ocpp_client.transactions.model import TxSettings
from tests.services.ocpp_client.tx_fixtures import T0, Station, triggers

# T0 is 22:13:20 UTC: with a 60 s clock-aligned interval the slots are T0 + 40, T0 + 100, …


def station(tmp_path: Path, evses: dict[int, int] | None = None, **sampling: object) -> Station:
    settings = TxSettings(sampling=replace(SamplingSettings(), **sampling))
    st = Station(tmp_path / "ocpp.db", settings=settings, evses=evses)
    st.tx.tick(st.now)  # schedules the clock-aligned slots
    return st


def contexts(event: dict) -> list[str]:
    return [value["sampledValue"][0]["context"] for value in event["meterValue"]]


def test_tc_j_09_periodic_values_every_tx_updated_interval_from_the_start(tmp_path: Path) -> None:
    st = station(tmp_path, tx_updated_interval_s=30, aligned_interval_s=0)
    st.meter(1000.0)
    st.plug()
    assert st.tx.next_deadline() == T0 + 30
    for n in range(1, 4):
        st.now = T0 + 30 * n - 1
        st.meter(1000.0 + n)
        st.advance(1)
    periodic = [e for e in st.outbox() if e["triggerReason"] == "MeterValuePeriodic"]
    assert [parse_utc(e["timestamp"]) for e in periodic] == [T0 + 30, T0 + 60, T0 + 90]
    values = [e["meterValue"][0] for e in periodic]
    assert [v["timestamp"] for v in values] == [utc_text(T0 + 30 * n - 1) for n in (1, 2, 3)]
    assert {v["sampledValue"][0]["context"] for v in values} == {"Sample.Periodic"}
    assert {s["measurand"] for v in values for s in v["sampledValue"]} == {"Energy.Active.Import.Register", POWER}


def test_no_periodic_value_from_a_meter_that_stopped_answering(tmp_path: Path) -> None:
    st = station(tmp_path, tx_updated_interval_s=30, aligned_interval_s=0)
    st.meter(1000.0)
    st.plug()
    st.advance(90)
    assert [e["triggerReason"] for e in st.outbox()] == ["CablePluggedIn"]


def test_periodic_interval_switched_on_during_a_transaction_takes_effect(tmp_path: Path) -> None:
    st = station(tmp_path, tx_updated_interval_s=0, aligned_interval_s=0)
    st.plug()
    st.advance(10)
    st.configure(sampling=replace(st.settings.sampling, tx_updated_interval_s=20))
    st.advance(1)  # scheduled from the start: T0 + 20
    st.meter(1000.0)
    st.advance(10)
    assert triggers(st.outbox())[-1] == ("Updated", "MeterValuePeriodic")


def test_tc_j_10_ended_carries_tx_ended_interval_samples_and_the_final_value(tmp_path: Path) -> None:
    st = station(tmp_path, tx_updated_interval_s=0, tx_ended_interval_s=60, aligned_interval_s=0)
    st.meter(1000.0)
    st.plug()
    st.swipe()
    st.ev_draws()
    for n in range(1, 3):
        st.now = T0 + 60 * n - 2
        st.meter(1000.0 + 100 * n)
        st.advance(2)
    st.reopen()  # what was collected is in SQLite
    st.now += 10
    st.meter(1250.0)
    st.swipe()
    ended = st.last()
    assert contexts(ended) == ["Sample.Periodic", "Sample.Periodic", "Transaction.End"]
    assert [v["sampledValue"][0]["value"] for v in ended["meterValue"]] == [1100.0, 1200.0, 1250.0]
    timestamps = [v["timestamp"] for v in ended["meterValue"]]
    assert timestamps == sorted(timestamps)


def test_tc_j_03_ended_carries_clock_aligned_samples(tmp_path: Path) -> None:
    st = station(tmp_path, aligned_interval_s=0, aligned_tx_ended_interval_s=60)
    st.plug()
    st.now = T0 + 39
    st.meter(1000.0)
    st.advance(1)  # slot T0 + 40
    st.now = T0 + 99
    st.meter(1060.0)
    st.advance(1)  # slot T0 + 100
    st.unplug()
    assert contexts(st.last()) == ["Sample.Clock", "Sample.Clock", "Transaction.End"]


def test_tc_j_01_idle_evse_sends_clock_aligned_meter_values_requests(tmp_path: Path) -> None:
    st = station(tmp_path, aligned_interval_s=60)
    assert st.tx.next_deadline() == T0 + 40
    st.advance(39)
    st.meter(500.0)
    assert st.advance(1).meter_values == [{"evseId": 1, "meterValue": [
        {"timestamp": utc_text(T0 + 39), "sampledValue": [
            {"value": 500.0, "context": "Sample.Clock", "measurand": "Energy.Active.Import.Register",
             "location": "Outlet", "unitOfMeasure": {"unit": "Wh"}}]}]}]
    assert st.tx.next_deadline() == T0 + 100
    assert st.advance(59).meter_values == []
    st.meter(510.0)
    assert len(st.advance(1).meter_values) == 1
    st.advance(120)  # the meter went quiet: nothing stale is sent
    assert len(st.meter_requests) == 2


def test_tc_j_02_evse_with_a_transaction_sends_clock_aligned_values_in_transaction_events(tmp_path: Path) -> None:
    st = station(tmp_path, evses={1: 1, 2: 1}, aligned_interval_s=60)
    st.plug(evse=1)
    st.now = T0 + 39
    st.meter(1000.0, evse=1)
    st.meter(20.0, evse=2)
    out = st.advance(1)
    assert [request["evseId"] for request in out.meter_values] == [2]
    clock = st.last()
    assert (clock["eventType"], clock["triggerReason"]) == ("Updated", "MeterValueClock")
    assert contexts(clock) == ["Sample.Clock"]


def test_tc_j_06_send_during_idle_sends_nothing_aligned_while_a_transaction_runs(tmp_path: Path) -> None:
    st = station(tmp_path, evses={1: 1, 2: 1}, aligned_interval_s=60, aligned_send_during_idle=True)
    st.plug(evse=1)
    st.now = T0 + 39
    st.meter(1000.0, evse=1)
    st.meter(20.0, evse=2)
    assert st.advance(1).meter_values == []
    assert triggers(st.outbox()) == [("Started", "CablePluggedIn")]
    st.unplug(evse=1)
    st.now = T0 + 99
    st.meter(1000.0, evse=1)
    st.meter(20.0, evse=2)
    assert len(st.advance(1).meter_values) == 2


def test_sampled_data_disabled_leaves_meter_values_out_of_transaction_events(tmp_path: Path) -> None:
    st = station(tmp_path, sampled_enabled=False, tx_updated_interval_s=10, aligned_interval_s=0)
    st.meter(1000.0)
    st.plug()
    st.advance(10)
    st.unplug()
    assert all("meterValue" not in event for event in st.outbox())


def test_phases_in_use_and_cable_rating_are_reported_when_they_change(tmp_path: Path) -> None:
    st = station(tmp_path, tx_updated_interval_s=30, aligned_interval_s=0)
    st.apply(st.tx.on_evse_state(1, {"charging_state": "EVConnected", "pp_ampacity_a": 32.0}, st.now))
    st.meter(1000.0, currents=(0.0, 0.0, 0.0))
    st.plug()
    st.swipe()
    st.ev_draws()
    st.now = T0 + 29
    st.meter(1010.0, currents=(16.0, 0.1, 0.0))
    st.advance(1)
    st.now = T0 + 59
    st.meter(1020.0, currents=(16.0, 0.1, 0.0))
    st.advance(1)
    events = st.outbox()
    assert events[0]["cableMaxCurrent"] == 32
    assert all("cableMaxCurrent" not in event for event in events[1:])
    assert [event.get("numberOfPhasesUsed") for event in events] == [None, None, None, 1, None]


def test_a_fact_reaching_us_after_a_later_periodic_value_is_not_dated_before_it(tmp_path: Path) -> None:
    """The EV drew at T0+29.9 but evse_io's power_on arrived after the periodic value of T0+30 had gone out: the
    ChargingStateChanged is dated T0+30, so time never runs backwards along seqNo (found by the in-process
    property test, test_service_tx_properties.py)."""
    st = station(tmp_path, tx_updated_interval_s=30, aligned_interval_s=0)
    st.meter(1000.0)
    st.plug()
    st.swipe()
    st.now = T0 + 30
    st.meter(1001.0)
    st.apply(st.tx.tick(st.now))
    st.feed(st.evse_io.ev_draws(1, T0 + 29.9))
    assert triggers(st.outbox())[-2:] == [("Updated", "MeterValuePeriodic"), ("Updated", "ChargingStateChanged")]
    times = [parse_utc(e["timestamp"]) for e in st.outbox()]
    assert times == sorted(times) and times[-1] == T0 + 30
