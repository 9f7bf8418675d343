"""What the transaction state machine hands back: TransactionEventRequest payloads and evse_io commands.

`transaction_event` builds a schema-valid TransactionEventRequest (OCPP 2.0.1) from plain values. The
`offline` flag is not set here: the outbound queue sets it when it sends a message that waited while the
CSMS was unreachable (E11/E12) — use `with_offline`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.ocpp_client.meter_values.sampling import utc_text

STARTED, UPDATED, ENDED = "Started", "Updated", "Ended"


@dataclass(frozen=True)
class EvseCommand:
    """A call the glue makes on evse_io: `await call("evse_io", command, call_args())`.

    command is a name from services/evse_io/contract.py: "authorize" {allowed, max_current_a, id_token},
    "stop" {reason} or "set_current_limit" {amps}.
    """

    command: str
    evse: int
    args: dict[str, Any] = field(default_factory=dict)

    def call_args(self) -> dict[str, Any]:
        return {"evse": self.evse, **self.args}


@dataclass
class TxOutput:
    """Everything one input produced, in order.

    events: TransactionEventRequest payloads, already handed to the queue (`enqueue`) inside the SQLite
        transaction that stored their seqNo — for logging and tests; the glue does not send them again.
    commands: evse_io calls to make, in order.
    meter_values: MeterValuesRequest payloads (clock-aligned values of idle EVSEs) for the glue to send.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    commands: list[EvseCommand] = field(default_factory=list)
    meter_values: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: TxOutput) -> TxOutput:
        self.events += other.events
        self.commands += other.commands
        self.meter_values += other.meter_values
        return self


def transaction_event(
    *,
    event_type: str,
    at: float,
    trigger_reason: str,
    seq_no: int,
    transaction_id: str,
    charging_state: str | None = None,
    stopped_reason: str | None = None,
    remote_start_id: int | None = None,
    time_spent_charging_s: float | None = None,
    evse_id: int | None = None,
    connector_id: int | None = None,
    id_token: Mapping[str, Any] | None = None,
    meter_values: Sequence[Mapping[str, Any]] = (),
    number_of_phases_used: int | None = None,
    cable_max_current_a: int | None = None,
) -> dict[str, Any]:
    """A TransactionEventRequest payload; optional parts are left out when None / empty."""
    info: dict[str, Any] = {"transactionId": transaction_id}
    if charging_state is not None:
        info["chargingState"] = charging_state
    if time_spent_charging_s is not None:
        info["timeSpentCharging"] = int(time_spent_charging_s)
    if stopped_reason is not None:
        info["stoppedReason"] = stopped_reason
    if remote_start_id is not None:
        info["remoteStartId"] = remote_start_id
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": utc_text(at),
        "triggerReason": trigger_reason,
        "seqNo": seq_no,
        "transactionInfo": info,
    }
    if meter_values:
        payload["meterValue"] = [dict(value) for value in meter_values]
    if number_of_phases_used is not None:
        payload["numberOfPhasesUsed"] = number_of_phases_used
    if cable_max_current_a is not None:
        payload["cableMaxCurrent"] = cable_max_current_a
    if evse_id is not None:
        payload["evse"] = {"id": evse_id, **({"connectorId": connector_id} if connector_id else {})}
    if id_token is not None:
        payload["idToken"] = dict(id_token)
    return payload


def with_offline(payload: Mapping[str, Any], offline: bool) -> dict[str, Any]:
    """The payload as sent: `offline: true` when it was queued while the CSMS was unreachable."""
    sent = dict(payload)
    if offline:
        sent["offline"] = True
    else:
        sent.pop("offline", None)
    return sent
