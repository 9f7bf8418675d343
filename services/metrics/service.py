"""reon-metrics: follows the bus (last-value cache at start, then live state and heartbeats) and serves
Prometheus's text format on `[metrics] bind:port/metrics` (see contract.py; metric names in README.md)."""

from __future__ import annotations

import sys

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from bus import runtime
from bus.client import BusClient
from bus.envelope import Envelope
from services.metrics.collector import StationCollector
from services.metrics.contract import CONTRACT
from services.metrics.http_endpoint import MetricsEndpoint
from services.metrics.station_view import StationView
from station.config import StationConfig
from station.host import running_firmware_version


class MetricsService(runtime.Service):
    contract = CONTRACT

    def __init__(self, config: StationConfig, bus: BusClient) -> None:
        super().__init__(config, bus)
        self.view = StationView()
        version = running_firmware_version(config.paths.data_dir, config.station.firmware_version)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StationCollector(self.view, config.station.id, firmware_version=version,
                                                serial_number=config.station.serial_number))
        self.endpoint = MetricsEndpoint(self.render, config.metrics.bind, config.metrics.port)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    async def start(self) -> None:
        self.subscribe("", self._on_message)  # state (cached first, then live) and every heartbeat
        await self.endpoint.start()
        bind, port = self.endpoint.bind, self.endpoint.port
        await self.publish_state("endpoint", {"url": f"http://{bind}:{port}/metrics", "bind": bind, "port": port})
        self.log.info("serving /metrics on %s:%d", bind, port)

    def _on_message(self, topic: str, env: Envelope) -> None:
        self.view.apply(topic, env)

    async def stop(self) -> None:
        await self.endpoint.close()


def main() -> int:
    return runtime.main(MetricsService)


if __name__ == "__main__":
    sys.exit(main())
