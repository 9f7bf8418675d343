"""The smart charging block assembled from narrow parts, ready for the service to plug in.

The service gives: the ocpp.db connection, the EVSEs, the settings getter (SmartChargingCtrlr), a clock,
`send` (ReportChargingProfiles) and `set_evse_limit(evse_id, current_a, origin)` (evse_io's
set_current_limit with source "smart_charging"). It takes: `handlers()` for the CSMS CALLs, `run()` as a
task, and the transaction hooks (remote_start_profile, transaction_started/ended, charging_changed).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from services.ocpp_client.smart_charging.composite import Composite, composite
from services.ocpp_client.smart_charging.handlers import Send, SmartChargingHandlers
from services.ocpp_client.smart_charging.limiter import ApplyLimit, Limiter
from services.ocpp_client.smart_charging.station import EvseConfig, StationView
from services.ocpp_client.smart_charging.store import ProfileStore
from services.ocpp_client.smart_charging.variables import Settings

EVSE_IO_SOURCE = "smart_charging"  # the set_current_limit source name in evse_io


class SmartCharging:
    """Store + station view + handlers + limiter, wired to each other."""

    def __init__(self, db: sqlite3.Connection, evses: list[EvseConfig], settings: Callable[[], Settings],
                 now: Callable[[], datetime], send: Send, apply_limit: ApplyLimit,
                 grid_limit_a: float | None = None) -> None:
        self.store = ProfileStore(db)
        self.station = StationView(evses, grid_limit_a)
        self.limiter = Limiter(self.store, self.station, apply_limit, now)
        self.calls = SmartChargingHandlers(self.store, self.station, settings, now, send, self.limiter.wake)
        self.now = now

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[Any]]]:
        return self.calls.handlers()

    async def run(self) -> None:
        await self.limiter.run()

    # ---- hooks for the transactions block ----

    def remote_start_profile(self, evse_id: int, payload: dict[str, Any]) -> dict[str, Any] | None:
        return self.calls.remote_start_profile(evse_id, payload)

    def transaction_started(self, evse_id: int, transaction_id: str, started_at: datetime) -> None:
        self.calls.transaction_started(evse_id, transaction_id, started_at)

    def transaction_ended(self, evse_id: int, transaction_id: str) -> None:
        self.calls.transaction_ended(evse_id, transaction_id)

    def charging_changed(self, evse_id: int, charging: bool) -> None:
        """The EVSE wants current (evse_io's charging_state Charging, or SuspendedEVSE: authorized but held at
        0 A) or no longer (SuspendedEV: the EV paused; EVConnected/Idle: done): the cap is re-shared."""
        if self.station.set_charging(evse_id, charging):
            self.limiter.wake()

    # ---- for reonctl / the meter values ----

    def offered_limit_a(self, evse_id: int) -> float | None:
        """The limit applied now (Current.Offered for the meter values); None: none beyond the EVSE's own."""
        applied = self.limiter.applied.get(evse_id)
        return None if applied is None else applied.current_a

    def composite(self, evse_id: int, duration_s: int = 86_400, rate_unit: str = "A") -> Composite:
        return composite(self.store.all(), self.station.evse(evse_id), self.now(), duration_s, rate_unit)

    def status(self) -> dict[str, Any]:
        """Installed profiles and the applied limit per EVSE (for `reonctl ocpp profiles`)."""
        return {
            "profiles": [{"evseId": p.evse_id, **p.payload()} for p in self.store.all()],
            "limits": {evse_id: {"current_a": limit.current_a, **limit.source.as_dict()}
                       for evse_id, limit in sorted(self.limiter.applied.items())},
        }
