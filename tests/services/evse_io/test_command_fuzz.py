"""evse_io's commands with random arguments: every one answered (a result or a clear refusal), never an
internal error, and the service still serves afterwards (issue 11: fuzz of each service's RPC boundary)."""

from __future__ import annotations

import random
from typing import Any

from bus.contract import load_contract
from bus.rpc import RpcError

SAFE_COMMANDS_LAST = ("unlock", "reset_rcd")


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["int", "float", "str", "bool", "none", "big", "nan"] + (["list", "dict"] if depth < 2 else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([0, 1, 2, -1, 3, 255, 2**31])
    if kind == "float":
        return rng.choice([0.0, 6.0, 5.9, 32.0, -3.5, 1e308, 80.1])
    if kind == "str":
        return rng.choice(["", "Operative", "Inoperative", "Remote", "x" * 500, "\x00", "ISO14443", "é"])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "big":
        return 2**63
    if kind == "nan":
        return float("nan")
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(["idToken", "type", "evse", "amps", "x"]): random_value(rng, depth + 1)
            for _ in range(rng.randint(0, 3))}


def random_args(rng: random.Random, shape: Any) -> Any:
    if rng.random() < 0.1:
        return random_value(rng)  # not even an object
    keys = list(shape) if isinstance(shape, dict) else []
    args = {key: random_value(rng) for key in keys if rng.random() < 0.8}
    if "evse" in args and rng.random() < 0.6:
        args["evse"] = rng.choice([1, 2, 3, 0, -1])
    if rng.random() < 0.2:
        args["unexpected"] = random_value(rng)
    return args


async def test_random_arguments_to_every_command_get_an_answer_and_the_service_survives(
        evse_io, probe, evse_state) -> None:
    rng = random.Random(1154)
    commands = [c for c in load_contract("evse_io").commands if c.name not in ("replay", "ack")]
    internal: list[tuple[str, Any, str]] = []
    for _ in range(300):
        command = rng.choice(commands)
        args = random_args(rng, command.args)
        try:
            await probe.call("evse_io", command.name, args, deadline_s=2)
        except RpcError as exc:
            if exc.code == "internal":
                internal.append((command.name, args, exc.message))
    assert internal == []
    await evse_state(1, lambda s: s["link_up"])  # still publishing
    await probe.call("evse_io", "set_current_limit", {"evse": 1, "amps": None})
