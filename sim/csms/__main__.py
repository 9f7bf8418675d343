"""`python -m sim.csms --port P --password X [--tls-cert C --tls-key K [--tls-client-ca CA]]
[--control PATH]`: run the development CSMS until SIGTERM/SIGINT.

Prints one line `dev CSMS listening on ws://HOST:PORT` on stdout once it accepts stations
(with --port 0 the line tells the port chosen).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys

from sim.csms.control import ControlServer
from sim.csms.server import DevCsms


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sim.csms", description="REON development CSMS")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0 picks a free port")
    parser.add_argument("--password", help="BasicAuthPassword stations must present (omit: no auth)")
    parser.add_argument("--tls-cert", help="server certificate (PEM): serve wss://")
    parser.add_argument("--tls-key", help="server private key (PEM)")
    parser.add_argument("--tls-client-ca", help="CA verifying station certificates (security profile 3)")
    parser.add_argument("--control", help="unix socket path of the control interface")
    parser.add_argument("--boot-status", default="Accepted", choices=["Accepted", "Pending", "Rejected"])
    parser.add_argument("--heartbeat-interval", type=int, default=300, help="BootNotification interval, s")
    parser.add_argument("--verbose", "-v", action="store_true", help="also log WebSocket details")
    parser.add_argument("--config", help="station config: port, password and control socket come from it")
    args = parser.parse_args(argv)
    if args.config:
        from_station_config(args)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        parser.error("--tls-client-ca needs --tls-cert and --tls-key")
    return args


def from_station_config(args: argparse.Namespace) -> None:
    """Serve the station of this config: its CSMS port and password, the control socket in its run dir."""
    from station.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"sim.csms: bad config: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    args.port = config.sim.csms_port
    args.password = config.csms.password
    args.control = args.control or str(config.paths.run_dir / "csms.sock")


def server_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.tls_cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.tls_cert, args.tls_key)
    if args.tls_client_ca:
        context.load_verify_locations(cafile=args.tls_client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL  # profile 2 stations (no certificate) still connect
    return context


async def run(args: argparse.Namespace) -> None:
    csms = DevCsms(password=args.password, host=args.host, port=args.port, tls=server_tls(args))
    csms.set_boot_response(args.boot_status, args.heartbeat_interval)
    await csms.start()
    control = await ControlServer(csms, args.control).start() if args.control else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"dev CSMS listening on {csms.url}", flush=True)
    try:
        await stop.wait()
    finally:
        if control is not None:
            await control.stop()
        await csms.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.verbose:
        logging.getLogger("sim.csms.websocket").setLevel(logging.WARNING)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
