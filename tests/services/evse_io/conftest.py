"""Shared set-ups for the ChargingControl tests: a fake wall clock, an idle EVSE, an EVSE charging."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.evse_io.charging import ChargingConfig, ChargingControl
from services.evse_io.pilot import CpState, PpState

TOKEN = {"idToken": "04A1B2C3", "type": "ISO14443"}


class FakeWallClock:
    """Wall-clock time that moves only when told."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def wall_clock() -> FakeWallClock:
    return FakeWallClock()


@pytest.fixture
def ready(wall_clock: FakeWallClock) -> Callable[..., ChargingControl]:
    """Factory of an idle EVSE: link up, relays reported open, a 32 A cable coding, 32 A hardware."""

    def make(config: ChargingConfig | None = None) -> ChargingControl:
        control = ChargingControl(1, config or ChargingConfig(), wall_clock)
        control.on_link(True, 0.0)
        control.on_relays(False, 0.0)
        control.on_pp_state(PpState.A32, 0.0)
        control.on_hw_caps(32.0, 6.0, 0.0)
        return control

    return make


@pytest.fixture
def charging() -> Callable[..., ChargingControl]:
    """Takes an idle EVSE to Charging: plug at ``now``, authorize, C, relays closed at now + 1.05."""

    def drive(control: ChargingControl, now: float = 10.0) -> ChargingControl:
        control.on_cp_state(CpState.B, now)
        control.authorize(True, now, id_token=TOKEN)
        control.on_cp_state(CpState.C, now + 1)
        control.on_relays(True, now + 1.05)
        assert control.charging_state == "Charging"
        return control

    return drive
