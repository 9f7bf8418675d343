"""Where the bus lives: ipc endpoints in the station's run directory (mode 0700)."""

from __future__ import annotations

import os
from pathlib import Path


def ensure_run_dir(run_dir: str | Path) -> Path:
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def publish_endpoint(run_dir: str | Path) -> str:
    """Publishers connect here (the broker's XSUB side)."""
    return f"ipc://{Path(run_dir) / 'bus.in'}"


def subscribe_endpoint(run_dir: str | Path) -> str:
    """Subscribers connect here (the broker's XPUB side)."""
    return f"ipc://{Path(run_dir) / 'bus.out'}"


def rpc_endpoint(run_dir: str | Path, service: str) -> str:
    """The ROUTER socket a service binds for its commands."""
    return f"ipc://{Path(run_dir) / (service + '.rpc')}"
