"""A real Prometheus server scrapes reon-metrics of a simulated station while it charges: energy rises, the
transaction counters move by one, and every PromQL expression of deploy/grafana/reon-station.json returns data
with the labels its legend names."""

from __future__ import annotations

import json
import re
from pathlib import Path

from station.config import load_config
from tests.e2e.helpers import ROOT, poll, reonctl, wait_status
from tests.e2e.prometheus import Prometheus
from tests.stations import write_station

DASHBOARD = ROOT / "deploy" / "grafana" / "reon-station.json"
CARD = "04A1B2C3"


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(panel title, expr, legendFormat) of every target of every panel."""
    doc = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"], target.get("legendFormat", ""))
            for panel in doc["panels"] for target in panel.get("targets", [])]


def _ok(config: Path, *args: str) -> str:
    result = reonctl(config, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_prometheus_scrapes_a_charging_station_and_every_dashboard_query_returns_labelled_data(tmp_path) -> None:
    path = write_station(tmp_path, sim=True, evses=2)
    config = load_config(path)
    station = config.station.id
    prometheus = None
    try:
        _ok(path, "up", "--timeout", "60")
        wait_status(path, lambda d: d["csms"]["registration"] == "Accepted"
                    and d["evses"]["1"]["connector_status"] == "Available"
                    and d["services"].get("metrics", {}).get("alive"))
        prometheus = Prometheus(tmp_path, f"127.0.0.1:{config.metrics.port}")
        sel = f'{{station="{station}"}}'
        started_before = poll(lambda: prometheus.value(f"reon_transactions_started_total{sel}"),
                              lambda v: v is not None, what="reon_transactions_started_total in prometheus")
        ended_before = prometheus.value(f"sum(reon_transactions_ended_total{sel})") or 0.0
        energy = f'reon_evse_energy_import_joules_total{{station="{station}",evse="1"}}'
        energy_before = poll(lambda: prometheus.value(energy), lambda v: v is not None, what="energy in prometheus")

        _ok(path, "sim", "plug", "1")
        _ok(path, "sim", "swipe", "1", CARD)
        wait_status(path, lambda d: d["evses"]["1"]["charging_state"] == "Charging"
                    and d["evses"]["1"]["transaction_id"] is not None)
        poll(lambda: prometheus.value(f'reon_evse_power_watts{{station="{station}",evse="1"}}'),
             lambda v: v is not None and v > 1000, what="power of EVSE 1 in prometheus")
        energy_charging = poll(lambda: prometheus.value(energy), lambda v: v is not None and v > energy_before,
                               what="rising energy in prometheus")
        poll(lambda: prometheus.value(energy), lambda v: v is not None and v > energy_charging,
             what="energy rising again in prometheus")
        _ok(path, "sim", "unplug", "1")
        poll(lambda: prometheus.value(f"reon_transactions_started_total{sel}"), lambda v: v == started_before + 1,
             what="transactions started + 1")
        poll(lambda: prometheus.value(f"sum(reon_transactions_ended_total{sel})"), lambda v: v == ended_before + 1,
             what="transactions ended + 1")
        assert prometheus.value(f"sum(reon_transactions_started_total{sel})") == started_before + 1  # not 2

        for title, expr, legend in dashboard_queries():
            concrete = (expr.replace("$station", station).replace("$__rate_interval", "1m")
                        .replace("$__range", "5m"))
            assert "$" not in concrete, f"{title}: a Grafana variable the test does not know in {expr}"
            expected = {"station", *re.findall(r"\{\{(\w+)\}\}", legend)}
            result = poll(lambda q=concrete: prometheus.query(q), bool, timeout=15, what=f"{title}: {concrete}")
            for series in result:
                missing = expected - series["metric"].keys()
                assert not missing, f"{title}: {concrete} lacks labels {missing}: {series}"
                assert series["metric"]["station"] == station
    finally:
        if prometheus is not None:
            prometheus.close()
        reonctl(path, "down")
