"""reonctl through click's runner, against a real broker where one is needed."""

import asyncio
import json

from click.testing import CliRunner

from bus.harness import BrokerThread
from reonctl.main import cli
from reonctl.status import healthy
from reonctl.status import render as render_status
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
                                      "last_heartbeat_s": None, "restarts": 0, "problems": []}
    assert set(doc) == {"station", "services", "csms", "evses", "meters", "modem", "firmware",
                        "reservations_any_evse"}
    assert set(doc["evses"]["1"]) == {"connector_status", "charging_state", "cp_state", "relays_closed",
                                      "current_limit_a", "current_limit_source", "transaction_id", "energy_wh",
                                      "power_w", "faults", "reservation"}
    assert doc["station"]["model"] == "REON" and doc["station"]["vendor"] == "REWATT"


def test_status_lists_each_problem_once_and_is_not_healthy_while_there_is_one() -> None:
    """Issue 11.5/11.8: a corrupt database or a full disk shows in `reonctl status`, not only in a log."""
    low = "low disk: 3.1 MB free in /var/lib/reon (needs 20 MB); new transactions are refused"
    doc = {"station": {"id": "T1", "serial_number": "S", "firmware_version": "1", "sim": False},
           "services": {name: {"state": "RUNNING", "pid": 1, "uptime_s": 5.0, "alive": True,
                               "last_heartbeat_s": 0.2, "restarts": 0, "problems": [low]}
                        for name in ("ocpp", "evse_io")},
           "csms": {"url": "ws://x", "connected": True, "registration": "Accepted", "queue_depth": 0,
                    "dead_letters": 0},
           "evses": {}, "meters": {},
           "modem": dict.fromkeys(("link", "operator", "registration", "signal_dbm", "iccid", "imsi")),
           "firmware": {"version": "1", "update_status": None}}
    text = render_status(doc)
    assert "PROBLEMS" in text and text.count(low) == 1
    assert not healthy(doc)
    for s in doc["services"].values():
        s["problems"] = []
    assert healthy(doc) and "PROBLEMS" not in render_status(doc)


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
    assert "umask = 077" in text  # every program's files are private to REON's user (issue 11.6)


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
