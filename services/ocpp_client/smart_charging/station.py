"""The station as smart charging sees it: each EVSE's maximum, phases, running transaction and whether it
draws current, plus the grid connection limit. The transactions block and evse_io's state feed it; the
handlers and the limiter read it. Plain data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from services.ocpp_client.smart_charging.composite import Evse
from services.ocpp_client.smart_charging.profiles import DEFAULT_PHASES


@dataclass(frozen=True)
class EvseConfig:
    evse_id: int
    max_current_a: float = 32.0
    phases: int = DEFAULT_PHASES


@dataclass
class _EvseNow:
    config: EvseConfig
    transaction_id: str | None = None
    transaction_started: datetime | None = None
    charging: bool = False
    charging_since: int = 0  # order of arrival among charging EVSEs: the first keep charging when the cap is short
    external_limit_a: float | None = None


class StationView:
    """What the composite and the limiter need to know of every EVSE, kept up to date by the service."""

    def __init__(self, evses: list[EvseConfig], grid_limit_a: float | None = None) -> None:
        if not evses or any(e.evse_id <= 0 for e in evses):
            raise ValueError("smart charging needs EVSEs numbered from 1")
        self._evses = {e.evse_id: _EvseNow(e) for e in evses}
        self.grid_limit_a = grid_limit_a
        self._arrivals = 0

    @property
    def evse_ids(self) -> frozenset[int]:
        return frozenset(self._evses)

    def active_transactions(self) -> dict[int, str]:
        return {i: e.transaction_id for i, e in self._evses.items() if e.transaction_id is not None}

    def evse_of_transaction(self, transaction_id: str) -> int | None:
        return next((i for i, e in self._evses.items() if e.transaction_id == transaction_id), None)

    def evse(self, evse_id: int) -> Evse:
        """Composite inputs of one EVSE; 0 = the grid connection (the sum of the EVSEs, or the grid limit)."""
        if evse_id == 0:
            total_a = sum(e.config.max_current_a for e in self._evses.values())
            cap_a = total_a if self.grid_limit_a is None else min(total_a, self.grid_limit_a)
            return Evse(0, cap_a, max(e.config.phases for e in self._evses.values()))
        now = self._evses[evse_id]
        return Evse(evse_id, now.config.max_current_a, now.config.phases, now.transaction_id,
                    now.transaction_started, now.external_limit_a)

    def charging_order(self) -> list[int]:
        """The EVSEs drawing current, first arrived first."""
        charging = [(e.charging_since, i) for i, e in self._evses.items() if e.charging]
        return [i for _, i in sorted(charging)]

    # ---- updates ----

    def transaction_started(self, evse_id: int, transaction_id: str, started_at: datetime) -> None:
        now = self._evses[evse_id]
        now.transaction_id, now.transaction_started = transaction_id, started_at

    def transaction_ended(self, evse_id: int) -> None:
        now = self._evses[evse_id]
        now.transaction_id = now.transaction_started = None

    def set_charging(self, evse_id: int, charging: bool) -> bool:
        """Whether the EVSE draws (or is about to draw) current; True when that changed."""
        now = self._evses[evse_id]
        if now.charging == charging:
            return False
        if charging:
            self._arrivals += 1
            now.charging_since = self._arrivals
        now.charging = charging
        return True

    def set_external_limit(self, evse_id: int, limit_a: float | None) -> None:
        self._evses[evse_id].external_limit_a = limit_a

    def configure(self, evse_id: int, **changes: float) -> None:
        now = self._evses[evse_id]
        now.config = replace(now.config, **changes)  # type: ignore[arg-type]
