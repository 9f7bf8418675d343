"""Restarts: seqNo continuity across an ocpp_client restart, all-or-nothing steps, evse_io restarts, and
transactions ended after the station lost power."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ocpp_client.meter_values.sampling import utc_text
from tests.services.ocpp_client.tx_fixtures import T0, Station, sample, seq_nos, triggers


def charging(tmp_path: Path) -> Station:
    st = Station(tmp_path / "ocpp.db")
    st.meter(1000.0)
    st.plug()
    st.swipe()
    st.ev_draws()
    return st


def test_seq_no_continues_without_gap_or_repeat_after_an_ocpp_client_restart(tmp_path: Path) -> None:
    st = charging(tmp_path)
    st.reopen()  # same boot: the process restarted, the station did not
    st.meter(1500.0)
    st.advance(60)
    st.reopen()
    st.swipe()
    events = st.outbox()
    assert triggers(events)[-2:] == [("Updated", "MeterValuePeriodic"), ("Ended", "StopAuthorized")]
    assert seq_nos(events) == list(range(len(events)))
    assert {e["transactionInfo"]["transactionId"] for e in events} == {"tx-1"}


def test_a_step_that_fails_leaves_no_trace_and_its_retry_gets_the_same_seq_no(tmp_path: Path) -> None:
    st = charging(tmp_path)
    before = st.outbox()
    real = st.tx.enqueue

    def broken(conn, payload):
        real(conn, payload)
        raise OSError("disk full")

    st.tx.enqueue = broken
    entries = st.evse_io.ev_pauses(1, st.now)
    with pytest.raises(OSError):
        st.tx.on_session_entry(entries[0], st.now)
    assert st.outbox() == before
    assert st.record().power_on
    st.tx.enqueue = real
    st.tx.on_session_entry(entries[0], st.now)
    assert seq_nos(st.outbox()) == list(range(len(before) + 1))


def test_steps_inside_the_stream_consumer_transaction_commit_or_roll_back_with_it(tmp_path: Path) -> None:
    st = charging(tmp_path)
    count = len(st.outbox())
    entry = st.evse_io.ev_pauses(1, st.now)[0]
    assert st.conn is not None
    st.conn.execute("BEGIN IMMEDIATE")
    st.tx.on_session_entry(entry, st.now)
    st.conn.execute("ROLLBACK")
    assert len(st.outbox()) == count and st.record().power_on
    st.conn.execute("BEGIN IMMEDIATE")
    st.tx.on_session_entry(entry, st.now)
    st.conn.execute("COMMIT")
    assert len(st.outbox()) == count + 1 and not st.record().power_on


def power_loss_station(tmp_path: Path) -> tuple[Station, float]:
    """Charging with samples at +0 (persisted), +10, +20 (persisted), +25; then the power goes."""
    st = charging(tmp_path)
    start = st.now
    for offset, energy in ((0, 1000.0), (10, 1100.0), (20, 1200.0), (25, 1250.0)):
        st.now = start + offset
        st.meter(energy)
    st.close()  # power lost: nothing more is written
    return st, start


def test_transaction_open_at_power_loss_is_ended_when_evse_io_comes_back(tmp_path: Path) -> None:
    st, start = power_loss_station(tmp_path)
    st.open(boot_id="boot-2", lost_reason="PowerLoss")
    st.now = start + 300
    st.restart_evse_io()  # EV still plugged: evse_io gives it a new session
    events = st.events("tx-1")
    ended = events[-1]
    assert (ended["eventType"], ended["triggerReason"]) == ("Ended", "AbnormalCondition")
    assert ended["transactionInfo"]["stoppedReason"] == "PowerLoss"
    assert ended["transactionInfo"]["chargingState"] == "EVConnected"
    assert ended["timestamp"] == utc_text(start + 20)  # the last moment it is known to have been alive
    assert "idToken" not in ended
    end = ended["meterValue"][-1]
    assert end["timestamp"] == utc_text(start + 20)
    assert end["sampledValue"][0] == {"value": 1200.0, "context": "Transaction.End",
                                      "measurand": "Energy.Active.Import.Register", "location": "Outlet",
                                      "unitOfMeasure": {"unit": "Wh"}}
    assert seq_nos(events) == list(range(len(events)))
    new = st.events("tx-2")
    assert triggers(new) == [("Started", "CablePluggedIn")] and new[0]["seqNo"] == 0
    assert not st.record().authorized


def test_reboot_reason_is_the_glues_choice(tmp_path: Path) -> None:
    st, _start = power_loss_station(tmp_path)
    st.open(boot_id="boot-2", lost_reason="Reboot")
    st.restart_evse_io()
    assert st.events("tx-1")[-1]["transactionInfo"]["stoppedReason"] == "Reboot"


def test_end_interrupted_ends_at_once_and_ignores_stale_facts_until_evse_io_reports(tmp_path: Path) -> None:
    st, start = power_loss_station(tmp_path)
    stale = st.evse_io.ev_pauses(1, start + 26) + st.evse_io.unplug(1, start + 27)  # journaled, not consumed
    st.open(boot_id="boot-2")
    st.now = start + 300
    out = st.apply(st.tx.end_interrupted(st.now))
    assert triggers(out.events) == [("Ended", "AbnormalCondition")]
    st.feed(stale)
    st.restart_evse_io()
    st.plug()
    assert triggers(st.outbox())[-2:] == [("Ended", "AbnormalCondition"), ("Started", "CablePluggedIn")]
    assert len(st.events("tx-1")) == len({e["seqNo"] for e in st.events("tx-1")})


def test_facts_journaled_before_the_power_loss_still_count_when_evse_io_reports(tmp_path: Path) -> None:
    st, start = power_loss_station(tmp_path)
    stale = st.evse_io.ev_pauses(1, start + 26) + st.evse_io.unplug(1, start + 27)
    st.open(boot_id="boot-2")
    st.feed(stale)  # the EV was unplugged before the power went: an ordinary end
    st.restart_evse_io()
    assert triggers(st.events("tx-1"))[-1] == ("Ended", "EVCommunicationLost")
    assert st.events("tx-1")[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"


def test_evse_io_restart_alone_keeps_the_transaction_and_reauthorizes(tmp_path: Path) -> None:
    st = charging(tmp_path)
    st.commands.clear()
    st.restart_evse_io()
    assert st.record().tx is not None and st.record().authorized
    assert [name for name, _ in st.commands] == ["authorize"]
    assert triggers(st.outbox())[-1] == ("Updated", "ChargingStateChanged")  # power went off with evse_io
    st.ev_draws()
    assert st.last()["transactionInfo"]["chargingState"] == "Charging"
    assert {e["transactionInfo"]["transactionId"] for e in st.outbox()} == {"tx-1"}
    assert seq_nos(st.outbox()) == list(range(len(st.outbox())))


def test_ev_unplugged_while_evse_io_was_down_ends_the_transaction(tmp_path: Path) -> None:
    st = charging(tmp_path)
    st.evse_io.evse(1).plugged = False  # unplugged during the restart: no unplugged entry
    st.restart_evse_io()
    event = st.last()
    assert (event["eventType"], event["triggerReason"]) == ("Ended", "EVCommunicationLost")


def test_a_new_boot_with_nothing_open_changes_nothing(tmp_path: Path) -> None:
    st = Station(tmp_path / "ocpp.db")
    st.plug()
    st.swipe()
    st.swipe()
    st.unplug()
    st.reopen(boot_id="boot-2")
    st.restart_evse_io()
    assert len(st.outbox()) == 3 and not st.record().awaiting_evse_io_start


def test_samples_are_persisted_at_most_every_sample_persist_s(tmp_path: Path) -> None:
    st = charging(tmp_path)
    st.apply(st.tx.on_meter_sample(1, sample(1000.0, T0), T0))
    st.apply(st.tx.on_meter_sample(1, sample(1001.0, T0 + 5), T0 + 5))
    assert st.record().last_sample["energy_import_wh"] == 1000.0
    st.apply(st.tx.on_meter_sample(1, sample(1002.0, T0 + 15), T0 + 15))
    assert st.record().last_sample["energy_import_wh"] == 1002.0
