"""Smart charging (K01–K10) in the ocpp service: the block (block.py) wired to the gate, the device model,
evse_io and the transactions block.

- CSMS CALLs SetChargingProfile, ClearChargingProfile, GetChargingProfiles, GetCompositeSchedule on the gate;
  SmartChargingCtrlr read fresh from the device model for each; Entries[ChargingProfiles] served live.
- Limits go to evse_io's `set_current_limit` with source "smart_charging" and the origin (purpose, profile id);
  evse_io applies the lowest of its sources. A limit evse_io lost (it restarted: limits are not persisted) is
  sent again when its state shows it missing.
- `evse_io.state.evse.<n>`: an EVSE whose charging_state is Charging or SuspendedEVSE wants current (the
  station cap is re-shared when that changes).
- Transactions: started/ended from the transactions block's change listener (TxProfiles of an ended
  transaction go, K01.FR.05-like housekeeping; also for one that ended while this service was down);
  RequestStartTransaction's chargingProfile through `remote_start_profile` (K05, F01.FR.08–12).
Everything runs offline too: the profiles are in ocpp.db and the limiter needs no CSMS (K06/K07).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from bus.envelope import Envelope
from services.ocpp_client.clock import StationClock
from services.ocpp_client.device_model.model import DeviceModel
from services.ocpp_client.link.gate import CallGate
from services.ocpp_client.peers import Peers
from services.ocpp_client.smart_charging.block import EVSE_IO_SOURCE, SmartCharging
from services.ocpp_client.smart_charging.station import EvseConfig
from services.ocpp_client.smart_charging.variables import COMPONENT, Settings, read_settings

log = logging.getLogger("reon.ocpp.smart_charging")

EVSE_IO = "evse_io"
EVSE_IO_DEADLINE_S = 3.0
WANTS_CURRENT = ("Charging", "SuspendedEVSE")  # evse_io charging_state of an EVSE that wants current


class Transactions(Protocol):
    """What smart charging reads of the transactions block (transactions/service.py)."""

    def on_change(self, listener: Callable[[], None]) -> None: ...

    def open_transaction_starts(self) -> dict[int, tuple[str, float]]: ...

    def remote_start_waiting(self, evse_id: int) -> bool: ...

    def use_charging_profiles(self, check: Callable[[int, dict[str, Any]], dict[str, Any] | None]) -> None: ...


class SmartChargingService:
    """The smart charging block in the service: `start()` subscribes, `run()` is the limiter loop."""

    def __init__(self, *, db: sqlite3.Connection, dm: DeviceModel, clock: StationClock, gate: CallGate,
                 peers: Peers, evses: Sequence[Any], transactions: Transactions,
                 subscribe: Callable[..., Any], grid_limit_a: float | None = None) -> None:
        """`evses`: the config's EVSE tables (id, max_current_a, phases); `grid_limit_a`: `[station]
        grid_limit_a`, the grid connection's limit per phase, shared like a ChargingStationMaxProfile."""
        self.dm = dm
        self.peers = peers
        self.transactions = transactions
        self.subscribe = subscribe
        self.block = SmartCharging(db, [EvseConfig(e.id, float(e.max_current_a), e.phases) for e in evses],
                                   self.settings, clock.now, gate.send, self._apply_limit,
                                   grid_limit_a=grid_limit_a)
        for action, handler in self.block.handlers().items():
            gate.register(action, handler)
        dm.set_reader(COMPONENT, "Entries", lambda: str(len(self.block.store)), variable_instance="ChargingProfiles")
        transactions.use_charging_profiles(self.remote_start_profile)
        transactions.on_change(self.sync_transactions)
        self._open: dict[int, str] = {}

    def settings(self) -> Settings:
        return read_settings(self.dm.get_bool, self.dm.get_int, self.dm.get_list)

    def start(self) -> None:
        self.subscribe("evse_io.state.evse.", self.on_evse_io_state)
        self.sync_transactions()

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {"smart_charging": self.block.run}

    # ---- evse_io ----------------------------------------------------------------------------------

    async def _apply_limit(self, evse_id: int, current_a: float | None, origin: dict[str, object]) -> None:
        if not self.peers.running(EVSE_IO):
            raise RuntimeError("evse_io is not running")
        await self.peers.call(EVSE_IO, "set_current_limit", {"evse": evse_id, "amps": current_a,
                                                             "source": EVSE_IO_SOURCE, "origin": origin},
                              deadline_s=EVSE_IO_DEADLINE_S)

    async def on_evse_io_state(self, topic: str, env: Envelope) -> None:
        body = env.body if isinstance(env.body, dict) else {}
        evse_id = body.get("evse_id")
        if evse_id not in self.block.station.evse_ids:
            return
        self.block.charging_changed(evse_id, body.get("charging_state") in WANTS_CURRENT)
        self._check_applied(evse_id, body)
        if self.block.calls.has_remote_start(evse_id) and not self.transactions.remote_start_waiting(evse_id):
            self.block.calls.remote_start_abandoned(evse_id)

    def _check_applied(self, evse_id: int, body: dict[str, Any]) -> None:
        """evse_io lost our limit (restarted): send it again."""
        applied = self.block.limiter.applied.get(evse_id)
        limits = body.get("current_limits")
        if applied is None or applied.current_a is None or not isinstance(limits, dict):
            return
        ours = limits.get(EVSE_IO_SOURCE)
        if not isinstance(ours, dict) or ours.get("amps") != applied.current_a:
            log.info("EVSE %d: evse_io does not hold the smart charging limit %s A; sending it again", evse_id,
                     applied.current_a)
            self.block.limiter.applied.pop(evse_id, None)
            self.block.limiter.wake()

    # ---- transactions -----------------------------------------------------------------------------

    def remote_start_profile(self, evse_id: int, profile: dict[str, Any]) -> dict[str, Any] | None:
        """RequestStartTransaction's chargingProfile: None = go ahead, else the statusInfo of a Rejected. With a
        transaction already open on the EVSE (TxStartPoint EVConnected) it becomes that transaction's TxProfile."""
        refused = self.block.remote_start_profile(evse_id, profile)
        started = self.transactions.open_transaction_starts().get(evse_id) if refused is None else None
        if started is not None and self.block.calls.has_remote_start(evse_id):
            self.block.transaction_started(evse_id, started[0], datetime.fromtimestamp(started[1], UTC))
        return refused

    def sync_transactions(self) -> None:
        """Tell the block which transactions started and ended; drop TxProfiles of transactions not open."""
        now_open = self.transactions.open_transaction_starts()
        for evse_id, transaction_id in list(self._open.items()):
            if now_open.get(evse_id, (None,))[0] != transaction_id:
                self.block.transaction_ended(evse_id, transaction_id)
                del self._open[evse_id]
        for evse_id, (transaction_id, started_s) in now_open.items():
            if evse_id in self.block.station.evse_ids and self._open.get(evse_id) != transaction_id:
                self._open[evse_id] = transaction_id
                self.block.transaction_started(evse_id, transaction_id, datetime.fromtimestamp(started_s, UTC))
        open_ids = set(self._open.values())
        for profile in self.block.store.all():
            if profile.transaction_id is not None and profile.transaction_id not in open_ids:
                log.info("TxProfile %d of transaction %s, which is not open, removed", profile.profile_id,
                         profile.transaction_id)
                self.block.store.remove([profile.profile_id])
                self.block.limiter.wake()

    # ---- reonctl ----------------------------------------------------------------------------------

    def profiles(self, evse_id: int | None) -> dict[str, Any]:
        """`reonctl ocpp profiles`: per EVSE its profiles, the limit applied and the composite of the next 24 h."""
        if evse_id is not None and evse_id not in self.block.station.evse_ids:
            raise ValueError(f"EVSE {evse_id} does not exist")
        wanted = sorted(self.block.station.evse_ids) if evse_id is None else [evse_id]
        status = self.block.status()
        out = []
        for evse in wanted:
            limit = status["limits"].get(evse)
            out.append({"evse": evse, "limit": limit,
                        "profiles": [p for p in status["profiles"] if p["evseId"] == evse],
                        "composite": self.block.composite(evse).payload()})
        station = [p for p in status["profiles"] if p["evseId"] == 0]
        return {"station_profiles": station, "evses": out}
