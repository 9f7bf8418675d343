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


def wait_status(config: Path, condition: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
    """Poll `reonctl status --json` (another process's state has no event to await) until condition holds."""
    end = time.monotonic() + timeout
    while True:
        doc = status(config)
        if condition(doc):
            return doc
        if time.monotonic() > end:
            raise AssertionError(f"status never met the condition; last: {json.dumps(doc)[:2000]}")
        time.sleep(0.2)
