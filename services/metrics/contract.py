"""Contract of reon-metrics: it only listens to the bus and serves Prometheus's text format on HTTP.

It follows the state every service publishes (the broker's last-value cache at start, then live) and every
heartbeat; `/metrics` renders from that latest state at each scrape (metric names: services/metrics/README.md).
"""

from bus.contract import Contract, Topic

CONTRACT = Contract(
    service="metrics",
    doc="Prometheus exporter: serves the station's published state as metrics on HTTP /metrics",
    state=(
        Topic("endpoint", {"url": "str", "bind": "str", "port": "int"},
              "where /metrics is served ([metrics] bind and port); published at start"),
    ),
)
