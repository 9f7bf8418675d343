"""A grid connection limit from the station file (`[station] grid_limit_a`) is shared by the charging EVSEs
without any profile from the CSMS (issue 13: station-level load management beyond the spec)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.harness import remove_run_dir
from services.evse_io import charging_decisions
from station.config import StationConfig, load_config
from tests.services.ocpp_client.test_service_smart_charging import SOURCE, evse_limit, pwm_offers
from tests.services.ocpp_client.tx_world import *  # noqa: F403
from tests.services.ocpp_client.tx_world import Drive, sim_station


@pytest.fixture
def station(tmp_path: Path) -> Iterator[StationConfig]:
    config = sim_station(tmp_path)
    config.path.write_text(config.path.read_text().replace("[station]\n", "[station]\ngrid_limit_a = 20\n", 1))
    config = load_config(config.path)
    assert config.station.grid_limit_a == 20
    yield config
    remove_run_dir(config.paths.run_dir)


@pytest.fixture(autouse=True)
def fast_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charging_decisions, "DUTY_RAISE_INTERVAL_S", 0.0)


async def test_two_evses_share_the_configured_grid_limit_and_one_gets_it_back(ocpp, drive: Drive, probe) -> None:
    await drive.charging(1)
    await pwm_offers(probe, 1, 20.0)  # one EV: the whole grid limit, not its 32 A
    await drive.plug(2)
    await drive.swipe(evse=2)
    await pwm_offers(probe, 2, 10.0)
    await pwm_offers(probe, 1, 10.0)
    state = await evse_limit(probe, 2, lambda b: b["current_limit_a"] == 10.0)
    assert state["current_limit_source"]["source"] == SOURCE["source"]
    await drive.unplug(2)
    await pwm_offers(probe, 1, 20.0)
