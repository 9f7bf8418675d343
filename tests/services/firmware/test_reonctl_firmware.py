"""`reonctl firmware status` against the service running in-process."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from bus.harness import Probe
from bus.runtime import running
from reonctl.main import cli
from services.firmware.service import FirmwareService
from station.config import StationConfig


async def test_firmware_status_shows_the_job(station: StationConfig, probe: Probe) -> None:
    async with running(FirmwareService, station):
        await probe.call("firmware", "transactions_idle", {"idle": True})
        await probe.wait_for("firmware.state.job", lambda e: e.body["transactions_idle"] is True)
        args = ["--config", str(station.path), "firmware", "status"]
        shown = await asyncio.to_thread(CliRunner().invoke, cli, args)
        assert shown.exit_code == 0, shown.output
        assert shown.output.splitlines()[:3] == ["Firmware 0.1.1 running", "Update   none",
                                                 "Transactions idle; install pending: no"]
        as_json = await asyncio.to_thread(CliRunner().invoke, cli, [*args, "--json"])
        doc = json.loads(as_json.output)
        assert doc["job"]["status"] == "Idle" and doc["install_pending"]["pending"] is False


def test_firmware_status_of_a_station_that_is_down_exits_1(station: StationConfig) -> None:
    shown = CliRunner().invoke(cli, ["--config", str(station.path), "firmware", "status"])
    assert shown.exit_code == 1 and "does not answer" in shown.output
