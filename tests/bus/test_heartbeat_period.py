"""Liveness with a long heartbeat period (`[bus] heartbeat_s`, 10 s by default): a service is in the broker's
table at once when it starts and when it meets a restarted broker, and a health problem goes out at once — none
of them waits for the next beat."""

from pathlib import Path

import pytest

from bus.contract import register_contract
from bus.harness import BrokerThread, Probe
from bus.runtime import running
from station import health
from station.config import ConfigError, load_config
from tests.bus.test_runtime import station_file
from tests.bus.toy_service import Toy

PERIOD_S = 30.0
SOON_S = 5.0  # far below the period: only an immediate beat can meet it


def _config(tmp_path: Path, run_dir: Path, bus: str = f"[bus]\nheartbeat_s = {PERIOD_S}\n"):
    path = station_file(tmp_path, run_dir)
    path.write_text(path.read_text() + bus)
    return load_config(path)


def _alive(name: str):
    return lambda e: e.body["services"].get(name, {}).get("alive") is True


@pytest.fixture
async def slow_bus(run_dir: Path):
    """A broker beating every PERIOD_S and a probe on it."""
    register_contract(Toy.contract)
    broker = BrokerThread(run_dir, heartbeat_s=PERIOD_S).start()
    probe = Probe(run_dir)
    await probe.start()
    yield broker, probe
    health.clear("test")
    await probe.close()
    broker.stop()


async def test_a_service_is_alive_at_once_at_start_and_after_a_broker_restart(tmp_path, run_dir, slow_bus) -> None:
    broker, probe = slow_bus
    async with running(Toy, _config(tmp_path, run_dir)):
        await probe.wait_for("bus.state.services", _alive("toy"), SOON_S)
        broker.restart()  # the new broker knows nobody
        await probe.wait_for("bus.state.services", _alive("toy"), SOON_S)


async def test_a_health_problem_reaches_the_broker_without_waiting_for_the_next_beat(tmp_path, run_dir,
                                                                                     slow_bus) -> None:
    _, probe = slow_bus
    async with running(Toy, _config(tmp_path, run_dir)):
        await probe.wait_for("bus.state.services", _alive("toy"), SOON_S)
        health.report("test", "disk on fire")
        await probe.wait_for("bus.state.services", lambda e: e.body["services"]["toy"].get(
            "problems") == ["disk on fire"], SOON_S)
        health.clear("test")
        await probe.wait_for("bus.state.services", lambda e: not e.body["services"]["toy"].get("problems"), SOON_S)


def test_the_period_is_checked_when_the_file_is_read(tmp_path, run_dir) -> None:
    assert _config(tmp_path, run_dir, "").bus.heartbeat_s == 10.0
    with pytest.raises(ConfigError, match=r"bus\.heartbeat_s"):
        _config(tmp_path, run_dir, "[bus]\nheartbeat_s = 0\n")
