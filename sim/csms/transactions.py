"""The transactions a station reported, rebuilt from the TransactionEvent CALLs the development CSMS recorded.

One record per transactionId, in the order the CSMS first heard of it: the seqNos in order of receipt
(a message delivered twice — at least once is OCPP's rule — shows twice), the missing ones, start and end
times, the energy register at Transaction.Begin / Transaction.End (else the first / last energy reading),
how many events were sent with offline: true.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sim.csms.policy import MessageRecord

ENERGY = "Energy.Active.Import.Register"
_UNIT_WH = {"Wh": 1.0, "kWh": 1000.0}


def _energy_readings(payload: Mapping[str, Any]) -> list[tuple[str, float, str | None]]:
    """(context, Wh, timestamp) of every whole-meter import energy value in the event."""
    readings = []
    for meter_value in payload.get("meterValue") or ():
        for sampled in meter_value.get("sampledValue") or ():
            if sampled.get("measurand", ENERGY) != ENERGY or sampled.get("phase"):
                continue
            unit = (sampled.get("unitOfMeasure") or {}).get("unit", "Wh")
            multiplier = (sampled.get("unitOfMeasure") or {}).get("multiplier", 0)
            if unit not in _UNIT_WH:
                continue
            value = float(sampled["value"]) * _UNIT_WH[unit] * 10 ** multiplier
            readings.append((sampled.get("context", "Sample.Periodic"), value, meter_value.get("timestamp")))
    return readings


def _new(transaction_id: str) -> dict[str, Any]:
    return {"transaction_id": transaction_id, "evse": None, "id_token": None, "seq_nos": [], "events": [],
            "started_at": None, "ended_at": None, "stopped_reason": None, "offline_events": 0,
            "energy_start_wh": None, "energy_end_wh": None, "energy_wh": None, "missing_seq_nos": [],
            "duplicate_seq_nos": [], "complete": False}


def transactions_from(records: Iterable[MessageRecord]) -> list[dict[str, Any]]:
    """Every transaction seen in these records (see the module docstring)."""
    found: dict[str, dict[str, Any]] = {}
    readings: dict[str, list[tuple[str, float, str | None]]] = {}
    for record in records:
        if record.kind != "call" or record.action != "TransactionEvent" or not isinstance(record.payload, dict):
            continue
        payload = record.payload
        transaction_id = str(payload["transactionInfo"]["transactionId"])
        tx = found.setdefault(transaction_id, _new(transaction_id))
        tx["seq_nos"].append(payload["seqNo"])
        tx["events"].append(f"{payload['eventType']}/{payload['triggerReason']}")
        if payload.get("evse"):
            tx["evse"] = payload["evse"]["id"]
        if payload.get("idToken") and tx["id_token"] is None:
            tx["id_token"] = payload["idToken"].get("idToken")
        if payload.get("offline"):
            tx["offline_events"] += 1
        if payload["eventType"] == "Started":
            tx["started_at"] = payload["timestamp"]
        elif payload["eventType"] == "Ended":
            tx["ended_at"] = payload["timestamp"]
            tx["stopped_reason"] = payload["transactionInfo"].get("stoppedReason", "Local")
        readings.setdefault(transaction_id, []).extend(_energy_readings(payload))
    for transaction_id, tx in found.items():
        _energy(tx, readings.get(transaction_id, []))
        seen = sorted(set(tx["seq_nos"]))
        tx["missing_seq_nos"] = sorted(set(range(seen[-1] + 1)) - set(seen)) if seen else []
        tx["duplicate_seq_nos"] = sorted({n for n in seen if tx["seq_nos"].count(n) > 1})
        tx["complete"] = tx["started_at"] is not None and tx["ended_at"] is not None and not tx["missing_seq_nos"]
    return list(found.values())


def _energy(tx: dict[str, Any], readings: list[tuple[str, float, str | None]]) -> None:
    if not readings:
        return
    ordered = sorted(readings, key=lambda r: r[2] or "")
    begin = next((value for context, value, _ in ordered if context == "Transaction.Begin"), ordered[0][1])
    end = next((value for context, value, _ in reversed(ordered) if context == "Transaction.End"), ordered[-1][1])
    tx["energy_start_wh"], tx["energy_end_wh"] = begin, end
    tx["energy_wh"] = round(end - begin, 3)
