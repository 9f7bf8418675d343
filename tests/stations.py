"""Station config files for tests: every path and port unique, so stations run side by side."""

from __future__ import annotations

import socket
from pathlib import Path

from bus.harness import short_run_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_station(directory: Path, *, sim: bool = True, evses: int = 2, extra: str = "") -> Path:
    """A station file in `directory` whose run dir is short enough for ipc sockets."""
    run_dir = short_run_dir()
    port = free_port()
    evse_tables = "".join(f"""
[[evse]]
id = {i}
max_current_a = 32
meter = {{ model = "SDM630", unit_id = {i} }}
[[evse.connector]]
id = 1
type = "sType2"
""" for i in range(1, evses + 1))
    path = directory / "station.toml"
    path.write_text(f"""
[station]
id = "TEST-{port}"
serial_number = "SN-{port}"
firmware_version = "0.1.1"
[paths]
run_dir = "{run_dir}"
data_dir = "{directory / 'data'}"
log_dir = "{directory / 'log'}"
[csms]
url = "ws://127.0.0.1:{port}"
security_profile = 1
password = "test-password-{port}"
{evse_tables}
[modem]
enabled = true
poll_s = 5
[sim]
enabled = {"true" if sim else "false"}
csms_port = {port}
{extra}
{"" if "[metrics]" in extra else f"[metrics]{chr(10)}port = {free_port()}"}
""")
    return path
