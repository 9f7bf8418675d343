"""`reonctl sim …` through click's runner against reon-sim running in-process (the runner in a thread)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner, Result

from bus.contract import Contract, load_contract, register_contract
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


async def test_swipe_of_something_no_card_reader_could_send_is_refused_with_a_hint(tmp_path: Path) -> None:
    """Issue 11.14: `swipe 1 RFID_VALID1` used to print "card presented" while the reader driver dropped it."""
    async with sim_station(tmp_path) as station:
        swiped = station.probe.subscribe("sim.evt.swiped")
        result = await reonctl(station, "sim", "swipe", "1", "RFID_VALID1")
        assert result.exit_code == 1
        assert "not a card UID" in result.output and "reonctl sim token" in result.output
        for uid in ("04A1B2", "04A1B2C3D4"):  # 3 and 5 bytes: no such card
            assert (await reonctl(station, "sim", "swipe", "1", uid)).exit_code == 1
        assert (await reonctl(station, "sim", "swipe", "1", "04:a1:b2:c3")).exit_code == 0
        _, envelope = await swiped.get(timeout=3)
        assert envelope.body["token"] == "04:a1:b2:c3"  # the only one that reached the reader


async def test_token_enters_a_non_card_token_through_evse_io(tmp_path: Path) -> None:
    """`reonctl sim token` hands the token to evse_io's present_token (here the probe stands in for evse_io)."""
    async with sim_station(tmp_path) as station:
        asked: list[dict] = []

        async def present_token(args: dict) -> dict:
            asked.append(args)
            return {"evse": args["evse"], "id_token": args["id_token"]}

        real = load_contract("evse_io")
        only = Contract("evse_io", "stand-in", commands=tuple(c for c in real.commands if c.name == "present_token"))
        await station.probe.implement("evse_io", {"present_token": present_token}, only)
        try:
            result = await reonctl(station, "sim", "token", "2", "RFID_VALID1", "--type", "Central")
        finally:
            register_contract(real)  # the registry is per process: leave the real contract for later tests
        assert result.exit_code == 0, result.output
        assert result.output == "EVSE 2: token RFID_VALID1 (Central) presented\n"
        assert asked == [{"evse": 2, "id_token": {"idToken": "RFID_VALID1", "type": "Central"}}]
