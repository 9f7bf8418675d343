"""`reonctl up`, `down`, `restart SERVICE`: the station's processes under supervisord."""

from __future__ import annotations

import contextlib
import subprocess
import time
import xmlrpc.client

import click

from reonctl.status import collect, healthy
from station import supervisor
from station.config import StationConfig
from station.programs import configured_programs


@click.command()
@click.option("--foreground", is_flag=True, help="run supervisord in the foreground (systemd)")
@click.option("--follow", is_flag=True, help="follow the readable log; Ctrl-C stops the station")
@click.option("--wait/--no-wait", default=True, help="wait until every service is alive")
@click.option("--timeout", default=60.0, show_default=True, help="seconds to wait for the services")
@click.pass_obj
def up(config: StationConfig, foreground: bool, follow: bool, wait: bool, timeout: float) -> None:
    """Start the station: supervisord runs the broker first, then every service."""
    if foreground:
        supervisor.exec_foreground(config)
    if supervisor.is_running(config):
        click.echo(f"station {config.station.id} is already running")
    else:
        supervisor.start_daemon(config)
        names = ", ".join(p.name for p in configured_programs(config))
        click.echo(f"station {config.station.id} starting: {names}")
    if wait:
        end = time.monotonic() + timeout
        while not healthy(doc := collect(config)):
            if time.monotonic() > end:
                bad = [n for n, s in doc["services"].items() if not (s["state"] == "RUNNING" and s["alive"])]
                click.echo(f"not alive after {timeout:.0f}s: {', '.join(bad)} (see {config.paths.log_dir})", err=True)
                raise SystemExit(1)
            time.sleep(0.2)
        click.echo("every service is running and alive")
    if follow:
        _follow(config)


def _follow(config: StationConfig) -> None:
    logs = sorted(str(p) for p in config.paths.log_dir.glob("*.log") if p.name != "supervisord.log")
    tail = subprocess.Popen(["tail", "-q", "-n", "20", "-F", *logs])
    try:
        tail.wait()
    except KeyboardInterrupt:
        click.echo("\nstopping the station …")
    finally:
        tail.terminate()
        with contextlib.suppress(KeyboardInterrupt):
            supervisor.shutdown(config)
        click.echo("stopped")


@click.command()
@click.pass_obj
def down(config: StationConfig) -> None:
    """Stop every service and supervisord."""
    if supervisor.shutdown(config):
        click.echo(f"station {config.station.id} stopped")
    else:
        click.echo(f"station {config.station.id} is not running")


@click.command()
@click.argument("service")
@click.pass_obj
def restart(config: StationConfig, service: str) -> None:
    """Restart one service (the others keep running)."""
    names = [p.name for p in configured_programs(config)]
    if service not in names:
        raise click.BadParameter(f"unknown service {service!r}; one of {', '.join(names)}", param_hint="SERVICE")
    rpc = supervisor.proxy(config).supervisor
    try:
        with contextlib.suppress(xmlrpc.client.Fault):  # not running is fine
            rpc.stopProcess(service)
        rpc.startProcess(service)
    except OSError:
        raise click.ClickException(f"station {config.station.id} is not running (reonctl up)") from None
    click.echo(f"{service} restarted")
