"""reon-metrics in-process on a real broker: it follows cached and live state and serves it over real HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bus.client import BusClient
from bus.harness import BrokerThread, Probe, remove_run_dir
from bus.runtime import running
from services.metrics.service import MetricsService
from station.config import ConfigError, load_config
from tests.stations import write_station


async def http_get(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    status, body = await http_get(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200
    return {(s.name, frozenset((k, v) for k, v in s.labels.items() if k != "station")): s.value
            for f in text_string_to_metric_families(body.decode()) for s in f.samples}


async def scrape_until(port: int, key: tuple[str, frozenset], value: float, timeout: float = 5.0) -> dict:
    """Scrape until the series has the value: the exporter gets bus messages asynchronously."""
    async with asyncio.timeout(timeout):
        while True:
            found = await scrape(port)
            if found.get(key) == value:
                return found
            await asyncio.sleep(0.05)


@pytest.fixture
async def station(tmp_path) -> AsyncIterator:
    path = write_station(tmp_path, sim=True, evses=1)
    path.write_text(path.read_text().replace("[metrics]\nport = ", "[metrics]\nport = 0\n# was "))
    config = load_config(path)
    broker = BrokerThread(config.paths.run_dir, heartbeat_s=0.2).start()
    meter = BusClient(config.paths.run_dir, "meter")
    await meter.start()
    try:
        yield dataclasses.make_dataclass("S", ["config", "meter"])(config, meter)
    finally:
        await meter.close()
        broker.stop()
        remove_run_dir(config.paths.run_dir)


async def test_exporter_serves_cached_then_live_state_over_http(station) -> None:
    sample = {"evse": 1, "energy_import_wh": 10.0, "power_w": 7000.0, "current_a_per_phase": [10.0],
              "voltage_v_per_phase": [230.0], "read_at": 1.0}
    await station.meter.publish_state("meter.1", {"model": "SDM630", "link": "ok", "sample": sample})
    async with running(MetricsService, station.config, heartbeat_s=0.2) as service:
        port = service.endpoint.port
        probe = Probe(station.config.paths.run_dir)
        await probe.start()
        try:
            _, env = await probe.wait_for("metrics.state.endpoint")
            assert env.body["port"] == port
        finally:
            await probe.close()
        power = ("reon_evse_power_watts", frozenset({("evse", "1")}))
        found = await scrape_until(port, power, 7000.0)  # from the broker's cache
        assert found[("reon_service_up", frozenset({("service", "meter")}))] == 1
        assert found[("reon_service_up", frozenset({("service", "metrics")}))] == 1
        assert found[("reon_service_resident_memory_bytes", frozenset({("service", "metrics")}))] > 1e6
        await station.meter.publish_state("meter.1", {"model": "SDM630", "link": "ok",
                                                      "sample": {**sample, "power_w": 3500.0}})
        await scrape_until(port, power, 3500.0)  # live


async def test_exporter_answers_other_paths_and_garbage_without_dying(station) -> None:
    async with running(MetricsService, station.config, heartbeat_s=0.2) as service:
        port = service.endpoint.port
        assert (await http_get(port, b"GET / HTTP/1.1\r\n\r\n"))[0] == 404
        assert (await http_get(port, b"POST /metrics HTTP/1.1\r\n\r\n"))[0] == 405
        assert (await http_get(port, b"\x00\xff garbage\r\n\r\n"))[0] == 400
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /" + b"a" * 20_000)  # over the head limit: the connection is closed
        await writer.drain()
        writer.close()
        assert (await scrape(port))  # still serving


def test_metrics_table_defaults_follow_sim_and_bad_values_name_the_key(tmp_path) -> None:
    assert load_config(write_station(tmp_path, sim=True)).metrics.enabled is True
    off = write_station(tmp_path, sim=False)
    assert load_config(off).metrics.enabled is False
    path = write_station(tmp_path, sim=True, extra='[metrics]\nport = 70000\n')
    with pytest.raises(ConfigError, match=r"metrics\.port"):
        load_config(path)
