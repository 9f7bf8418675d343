"""The Transaction.End meter value of an Ended event is read during the transaction: never a reading from before
its start, never one below its Begin register — across restarts of ocpp_client and of the station."""

from __future__ import annotations

from pathlib import Path

from services.ocpp_client.meter_values.sampling import parse_utc
from tests.services.ocpp_client.tx_fixtures import Station, sample, triggers


def end_values(event: dict) -> list[tuple[float, float]]:
    """(read at, Wh) of the Transaction.End import register values of an Ended event."""
    return [(parse_utc(value["timestamp"]), sampled["value"]) for value in event.get("meterValue", [])
            for sampled in value["sampledValue"]
            if sampled["context"] == "Transaction.End" and sampled["measurand"] == "Energy.Active.Import.Register"]


def started_charging(tmp_path: Path) -> tuple[Station, float]:
    """The meter read 0.0 Wh half a second before the plug-in (the Begin value); charging; the start time."""
    st = Station(tmp_path / "ocpp.db")
    st.meter(0.0)
    st.now += 0.5
    start = st.now
    st.plug()
    st.swipe()
    st.ev_draws()
    return st, start


def test_end_value_after_an_ocpp_restart_is_a_reading_taken_during_the_transaction(tmp_path: Path) -> None:
    st, start = started_charging(tmp_path)
    st.now += 5
    st.meter(12.0)  # read during the transaction, then the ocpp service restarts
    st.reopen()
    st.now += 1
    st.unplug()  # replayed from evse_io's stream before any new meter sample reached the new process
    ended = st.last()
    assert ended["eventType"] == "Ended"
    assert end_values(ended) == [(start + 5, 12.0)]


def test_end_value_after_a_power_loss_soon_after_the_start_is_never_the_begin_reading(tmp_path: Path) -> None:
    st, start = started_charging(tmp_path)
    st.now += 3
    st.meter(7.0)
    st.close()  # power lost 3 s into the transaction
    st.open(boot_id="boot-2")
    st.now += 60
    st.restart_evse_io()
    ended = st.events("tx-1")[-1]
    assert triggers([ended]) == [("Ended", "AbnormalCondition")]
    assert end_values(ended) == [(start + 3, 7.0)]


def test_no_end_value_when_no_reading_was_taken_during_the_transaction(tmp_path: Path) -> None:
    st, start = started_charging(tmp_path)
    st.reopen()
    st.now += 1
    st.unplug()
    ended = st.last()
    assert ended["eventType"] == "Ended" and end_values(ended) == []
    assert all(parse_utc(value["timestamp"]) >= start for value in ended.get("meterValue", []))


def test_a_reading_below_the_begin_register_is_never_the_end_value(tmp_path: Path) -> None:
    st = Station(tmp_path / "ocpp.db")
    st.meter(5000.0)
    st.plug()
    st.swipe()
    st.now += 20
    st.meter(5100.0)  # persisted (sample_persist_s has passed)
    st.reopen()
    st.now += 1
    st.apply(st.tx.on_meter_sample(1, sample(0.0, st.now), st.now))  # a replaced or reset meter
    st.unplug()
    assert end_values(st.last()) == [(st.now - 1, 5100.0)]
