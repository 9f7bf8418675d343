"""The limiter with an injected clock: boundaries, sharing the station cap, pausing below 6 A, applying only
changes. The asyncio loop test uses a clock that jumps to the boundary the limiter sleeps towards."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.ocpp_client.smart_charging.limiter import Limiter
from services.ocpp_client.smart_charging.station import EvseConfig, StationView
from services.ocpp_client.smart_charging.store import ProfileStore
from tests.services.ocpp_client.smart_charging.builders import T0, at, open_db, profile


class World:
    def __init__(self, path: Path, evses: int = 2, grid_limit_a: float | None = None) -> None:
        self.clock = T0
        self.store = ProfileStore(open_db(path))
        self.station = StationView([EvseConfig(i, 32.0) for i in range(1, evses + 1)], grid_limit_a)
        self.applied: list[tuple[int, float | None, dict[str, Any]]] = []
        self._changed = asyncio.Event()
        self.limiter = Limiter(self.store, self.station, self.apply, lambda: self.clock)

    def apply(self, evse_id: int, current_a: float | None, source: dict[str, Any]) -> None:
        self.applied.append((evse_id, current_a, source))
        self._changed.set()

    async def applied_at_least(self, count: int, timeout_s: float = 3.0) -> None:
        """Wait until `count` limits have been applied (each apply wakes this)."""
        async with asyncio.timeout(timeout_s):
            while len(self.applied) < count:
                self._changed.clear()
                await self._changed.wait()

    def take(self) -> list[tuple[int, float | None]]:
        taken = [(evse_id, current_a) for evse_id, current_a, _ in self.applied]
        self.applied.clear()
        return taken


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "ocpp.db")


async def test_no_profile_means_no_limit_and_nothing_is_reapplied(world: World) -> None:
    assert await world.limiter.update() == T0 + timedelta(days=1)
    assert world.take() == [(1, None), (2, None)]
    await world.limiter.update()
    assert world.take() == []


async def test_tx_profile_steps_32_10_16_at_each_boundary(world: World) -> None:
    world.station.transaction_started(1, "TX-1", T0)
    world.store.put(profile(1, purpose="TxProfile", transaction_id="TX-1", kind="Relative",
                            periods=[(0, 32.0), (600, 10.0), (1200, 16.0)]))
    assert await world.limiter.update() == at(600)
    assert world.take() == [(1, 32.0), (2, None)]
    world.clock = at(600)
    assert await world.limiter.update() == at(1200)
    assert world.take() == [(1, 10.0)]
    world.clock = at(1200)
    assert await world.limiter.update() == T0 + timedelta(seconds=1200 + 86400)
    assert world.take() == [(1, 16.0)]
    assert world.applied == [] and world.limiter.applied[1].source.as_dict() == {
        "purpose": "TxProfile", "profile_id": 1}


async def test_limit_below_6_a_pauses(world: World) -> None:
    world.store.put(profile(1, periods=[(0, 5.0), (60, 6.0)]))
    await world.limiter.update()
    assert world.take() == [(1, 0.0), (2, None)]
    world.clock = at(60)
    await world.limiter.update()
    assert world.take() == [(1, 6.0)]


async def test_two_charging_evses_share_a_32_a_station_cap(world: World) -> None:
    world.store.put(profile(0, purpose="ChargingStationMaxProfile", profile_id=9, periods=[(0, 32.0)]))
    world.station.set_charging(1, True)
    await world.limiter.update()
    assert world.take() == [(1, 32.0), (2, 0.0)]  # idle EVSE 2 gets what is left: nothing
    world.station.set_charging(2, True)
    await world.limiter.update()
    assert sorted(world.take()) == [(1, 16.0), (2, 16.0)]
    assert world.limiter.applied[2].source.as_dict() == {"purpose": "LoadManagement", "profile_id": 9}
    world.station.set_charging(1, False)  # EV 1 pauses: EVSE 2 gets the whole cap back
    await world.limiter.update()
    assert sorted(world.take()) == [(1, 0.0), (2, 32.0)]


async def test_an_evse_wanting_less_leaves_the_rest_to_the_other(world: World) -> None:
    world.station.grid_limit_a = 40.0
    world.store.put(profile(1, periods=[(0, 10.0)]))
    world.station.set_charging(1, True)
    world.station.set_charging(2, True)
    await world.limiter.update()
    assert sorted(world.take()) == [(1, 10.0), (2, 30.0)]


async def test_a_cap_too_small_for_both_keeps_the_first_arrived_charging(tmp_path: Path) -> None:
    world = World(tmp_path / "ocpp.db", evses=3, grid_limit_a=14.0)
    for evse_id in (2, 1, 3):
        world.station.set_charging(evse_id, True)
    await world.limiter.update()
    assert sorted(world.take()) == [(1, 7.0), (2, 7.0), (3, 0.0)]


async def test_validity_end_is_a_boundary_and_the_expired_profile_is_deleted(world: World) -> None:
    world.store.put(profile(1, periods=[(0, 8.0)], valid_to=at(90)))
    assert await world.limiter.update() == at(90)
    world.clock = at(90)
    await world.limiter.update()
    assert world.take() == [(1, 8.0), (2, None), (1, None)]
    assert len(world.store) == 0


async def test_run_sleeps_until_the_boundary_and_wakes_on_change(world: World) -> None:
    """One timer: the loop sleeps until the boundary (the clock jumps there) and a wake() re-computes at once."""
    world.store.put(profile(1, periods=[(0, 8.0), (3600, 12.0)]))
    loop_clock: list[datetime] = []

    async def jumping_sleep(wake: asyncio.Event, delay_s: float) -> None:
        loop_clock.append(world.clock + timedelta(seconds=delay_s))
        try:
            async with asyncio.timeout(0.05):
                await wake.wait()
        except TimeoutError:
            world.clock = loop_clock[-1]  # the hour passed

    world.limiter.sleep = jumping_sleep
    task = asyncio.create_task(world.limiter.run())
    try:
        await world.applied_at_least(3)
        assert world.take() == [(1, 8.0), (2, None), (1, 12.0)]
        assert loop_clock[0] == at(3600)
        world.store.put(profile(2, profile_id=2, periods=[(0, 6.0)]))
        world.limiter.wake()
        await world.applied_at_least(1)
        assert world.take() == [(2, 6.0)]
    finally:
        task.cancel()


async def test_a_limit_that_fails_to_apply_is_retried_and_does_not_block_the_others(world: World) -> None:
    world.store.put(profile(1, periods=[(0, 10.0)]))
    world.store.put(profile(2, profile_id=2, periods=[(0, 12.0)]))
    failing = {1}

    def apply(evse_id: int, current_a: float | None, source: dict[str, Any]) -> None:
        if evse_id in failing:
            raise RuntimeError("evse_io is restarting")
        world.applied.append((evse_id, current_a, source))

    world.limiter.apply_limit = apply
    assert await world.limiter.update() == at(5)  # retry soon, not in a day
    assert world.take() == [(2, 12.0)]
    failing.clear()
    world.clock = at(5)
    await world.limiter.update()
    assert world.take() == [(1, 10.0)]
