"""The development CSMS rebuilds each transaction from the TransactionEvents it recorded."""

from __future__ import annotations

from typing import Any

from sim.csms.policy import MessageRecord
from sim.csms.transactions import transactions_from


def _event(index: int, event_type: str, seq_no: int, *, tx: str = "T1", trigger: str = "Trigger",
           energy: tuple[str, float, str] | None = None, **extra: Any) -> MessageRecord:
    payload: dict[str, Any] = {"eventType": event_type, "timestamp": f"2024-05-01T12:00:{index:02d}.000Z",
                               "triggerReason": trigger, "seqNo": seq_no,
                               "transactionInfo": {"transactionId": tx}, "evse": {"id": 1, "connectorId": 1},
                               **extra}
    if energy:
        context, value, unit = energy
        payload["meterValue"] = [{"timestamp": payload["timestamp"], "sampledValue": [
            {"value": value, "context": context, "unitOfMeasure": {"unit": unit}}]}]
    return MessageRecord(index, 0.0, "call", "TransactionEvent", f"m{index}", payload)


def test_a_whole_transaction_is_complete_with_its_energy() -> None:
    records = [
        _event(0, "Started", 0, trigger="CablePluggedIn", energy=("Transaction.Begin", 100.0, "Wh")),
        _event(1, "Updated", 1, idToken={"idToken": "04A1B2C3", "type": "ISO14443"}),
        _event(2, "Updated", 2, energy=("Sample.Periodic", 0.5, "kWh"), offline=True),
        _event(3, "Ended", 3, energy=("Transaction.End", 1200.0, "Wh"), offline=True,
               transactionInfo={"transactionId": "T1", "stoppedReason": "EVDisconnected"}),
    ]
    (tx,) = transactions_from(records)
    assert tx["complete"] and tx["seq_nos"] == [0, 1, 2, 3] and tx["id_token"] == "04A1B2C3"
    assert (tx["energy_start_wh"], tx["energy_end_wh"], tx["energy_wh"]) == (100.0, 1200.0, 1100.0)
    assert tx["offline_events"] == 2 and tx["stopped_reason"] == "EVDisconnected"
    assert tx["events"][0] == "Started/CablePluggedIn" and tx["ended_at"] == "2024-05-01T12:00:03.000Z"


def test_missing_and_repeated_seq_nos_are_shown_per_transaction() -> None:
    records = [_event(0, "Started", 0), _event(1, "Started", 0, tx="T2"), _event(2, "Updated", 2),
               _event(3, "Updated", 2), _event(4, "Ended", 3)]
    first, second = transactions_from(records)
    assert first["missing_seq_nos"] == [1] and first["duplicate_seq_nos"] == [2] and not first["complete"]
    assert second["transaction_id"] == "T2" and second["ended_at"] is None and not second["complete"]
