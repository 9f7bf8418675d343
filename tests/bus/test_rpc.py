"""Commands over real ROUTER/DEALER sockets: deadlines, retries of idempotent commands only, dedupe."""

import asyncio

import pytest

from bus.contract import Command, Contract
from bus.harness import wait_until
from bus.rpc import RpcError, RpcTimeout

CONTRACT = Contract("toy", "a toy service", commands=(
    Command("add", {"a": "int", "b": "int"}, {"sum": "int"}, "adds", idempotent=True),
    Command("launch", {}, {"n": "int"}, "not idempotent"),
    Command("boom", {}, "any", "fails"),
))


async def test_call_returns_result_and_rejects_bad_args(probe) -> None:
    async def add(args):
        return {"sum": args["a"] + args["b"]}

    await probe.implement("toy", {"add": add, "launch": add, "boom": add}, CONTRACT)
    assert await probe.call("toy", "add", {"a": 2, "b": 3}, idempotent=True) == {"sum": 5}
    with pytest.raises(RpcError) as info:
        await probe.call("toy", "add", {"a": "2"}, idempotent=True)
    assert info.value.code == "bad_args" and "args.a" in info.value.message
    with pytest.raises(RpcError) as info:
        await probe.call("toy", "nope", {}, idempotent=False)
    assert info.value.code == "unknown_command"


async def test_handler_failure_is_an_internal_error_reply(probe) -> None:
    async def boom(args):
        raise RuntimeError("exploded")

    await probe.implement("toy", {"add": boom, "launch": boom, "boom": boom}, CONTRACT)
    with pytest.raises(RpcError) as info:
        await probe.call("toy", "boom", {})
    assert info.value.code == "internal" and "exploded" in info.value.message


async def test_deadline_when_the_service_is_absent(probe) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(RpcTimeout):
        await probe.call("nobody", "x", {}, deadline_s=0.3)
    assert 0.25 < loop.time() - start < 1.0


async def test_idempotent_command_is_retried_and_non_idempotent_is_not(probe) -> None:
    calls = {"add": 0, "launch": 0}
    first_attempt_lost = asyncio.Event()

    async def slow_add(args):
        calls["add"] += 1
        if calls["add"] == 1:
            first_attempt_lost.set()
            await asyncio.sleep(10)  # the first attempt never answers in time
        return {"sum": 1}

    async def slow_launch(args):
        calls["launch"] += 1
        await asyncio.sleep(10)
        return {"n": 1}

    server = await probe.implement("toy", {"add": slow_add, "launch": slow_launch, "boom": slow_add}, CONTRACT)
    with pytest.raises(RpcTimeout):
        await probe.call("toy", "launch", {}, deadline_s=0.6)
    assert calls["launch"] == 1 and server.received == 1

    with pytest.raises(RpcTimeout):
        await probe.call("toy", "add", {"a": 1, "b": 2}, deadline_s=0.6)
    # three attempts, one execution: the server recognised the repeats by msg_id
    assert calls["add"] == 1 and first_attempt_lost.is_set()
    assert server.received == 1 + 3


async def test_repeated_non_idempotent_call_is_executed_once(probe) -> None:
    count = 0

    async def launch(args):
        nonlocal count
        count += 1
        return {"n": count}

    await probe.implement("toy", {"add": launch, "launch": launch, "boom": launch}, CONTRACT)
    first = await probe.call("toy", "launch", {}, msg_id="same-id")
    second = await probe.call("toy", "launch", {}, msg_id="same-id")
    assert first == second == {"n": 1} and count == 1


async def test_malformed_command_frames_are_dropped_and_the_server_keeps_serving(probe, run_dir) -> None:
    import msgpack
    import zmq
    import zmq.asyncio

    from bus import endpoints

    async def add(args):
        return {"sum": args["a"] + args["b"]}

    server = await probe.implement("toy", {"add": add, "launch": add, "boom": add}, CONTRACT)
    raw = zmq.asyncio.Context.instance().socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(endpoints.rpc_endpoint(run_dir, "toy"))
    for frames in ([b"a", b"b"], [b"\xc1garbage"], [msgpack.packb({"msg_id": 1})],
                   [msgpack.packb({"msg_id": "m", "src": "s", "session": "x", "seq": 1, "ts": 1.0,
                                   "kind": "evt", "name": "add"})]):
        await raw.send_multipart(frames)
    await wait_until(lambda: server.bad_requests == 4)
    assert await probe.call("toy", "add", {"a": 1, "b": 1}) == {"sum": 2}
    raw.close(0)
