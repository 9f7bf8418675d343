"""Driving a real station from tests: reonctl in a subprocess, waiting on `status --json`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def reonctl(config: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reonctl.main", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def status(config: Path) -> dict[str, Any]:
    return json.loads(reonctl(config, "status", "--json").stdout)


def poll(fetch: Callable[[], Any], condition: Callable[[Any], bool], *, timeout: float = 30,
         what: str = "the station") -> Any:
    """Fetch until condition holds: another process's state has no event this test could await."""
    end = time.monotonic() + timeout
    while True:
        found = fetch()
        if condition(found):
            return found
        if time.monotonic() > end:
            raise AssertionError(f"{what} never met the condition; last: {json.dumps(found)[:2000]}")
        time.sleep(0.2)


def wait_status(config: Path, condition: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
    """`reonctl status --json` once condition holds."""
    return poll(lambda: status(config), condition, timeout=timeout, what="status")
