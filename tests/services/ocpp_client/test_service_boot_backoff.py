"""A BootNotification that fails is retried with the reconnect back-off, not at a fixed interval (issue 11.9)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from bus.harness import remove_run_dir
from sim.csms import CsmsCallError
from station.config import StationConfig, load_config
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import DEVICE_MODEL_SEEDS, start_ocpp, wait_call
from tests.stations import write_station


@pytest.fixture
def station(tmp_path: Path) -> Iterator[StationConfig]:
    seeds = DEVICE_MODEL_SEEDS.replace('RetryBackOffWaitMinimum" = 0', 'RetryBackOffWaitMinimum" = 1') + (
        '"OCPPCommCtrlr.RetryBackOffRepeatTimes" = 2\n')
    config = load_config(write_station(tmp_path, sim=True, evses=2, extra=seeds))
    yield config
    remove_run_dir(config.paths.run_dir)


async def test_failed_boot_notifications_are_retried_with_a_doubling_back_off(
        station, csms, evse_io, modem) -> None:
    csms.set_response("BootNotification", CsmsCallError("InternalError", "CSMS database down"))
    async with start_ocpp(station):
        attempts = [await wait_call(csms, station, "BootNotification")]
        for _ in range(2):
            attempts.append(await wait_call(csms, station, "BootNotification", since=attempts[-1].index + 1,
                                            timeout=6))
        gaps = [b.time - a.time for a, b in pairwise(attempts)]
        # WaitMinimum 1 s doubled per failure (RandomRange 0): 1 s, then 2 s; the old code waited 1 s each time
        assert gaps[0] == pytest.approx(1.0, abs=0.4)
        assert gaps[1] == pytest.approx(2.0, abs=0.4)
