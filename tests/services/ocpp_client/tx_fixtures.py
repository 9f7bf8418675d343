"""A TransactionManager on a real SQLite file, an outbox table for a queue, and an evse_io stand-in.

`FakeEvseIo` answers the manager's commands the way services/evse_io does (charging_session.py): a session
opens at plug-in or authorization, `authorize` is echoed as `authorized`, `stop` ends the session
(`session_ended` once the relays are open), unplug ends it with EVDisconnected, a restart reports
`evse_io_started` and gives a plugged EV a new session. `Station` feeds every entry it emits to the manager
and every command back to it, like the glue will, and checks every TransactionEvent against its schema.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from services.ocpp_client.link.payload_schema import request_violation, response_violation
from services.ocpp_client.meter_values.sampling import utc_text
from services.ocpp_client.transactions.manager import TransactionManager, TxOutput, TxSettings
from station.sqlite import open_db

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
CARD = {"idToken": "04A1B2C3", "type": "ISO14443"}
CARD2 = {"idToken": "04FFEE01", "type": "ISO14443"}
ACCEPTED = {"status": "Accepted"}


def assert_valid_request(action: str, payload: Mapping[str, Any]) -> None:
    violation = request_violation(action, payload)
    assert violation is None, f"{action} payload invalid: {violation} — {json.dumps(payload)}"


def assert_valid_response(action: str, payload: Mapping[str, Any]) -> None:
    violation = response_violation(action, payload)
    assert violation is None, f"{action} response invalid: {violation} — {json.dumps(payload)}"


def sample(energy_wh: float, at: float, *, power_w: float | None = 7200.0,
           currents: tuple[float | None, ...] = (10.0, 10.0, 10.0)) -> dict[str, Any]:
    return {"evse": 1, "energy_import_wh": energy_wh, "energy_import_wh_per_phase": [],
            "power_w": power_w, "power_w_per_phase": [], "current_a_per_phase": list(currents),
            "voltage_v_per_phase": [230.0, 231.0, 229.5], "frequency_hz": 50.0, "read_at": at}


@dataclass
class EvseIoEvse:
    plugged: bool = False
    session: str | None = None
    authorized: bool = False
    powered: bool = False
    limit_a: float | None = None


@dataclass
class FakeEvseIo:
    """evse_io's session facts for each EVSE, as stream entry data dicts."""

    evses: dict[int, EvseIoEvse] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def evse(self, evse_id: int) -> EvseIoEvse:
        return self.evses.setdefault(evse_id, EvseIoEvse())

    def _entry(self, name: str, evse_id: int, at: float, **data: Any) -> dict[str, Any]:
        return {"name": name, "evse_id": evse_id, "session_id": self.evse(evse_id).session, "at": utc_text(at),
                **data}

    def _open(self, e: EvseIoEvse) -> None:
        e.session = f"s{next(self.ids)}"

    def plug(self, evse_id: int, at: float) -> list[dict[str, Any]]:
        e = self.evse(evse_id)
        if e.plugged:
            return []
        e.plugged = True
        if e.session is None:
            self._open(e)
        return [self._entry("plugged_in", evse_id, at)]

    def unplug(self, evse_id: int, at: float) -> list[dict[str, Any]]:
        e = self.evse(evse_id)
        if not e.plugged:
            return []
        entries = self.ev_pauses(evse_id, at)
        e.plugged = False
        entries.append(self._entry("unplugged", evse_id, at))
        if e.session is not None:
            entries.append(self._entry("session_ended", evse_id, at, reason="EVDisconnected"))
            e.session, e.authorized = None, False
        return entries

    def ev_draws(self, evse_id: int, at: float) -> list[dict[str, Any]]:
        e = self.evse(evse_id)
        if e.plugged and e.authorized and not e.powered and (e.limit_a is None or e.limit_a >= 6):
            e.powered = True
            return [self._entry("power_on", evse_id, at, offered_current_a=16.0)]
        return []

    def ev_pauses(self, evse_id: int, at: float) -> list[dict[str, Any]]:
        e = self.evse(evse_id)
        if e.powered:
            e.powered = False
            return [self._entry("power_off", evse_id, at)]
        return []

    def restart(self, at: float) -> list[dict[str, Any]]:
        entries = []
        for evse_id, e in self.evses.items():
            e.session, e.authorized, e.powered, e.limit_a = None, False, False, None
            if e.plugged:
                self._open(e)
            entries.append(self._entry("evse_io_started", evse_id, at, ev_plugged=e.plugged, cp_state="B"
                                       if e.plugged else "A"))
            if e.plugged:
                entries.append(self._entry("plugged_in", evse_id, at))
        return entries

    def command(self, name: str, args: Mapping[str, Any], at: float) -> list[dict[str, Any]]:
        evse_id = args["evse"]
        e = self.evse(evse_id)
        if name == "authorize":
            if not args.get("allowed", True):
                return self.command("stop", {"evse": evse_id, "reason": "DeAuthorized"}, at)
            if e.session is None:
                self._open(e)
            if not e.authorized:
                e.authorized = True
                return [self._entry("authorized", evse_id, at, id_token=args.get("id_token"),
                                    max_current_a=args.get("max_current_a"))]
            return []
        if name == "stop":
            if e.session is None:
                return []
            e.authorized = False
            entries = self.ev_pauses(evse_id, at)
            entries.append(self._entry("session_ended", evse_id, at, reason=args["reason"]))
            e.session = None
            return entries
        if name == "set_current_limit":
            e.limit_a = args.get("amps")
            if e.limit_a is not None and e.limit_a < 6:
                return self.ev_pauses(evse_id, at)
            return []
        raise AssertionError(f"unknown evse_io command {name}")


class Station:
    """The manager, its database file and the fake evse_io; `reopen()` simulates an ocpp_client restart."""

    def __init__(self, path: Path, *, settings: TxSettings | None = None, evses: Mapping[int, int] | None = None,
                 boot_id: str = "boot-1", lost_reason: str = "PowerLoss") -> None:
        self.path = path
        self.settings = settings or TxSettings()
        self.evses = dict(evses or {1: 1})
        self.evse_io = FakeEvseIo()
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.meter_requests: list[dict[str, Any]] = []
        self.tx_ids = itertools.count(1)
        self.now = T0
        self.conn: sqlite3.Connection | None = None
        self.open(boot_id=boot_id, lost_reason=lost_reason)

    # ----- lifecycle -------------------------------------------------------------------------------------

    def open(self, *, boot_id: str = "boot-1", lost_reason: str = "PowerLoss") -> None:
        self.conn = open_db(str(self.path))
        self.conn.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        self.tx = TransactionManager(self.conn, self.evses, lambda: self.settings, self._enqueue, boot_id=boot_id,
                                     lost_reason=lost_reason, new_transaction_id=lambda: f"tx-{next(self.tx_ids)}")

    def close(self) -> None:
        assert self.conn is not None
        self.conn.close()
        self.conn = None

    def reopen(self, **kwargs: Any) -> None:
        self.close()
        self.open(**kwargs)

    def configure(self, **changes: Any) -> None:
        self.settings = replace(self.settings, **changes)

    @staticmethod
    def _enqueue(conn: sqlite3.Connection, payload: dict[str, Any]) -> None:
        assert_valid_request("TransactionEvent", payload)
        conn.execute("INSERT INTO outbox (payload) VALUES (?)", (json.dumps(payload),))

    def outbox(self) -> list[dict[str, Any]]:
        assert self.conn is not None
        return [json.loads(row[0]) for row in self.conn.execute("SELECT payload FROM outbox ORDER BY id")]

    def events(self, transaction_id: str | None = None) -> list[dict[str, Any]]:
        events = self.outbox()
        if transaction_id is None:
            return events
        return [e for e in events if e["transactionInfo"]["transactionId"] == transaction_id]

    def last(self) -> dict[str, Any]:
        return self.outbox()[-1]

    # ----- time and inputs -------------------------------------------------------------------------------

    def advance(self, seconds: float) -> TxOutput:
        self.now += seconds
        return self.apply(self.tx.tick(self.now))

    def apply(self, out: TxOutput) -> TxOutput:
        """Carry out the commands like the glue, feeding evse_io's echoes back, until nothing is left."""
        self.meter_requests += out.meter_values
        for request in out.meter_values:
            assert_valid_request("MeterValues", request)
        pending = list(out.commands)
        while pending:
            command = pending.pop(0)
            self.commands.append((command.command, command.call_args()))
            for entry in self.evse_io.command(command.command, command.call_args(), self.now):
                more = self.tx.on_session_entry(entry, self.now)
                out.events += more.events
                pending += more.commands
        return out

    def feed(self, entries: list[dict[str, Any]]) -> TxOutput:
        out = TxOutput()
        for entry in entries:
            out.extend(self.apply(self.tx.on_session_entry({"stream": "session", "seq": 0, "ts": self.now,
                                                            "name": entry["name"], "data": entry}, self.now)))
        return out

    def plug(self, evse: int = 1) -> TxOutput:
        return self.feed(self.evse_io.plug(evse, self.now))

    def unplug(self, evse: int = 1) -> TxOutput:
        return self.feed(self.evse_io.unplug(evse, self.now))

    def ev_draws(self, evse: int = 1) -> TxOutput:
        return self.feed(self.evse_io.ev_draws(evse, self.now))

    def ev_pauses(self, evse: int = 1) -> TxOutput:
        return self.feed(self.evse_io.ev_pauses(evse, self.now))

    def restart_evse_io(self) -> TxOutput:
        return self.feed(self.evse_io.restart(self.now))

    def meter(self, energy_wh: float, evse: int = 1, **kwargs: Any) -> TxOutput:
        return self.apply(self.tx.on_meter_sample(evse, sample(energy_wh, self.now, **kwargs), self.now))

    def swipe(self, token: Mapping[str, Any] = CARD, evse: int = 1, *, accepted: bool = True,
              info: Mapping[str, Any] | None = ACCEPTED) -> TxOutput:
        """A token presented: same-token stop, else the given verdict (as if from authorization.py)."""
        step = self.tx.present_token(evse, token, self.now)
        out = self.apply(step.output)
        if not step.handled:
            out.extend(self.apply(self.tx.on_authorization(evse, token, accepted, info, self.now)))
        return out

    def respond(self, transaction_id: str, token: Mapping[str, Any], info: Mapping[str, Any]) -> TxOutput:
        assert_valid_response("TransactionEvent", {"idTokenInfo": dict(info)})
        return self.apply(self.tx.on_id_token_info(transaction_id, token, info, self.now))

    def record(self, evse: int = 1) -> Any:
        return self.tx.record(evse)


def triggers(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["eventType"], e["triggerReason"]) for e in events]


def seq_nos(events: list[dict[str, Any]]) -> list[int]:
    return [e["seqNo"] for e in events]
