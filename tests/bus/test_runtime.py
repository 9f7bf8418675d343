"""The service runtime in real processes: start, state at start, commands, SIGTERM, bad config, contract."""

import asyncio
import os
import signal
import sys
from pathlib import Path

from bus.contract import register_contract
from tests.bus.toy_service import Toy

ROOT = Path(__file__).resolve().parents[2]
TOY = Path(__file__).with_name("toy_service.py")


def station_file(tmp_path: Path, run_dir: Path) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(f"""
[station]
id = "T1"
serial_number = "S1"
firmware_version = "1"
[paths]
run_dir = "{run_dir}"
data_dir = "{tmp_path / 'data'}"
log_dir = "{tmp_path / 'log'}"
[csms]
url = "ws://127.0.0.1:1"
password = "password-1234567"
[[evse]]
id = 1
""")
    return path


async def spawn(*args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(sys.executable, str(TOY), *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_service_publishes_state_serves_commands_and_stops_on_sigterm(tmp_path, run_dir, probe) -> None:
    register_contract(Toy.contract)
    proc = await spawn("--config", str(station_file(tmp_path, run_dir)), "--log-format", "json")
    _, env = await probe.wait_for("toy.state.info", timeout=10)
    assert env.body == {"greeting": "hello"}
    await probe.wait_for("bus.state.services", lambda e: e.body["services"].get("toy", {}).get("alive"))
    assert await probe.call("toy", "echo", {"x": [1, 2]}) == {"x": [1, 2]}
    loop = asyncio.get_running_loop()
    start = loop.time()
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 5)
    assert proc.returncode == 0
    assert loop.time() - start < 2.0
    assert b'"msg": "stopped"' in out and b'"service": "toy"' in out


async def test_bad_config_exits_2_with_one_line_naming_the_key(tmp_path, run_dir) -> None:
    path = station_file(tmp_path, run_dir)
    path.write_text(path.read_text().replace('url = "ws://127.0.0.1:1"', 'url = "ftp://x"'))
    proc = await spawn("--config", str(path))
    _, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert lines == ["reon-toy: bad config: csms.url: must start with ws:// or wss://, got 'ftp://x'"]


async def test_service_without_a_handler_for_a_contract_command_refuses_to_start(tmp_path, run_dir, broker) -> None:
    proc = await spawn("--config", str(station_file(tmp_path, run_dir)), "--broken")
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 3
    assert b"no handler for command(s) missing" in out


async def test_readable_log_lines_by_default(tmp_path, run_dir, probe) -> None:
    proc = await spawn("--config", str(station_file(tmp_path, run_dir)))
    await probe.wait_for("toy.state.info", timeout=10)
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 5)
    assert b" toy INFO toy started" in out


async def test_a_database_that_cannot_be_opened_is_shown_on_the_bus_without_a_restart_loop(
        tmp_path, run_dir, probe) -> None:
    """Issue 11.5: no traceback loop; one line naming the file, and the problem in the liveness table."""
    register_contract(Toy.contract)
    (tmp_path / "data" / "toy.db").mkdir(parents=True)  # stands for an unopenable file (root ignores modes)
    proc = await spawn("--stored", "--config", str(station_file(tmp_path, run_dir)))
    try:
        _, env = await probe.wait_for("bus.state.services",
                                      lambda e: e.body["services"].get("toy", {}).get("problems"), timeout=10)
        [problem] = env.body["services"]["toy"]["problems"]
        assert "cannot open database" in problem and str(tmp_path / "data" / "toy.db") in problem
        assert proc.returncode is None  # it stays up, beating, instead of restarting at once
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 5)
    assert proc.returncode == 1 and b"Traceback" not in out + err
    assert (out + err).count(b"cannot open database") == 1
