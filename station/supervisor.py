"""supervisord for one station: render its config from the station config, start it, talk XML-RPC to it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path
from string import Template
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from station.config import StationConfig
from station.programs import configured_programs, environment
from station.storage import private_dir

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def conf_path(config: StationConfig) -> Path:
    return config.paths.run_dir / "supervisord.conf"


def render(config: StationConfig, *, foreground: bool = False) -> str:
    """The supervisord config of this station: every path from the station config."""
    common = {
        "config_path": str(config.path), "run_dir": str(config.paths.run_dir), "log_dir": str(config.paths.log_dir),
        "python": sys.executable, "workdir": str(DEPLOY.parent),
    }
    program_tmpl = Template((DEPLOY / "program.conf.tmpl").read_text())
    programs = "".join(program_tmpl.substitute(common, name=p.name, module=p.module, priority=p.priority,
                                               env="".join(f',{k}="{v}"' for k, v in environment(p).items()))
                       for p in configured_programs(config))
    return Template((DEPLOY / "supervisord.conf.tmpl").read_text()).substitute(
        common, station_id=config.station.id, nodaemon="true" if foreground else "false", programs=programs)


def write_conf(config: StationConfig, *, foreground: bool = False) -> Path:
    for directory in (config.paths.run_dir, config.paths.log_dir, config.paths.data_dir):
        private_dir(directory)  # 0700: queued messages, credentials and keys are for REON's user only
    path = conf_path(config)
    path.write_text(render(config, foreground=foreground))
    return path


def proxy(config: StationConfig) -> Any:
    sock = config.paths.run_dir / "supervisor.sock"
    transport = SupervisorTransport(None, None, f"unix://{sock}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def is_running(config: StationConfig) -> bool:
    try:
        proxy(config).supervisor.getState()
        return True
    except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
        return False


def start_daemon(config: StationConfig, timeout_s: float = 15.0) -> None:
    """Start supervisord in the background and wait until it answers."""
    path = write_conf(config)
    subprocess.run([sys.executable, "-m", "supervisor.supervisord", "-c", str(path)], check=True,
                   stdin=subprocess.DEVNULL)
    end = time.monotonic() + timeout_s
    while not is_running(config):
        if time.monotonic() > end:
            raise RuntimeError(f"supervisord did not answer within {timeout_s:.0f}s; see {config.paths.log_dir}")
        time.sleep(0.05)


def exec_foreground(config: StationConfig) -> None:
    """Replace this process by supervisord in the foreground (systemd unit, containers)."""
    path = write_conf(config, foreground=True)
    os.execv(sys.executable, [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(path)])


def shutdown(config: StationConfig, timeout_s: float = 20.0) -> bool:
    """Stop every program and supervisord itself; True when it was running."""
    pidfile = config.paths.run_dir / "supervisord.pid"
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError):
        pid = None
    try:
        proxy(config).supervisor.shutdown()
    except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
        return False
    end = time.monotonic() + timeout_s
    while pid is not None and _alive(pid) and time.monotonic() < end:
        time.sleep(0.05)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def process_table(config: StationConfig) -> dict[str, dict[str, Any]]:
    """supervisord's view of every program: state, pid, uptime; empty when it is not running."""
    try:
        infos = proxy(config).supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
        return {}
    table = {}
    for info in infos:
        running = info["statename"] == "RUNNING"
        table[info["name"]] = {
            "state": info["statename"],
            "pid": info["pid"] or None,
            "uptime_s": (info["now"] - info["start"]) if running else None,
        }
    return table
