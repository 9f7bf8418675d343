"""A Prometheus server of its own for tests and the dashboard preview: config and data dir in a tmp dir."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import poll
from tests.stations import free_port


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail("the prometheus binary is missing: `apt-get install -y prometheus` (.ci/run installs it)")
    return found


class Prometheus:
    """A Prometheus server of its own: config and data dir in tmp, scraping one target every second."""

    def __init__(self, tmp: Path, target: str) -> None:
        self.port = free_port()
        config = tmp / "prometheus.yml"
        config.write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: reon
    static_configs:
      - targets: ["{target}"]
""")
        self.log = (tmp / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [prometheus_binary(), f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"], stdout=self.log, stderr=subprocess.STDOUT)
        poll(self._ready, bool, timeout=30, what="prometheus /-/ready")

    def _ready(self) -> bool:
        assert self.proc.poll() is None, "prometheus exited; see prometheus.log"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                doc = json.load(answer)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"prometheus refused {expr}: {exc.read().decode()}") from None
        assert doc["status"] == "success", doc
        return doc["data"]["result"]

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step_s})
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/query_range?{query}", timeout=10) as answer:
            return json.load(answer)["data"]["result"]

    def value(self, expr: str) -> float | None:
        """The value of a query returning one series, None while it returns none."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
