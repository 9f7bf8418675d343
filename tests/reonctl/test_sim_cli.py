"""`reonctl sim …` through click's runner against reon-sim running in-process (the runner in a thread)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner, Result

from bus.harness import remove_run_dir
from reonctl.main import cli
from station.config import load_config
from tests.sim.sim_station import SimStation, sim_station
from tests.stations import write_station


async def reonctl(station: SimStation, *args: str) -> Result:
    """Run `reonctl --config <station> args…` while the service keeps running on this loop."""
    return await asyncio.to_thread(CliRunner().invoke, cli, ["--config", str(station.config.path), *args])


async def test_plug_prints_one_line_and_plugs_the_ev(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station:
        result = await reonctl(station, "sim", "plug", "1", "--cable-a", "20")
        assert result.exit_code == 0, result.output
        assert result.output.startswith("EVSE 1: EV plugged (20 A cable, max 32 A), CP B, PWM off, relays open")
        assert len(result.output.strip().splitlines()) == 1
        await station.world_of(1, lambda w: w["ev_plugged"] and w["cable_a"] == 20)


async def test_every_evse_command_reaches_the_sim(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station:
        for args, expect in (
            (("plug", "2"), "EV plugged"),
            (("ev-pause", "2"), "paused)"),
            (("ev-resume", "2"), "max 32 A)"),
            (("set-ev-max-current", "2", "16"), "max 16 A)"),
            (("fault", "2", "rcd"), "faults: rcd,"),
            (("clear-fault", "2"), "faults: none,"),
            (("meter-offline", "2"), "meter SDM630@2 OFFLINE"),
            (("meter-online", "2"), "meter SDM630@2 online"),
            (("unplug", "2"), "EVSE 2: no EV, CP A"),
        ):
            result = await reonctl(station, "sim", *args)
            assert result.exit_code == 0 and expect in result.output, (args, result.output)
        world = await station.call("state")
        assert world["evses"][1]["ev_max_current_a"] == 16


async def test_swipe_and_modem_print_what_happened(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station:
        result = await reonctl(station, "sim", "swipe", "1", "04A1B2C3")
        assert result.output == "EVSE 1: card 04A1B2C3 presented\n"
        result = await reonctl(station, "sim", "modem", "no-sim")
        assert result.exit_code == 0 and "SIM missing" in result.output


async def test_state_prints_each_evse_and_the_modem(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station:
        await station.call("plug", evse=1)
        result = await reonctl(station, "sim", "state")
        lines = result.output.strip().splitlines()
        assert result.exit_code == 0 and len(lines) == 3
        assert lines[0].startswith("EVSE 1: EV plugged") and lines[1].startswith("EVSE 2: no EV")
        assert lines[2].startswith("modem (quectel): present")
        as_json = json.loads((await reonctl(station, "sim", "state", "--json")).output)
        assert as_json["evses"][0]["ev_plugged"] is True


async def test_a_refusal_prints_why_and_exits_1(tmp_path: Path) -> None:
    async with sim_station(tmp_path) as station:
        result = await reonctl(station, "sim", "ev-pause", "1")
        assert result.exit_code == 1
        assert "sim ev_pause refused: not_plugged: no EV is plugged into EVSE 1" in result.output
        result = await reonctl(station, "sim", "plug", "7")
        assert result.exit_code == 1 and "unknown_evse" in result.output


def test_a_station_that_is_not_running_gets_a_clear_message_and_exit_1(tmp_path: Path) -> None:
    config = load_config(write_station(tmp_path))
    try:
        result = CliRunner().invoke(cli, ["--config", str(config.path), "sim", "plug", "1"])
        assert result.exit_code == 1
        assert result.output.startswith(f"reonctl sim: reon-sim is not running for station {config.station.id}")
    finally:
        remove_run_dir(config.paths.run_dir)
