"""Render docs/reon-station-dashboard.png: panels of deploy/grafana/reon-station.json drawn with matplotlib from
a real Prometheus scraping a simulated station through two charging sessions (not a Grafana screenshot).

Needs the `prometheus` binary and matplotlib (dev extra). Takes about two minutes:
    .venv/bin/python docs/dashboard_preview.py
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from station.config import load_config  # noqa: E402
from tests.e2e.helpers import reonctl, wait_status  # noqa: E402
from tests.e2e.prometheus import Prometheus  # noqa: E402
from tests.stations import write_station  # noqa: E402

DASHBOARD = ROOT / "deploy" / "grafana" / "reon-station.json"
OUT = ROOT / "docs" / "reon-station-dashboard.png"
PANELS = ("Active power", "Energy import register", "Current per phase", "CALL round trip", "CALLs sent by action",
          "Outbound queue and dead letters", "Alive", "RSS", "CPU")
SCALE = {"RSS": (2**-20, "MB"), "CPU": (100.0, "% of a core"), "CALL round trip": (1000.0, "ms"),
         "Active power": (1e-3, "kW"), "Energy import register": (1.0, "kWh"), "Current per phase": (1.0, "A"),
         "CALLs sent by action": (1.0, "CALLs/s")}


def run(cmd_config: Path, *args: str) -> None:
    result = reonctl(cmd_config, *args)
    if result.returncode != 0:
        raise SystemExit(f"reonctl {' '.join(args)} failed: {result.stdout}{result.stderr}")


def drive(path: Path) -> None:
    """Two sessions that overlap, a pause, one EV leaving: a minute and a half of a station's life."""
    run(path, "sim", "plug", "1")
    run(path, "sim", "swipe", "1", "04A1B2C3")
    time.sleep(20)
    run(path, "sim", "plug", "2")
    run(path, "sim", "swipe", "2", "04A1B2C4")
    time.sleep(20)
    run(path, "sim", "ev-pause", "1")
    time.sleep(15)
    run(path, "sim", "ev-resume", "1")
    time.sleep(20)
    run(path, "sim", "unplug", "2")
    time.sleep(15)


def legend(fmt: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: labels.get(m.group(1), ""), fmt).replace(labels["station"], "").strip()


def main() -> None:
    panels = {p["title"]: p for p in json.loads(DASHBOARD.read_text())["panels"] if p.get("targets")}
    with tempfile.TemporaryDirectory(prefix="reon-preview-") as tmp:
        path = write_station(Path(tmp), sim=True, evses=2)
        config = load_config(path)
        prometheus = None
        try:
            run(path, "up", "--timeout", "60")
            wait_status(path, lambda d: d["csms"]["registration"] == "Accepted")
            prometheus = Prometheus(Path(tmp), f"127.0.0.1:{config.metrics.port}")
            start = time.time()
            time.sleep(10)
            drive(path)
            end = time.time()
            plt.style.use("dark_background")
            fig, axes = plt.subplots(3, 3, figsize=(16, 10))
            for ax, title in zip(axes.flat, PANELS, strict=True):
                factor, unit = SCALE.get(title, (1.0, ""))
                for target in panels[title]["targets"]:
                    expr = (target["expr"].replace("$station", config.station.id)
                            .replace("$__rate_interval", "15s").replace("$__range", "5m"))
                    for series in prometheus.query_range(expr, start, end, 1.0):
                        xs = [float(t) - start for t, _ in series["values"]]
                        ys = [float(v) * factor for _, v in series["values"]]
                        ax.plot(xs, ys, linewidth=1.4, label=legend(target["legendFormat"], series["metric"]))
                ax.set_title(title, fontsize=11, loc="left")
                ax.set_xlabel("s", fontsize=8)
                ax.set_ylabel(unit, fontsize=8)
                ax.tick_params(labelsize=8)
                ax.grid(alpha=0.2)
                ax.legend(fontsize=6, loc="upper left", ncol=2, framealpha=0.3)
            fig.suptitle(f"REON station {config.station.id} (simulation): panels of deploy/grafana/reon-station.json,"
                         " drawn from Prometheus with matplotlib", fontsize=12)
            fig.tight_layout()
            fig.savefig(OUT, dpi=80)
            print(f"wrote {OUT.relative_to(ROOT)}")
        finally:
            if prometheus is not None:
                prometheus.close()
            reonctl(path, "down")


if __name__ == "__main__":
    main()
