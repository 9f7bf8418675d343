"""Every service of a running station answers random command arguments with a result or a clear refusal, never an
internal error, and none of them restarts (issue 11: the RPC boundary of each process is hostile input)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from bus.contract import load_contract
from bus.harness import Probe
from bus.rpc import RpcError, RpcTimeout
from station.config import load_config
from tests.e2e.helpers import reonctl, status, wait_status
from tests.services.evse_io.test_command_fuzz import random_args
from tests.stations import write_station

SERVICES = ("bus", "evse_io", "meter", "modem", "ocpp", "firmware", "sim")
INTERNAL_STREAM_COMMANDS = ("replay", "ack")  # a consumer's cursor: only the consumer itself calls these
CALLS = 400


async def test_random_arguments_to_every_command_of_every_service(tmp_path: Path) -> None:
    path = write_station(tmp_path, sim=True)
    config = load_config(path)
    try:
        up = reonctl(path, "up", "--timeout", "60")
        assert up.returncode == 0, up.stdout + up.stderr
        commands = [(service, command) for service in SERVICES
                    for command in load_contract(service).commands if command.name not in INTERNAL_STREAM_COMMANDS]
        rng = random.Random(11)
        internal: list[tuple[str, str, Any, str]] = []
        probe = Probe(config.paths.run_dir)
        await probe.start()
        try:
            for _ in range(CALLS):
                service, command = rng.choice(commands)
                args = random_args(rng, command.args)
                try:
                    await probe.call(service, command.name, args, deadline_s=3)
                except RpcError as exc:
                    if exc.code == "internal":
                        internal.append((service, command.name, args, exc.message))
                except RpcTimeout:
                    internal.append((service, command.name, args, "no answer"))
        finally:
            await probe.close()
        assert internal == [], "\n".join(map(repr, internal))
        doc = wait_status(path, lambda d: all(s["alive"] for s in d["services"].values()))
        assert {name: s["restarts"] for name, s in doc["services"].items() if s["restarts"]} == {}
    finally:
        reonctl(path, "down")
    assert status(path)["services"]["bus"]["state"] in ("NOT_STARTED", "STOPPED")
