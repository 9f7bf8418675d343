"""reonctl through click's runner, against a real broker where one is needed."""

import asyncio
import json

from click.testing import CliRunner

from bus.harness import BrokerThread
from reonctl.main import cli
from station.config import load_config
from station.supervisor import render
from tests.stations import write_station


def test_contract_prints_the_declared_contracts() -> None:
    result = CliRunner().invoke(cli, ["contract", "bus"])
    assert result.exit_code == 0
    assert "bus.state.services" in result.output and "snapshot (idempotent)" in result.output
    result = CliRunner().invoke(cli, ["contract", "nonexistent"])
    assert result.exit_code == 1 and "no contract" in result.output


def test_bad_config_exits_2_naming_the_key(tmp_path) -> None:
    path = write_station(tmp_path)
    path.write_text(path.read_text().replace("security_profile = 1", "security_profile = 9"))
    result = CliRunner().invoke(cli, ["--config", str(path), "status"])
    assert result.exit_code == 2
    assert "csms.security_profile: must be ≤ 3, got 9" in result.output


def test_status_of_a_station_that_is_not_running_exits_1(tmp_path) -> None:
    path = write_station(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(path), "status", "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["services"]["bus"] == {"state": "NOT_STARTED", "pid": None, "uptime_s": None, "alive": False,
                                      "last_heartbeat_s": None, "restarts": 0}
    assert set(doc) == {"station", "services", "csms", "evses", "meters", "modem", "firmware"}
    assert set(doc["evses"]["1"]) == {"connector_status", "charging_state", "cp_state", "relays_closed",
                                      "current_limit_a", "current_limit_source", "transaction_id", "energy_wh",
                                      "power_w", "faults"}
    assert doc["station"]["model"] == "REON" and doc["station"]["vendor"] == "REWATT"


def test_restart_of_an_unknown_service_is_refused(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(write_station(tmp_path)), "restart", "toaster"])
    assert result.exit_code == 2 and "unknown service 'toaster'" in result.output


def test_rendered_supervisord_config_takes_every_path_from_the_station(tmp_path) -> None:
    config = load_config(write_station(tmp_path))
    text = render(config)
    assert f"file = {config.paths.run_dir}/supervisor.sock" in text
    assert f"stdout_logfile = {config.paths.log_dir}/bus.log" in text
    assert text.index("[program:bus]") < text.index("[program:csms]") or "[program:csms]" not in text
    assert "priority = 10" in text and "autorestart = true" in text and "stdout_logfile_maxbytes" in text


async def test_events_prints_decoded_bus_messages(tmp_path) -> None:
    config = load_config(write_station(tmp_path))
    broker = BrokerThread(config.paths.run_dir).start()
    try:
        runner = CliRunner()
        result = await asyncio.to_thread(runner.invoke, cli, ["--config", str(config.path), "events", "bus.state.",
                                                                "--count", "2"])
        assert result.exit_code == 0, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 2 and all(" bus.state." in line for line in lines)
    finally:
        broker.stop()


def test_status_names_where_the_current_limit_comes_from() -> None:
    from reonctl.status import _limit_source
    assert _limit_source({"source": "smart_charging", "purpose": "TxProfile", "profile_id": 3}) == (
        "smart_charging TxProfile #3")
    assert _limit_source({"source": "default"}) == "default"
    assert _limit_source(None) is None
