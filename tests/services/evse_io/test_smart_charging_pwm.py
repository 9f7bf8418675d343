"""A limit becomes PWM duty on the MCU wire: the smart charging block (real SQLite, injected clock) drives the
real evse_io service over the bus, against simulated MCU boards. The 5 s raise rule of evse_io is shortened
to keep the test fast (it is tested on its own in test_charging.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.evse_io import charging_decisions
from services.evse_io.pilot import DUTY_NO_PWM, current_to_duty
from services.ocpp_client.smart_charging.block import EVSE_IO_SOURCE, SmartCharging
from services.ocpp_client.smart_charging.station import EvseConfig
from services.ocpp_client.smart_charging.variables import Settings
from tests.services.evse_io.test_service import TOKEN, charge

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def relative_tx_profile(profile_id: int, tx_id: str, periods: list[tuple[int, float]]) -> dict[str, Any]:
    return {"id": profile_id, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "transactionId": tx_id,
            "chargingProfileKind": "Relative",
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [
                {"startPeriod": s, "limit": limit} for s, limit in periods]}]}


@pytest.fixture
def fast_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charging_decisions, "DUTY_RAISE_INTERVAL_S", 0.0)


def make_block(tmp_path: Path, probe, clock: Clock, grid_limit_a: float | None = None) -> SmartCharging:
    async def apply_limit(evse_id: int, current_a: float | None, origin: dict[str, Any]) -> None:
        await probe.call("evse_io", "set_current_limit",
                         {"evse": evse_id, "amps": current_a, "source": EVSE_IO_SOURCE, "origin": origin})

    async def send(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {}

    db = sqlite3.connect(tmp_path / "ocpp.db", isolation_level=None)
    return SmartCharging(db, [EvseConfig(1, 32.0), EvseConfig(2, 32.0)], Settings, clock, send, apply_limit,
                         grid_limit_a)


async def test_tx_profile_32_10_16_a_and_the_pwm_duty_follows(
        tmp_path, evse_io, boards, probe, evse_state, fast_raise) -> None:
    clock = Clock()
    block = make_block(tmp_path, probe, clock)
    await charge(boards[1], probe, evse_state)
    block.transaction_started(1, "TX-1", T0)
    answer = await block.handlers()["SetChargingProfile"](
        {"evseId": 1, "chargingProfile": relative_tx_profile(1, "TX-1", [(0, 32.0), (600, 10.0), (1200, 16.0)])})
    assert answer == {"status": "Accepted"}
    assert await block.limiter.update() == T0 + timedelta(seconds=600)
    await boards[1].wait_for(lambda s: s.pwm_duty_0_01pct == current_to_duty(32.0))
    clock.now = T0 + timedelta(seconds=600)
    await block.limiter.update()
    await boards[1].wait_for(lambda s: s.pwm_duty_0_01pct == current_to_duty(10.0))
    clock.now = T0 + timedelta(seconds=1200)
    await block.limiter.update()
    await boards[1].wait_for(lambda s: s.pwm_duty_0_01pct == current_to_duty(16.0))
    state = await evse_state(1, lambda s: s["current_limit_a"] == 16.0)
    assert state["current_limit_source"] == {"source": EVSE_IO_SOURCE, "purpose": "TxProfile", "profile_id": 1}
    block.transaction_ended(1, "TX-1")  # its TxProfile goes: no smart charging limit left
    await block.limiter.update()
    await evse_state(1, lambda s: s["current_limit_a"] is None)


async def test_two_evses_share_a_32_a_station_cap_on_the_wire(
        tmp_path, evse_io, boards, probe, evse_state, fast_raise) -> None:
    clock = Clock()
    block = make_block(tmp_path, probe, clock)
    cap = {"id": 9, "stackLevel": 0, "chargingProfilePurpose": "ChargingStationMaxProfile",
           "chargingProfileKind": "Absolute", "chargingSchedule": [
               {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}]}]}
    assert (await block.handlers()["SetChargingProfile"]({"evseId": 0, "chargingProfile": cap}))["status"] == (
        "Accepted")
    await charge(boards[1], probe, evse_state, 1)
    block.charging_changed(1, True)
    await block.limiter.update()
    await boards[1].wait_for(lambda s: s.pwm_duty_0_01pct == current_to_duty(32.0))
    boards[2].plug()  # EVSE 2 is held at 0 A: authorized, but no PWM until re-balanced
    await evse_state(2, lambda s: s["charging_state"] == "EVConnected")
    await probe.call("evse_io", "authorize", {"evse": 2, "allowed": True, "id_token": TOKEN})
    await evse_state(2, lambda s: s["charging_state"] == "SuspendedEVSE")
    assert boards[2].state.pwm_duty_0_01pct == DUTY_NO_PWM
    block.charging_changed(2, True)
    await block.limiter.update()
    for evse_id in (1, 2):
        await boards[evse_id].wait_for(lambda s: s.pwm_duty_0_01pct == current_to_duty(16.0))
    block.charging_changed(2, False)  # EV 2 finished: EVSE 1 gets the whole cap back
    await block.limiter.update()
    await boards[1].wait_for(lambda s: s.pwm_duty_0_01pct == current_to_duty(32.0))
