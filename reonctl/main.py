"""reonctl: the station's command line (click). One module per command group."""

from __future__ import annotations

import sys

import click

from reonctl.lifecycle import down, restart, up
from reonctl.status import status
from reonctl.watch import contract, events
from station.config import ConfigError, load_config


@click.group()
@click.option("--config", "config_path", envvar="REON_CONFIG", default=None,
              help="station config (default: $REON_CONFIG or deploy/station.toml)")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Start, stop and inspect a REON charging station."""
    if ctx.invoked_subcommand == "contract":
        return
    try:
        ctx.obj = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"reonctl: bad config: {exc}", err=True)
        sys.exit(2)


for command in (up, down, restart, status, events, contract):
    cli.add_command(command)


def _optional_groups() -> None:
    """Command groups of services that may not be installed yet."""
    import importlib

    for module, name in (("reonctl.sim", "sim"), ("reonctl.csms", "csms"), ("reonctl.ocpp", "ocpp"),
                         ("reonctl.firmware", "firmware")):
        try:
            cli.add_command(getattr(importlib.import_module(module), name))
        except ModuleNotFoundError:
            continue


_optional_groups()


def main() -> None:
    cli(prog_name="reonctl")


if __name__ == "__main__":
    main()
