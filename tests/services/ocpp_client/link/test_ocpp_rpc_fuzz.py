"""Hostile input: random JSON, wrong types and huge frames never crash the station side.

In memory, every input is answered exactly as parse_frame says (one CALLERROR/CALLRESULT per CALL,
nothing for replies); over a real WebSocket, the link keeps answering afterwards.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ocpp_client.link.ocpp_j import Call, FrameError, parse_frame
from services.ocpp_client.link.payload_schema import KNOWN_ACTIONS
from services.ocpp_client.link.rpc import Rpc
from services.ocpp_client.link.rpc_errors import ERROR_CODES
from tests.services.ocpp_client.csms_stub import RawCsms, start_station, station_settings, stop_station

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4),
    max_leaves=12,
)
actions = st.sampled_from(sorted(KNOWN_ACTIONS)) | st.sampled_from(["Reset", "ClearCache"]) | st.text(max_size=40)
message_ids = st.text(min_size=1, max_size=36) | st.text(max_size=60) | st.integers() | st.none()
type_ids = st.sampled_from([2, 2, 3, 4]) | st.integers(-3, 9) | scalars
reset_payloads = st.fixed_dictionaries({"type": json_values | st.sampled_from(["Immediate", "OnIdle"])},
                                       optional={"evseId": json_values})
frames = st.one_of(
    st.tuples(type_ids, message_ids, actions, json_values),
    st.tuples(st.just(2), message_ids, st.sampled_from(["Reset", "ClearCache"]), reset_payloads),
    st.tuples(st.sampled_from([3, 4]), message_ids, json_values, json_values, json_values),
    st.lists(json_values, max_size=6),
    json_values,
).map(lambda frame: json.dumps(list(frame) if isinstance(frame, tuple) else frame))
inputs = frames | st.text(max_size=120) | st.binary(max_size=60)


async def reset(payload: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Accepted"}


async def clear_cache(payload: dict[str, Any]) -> dict[str, Any]:
    raise ValueError("boom")


def expected_reply_ids(data: str | bytes) -> list[str]:
    try:
        frame = parse_frame(data)
    except FrameError as exc:
        return [exc.message_id] if exc.reply else []
    return [frame.message_id] if isinstance(frame, Call) else []


async def feed(messages: list[str | bytes]) -> list[Any]:
    sent: list[str] = []

    async def send_text(text: str) -> None:
        sent.append(text)

    rpc = Rpc(send_text)
    rpc.register("Reset", reset)
    rpc.register("ClearCache", clear_cache)
    for message in messages:
        await rpc.receive(message)
    await rpc.drain()
    return [json.loads(text) for text in sent]


@settings(max_examples=300, deadline=None)
@given(st.lists(inputs, min_size=1, max_size=6))
def test_every_input_is_answered_or_dropped_as_the_spec_says(messages: list[str | bytes]) -> None:
    replies = asyncio.run(feed(messages))
    for reply in replies:
        assert reply[0] in (3, 4) and isinstance(reply[1], str)
        if reply[0] == 4:
            assert reply[2] in ERROR_CODES and isinstance(reply[3], str) and isinstance(reply[4], dict)
    expected = [message_id for message in messages for message_id in expected_reply_ids(message)]
    assert sorted(reply[1] for reply in replies) == sorted(expected)


async def over_websocket(messages: list[str | bytes]) -> None:
    csms = await RawCsms().start()
    link = await start_station(station_settings(csms))
    try:
        link.rpc.register("Reset", reset)
        await csms.wait_connection()
        assert csms.ws is not None
        for message in messages:
            await csms.ws.send(message)
        await csms.send('[2,"probe","Reset",{"type":"OnIdle"}]')
        while (reply := await csms.recv()) != [3, "probe", {"status": "Accepted"}]:
            assert reply[0] in (3, 4), reply
        assert link.connection.stats.connects == 1  # the link never dropped
    finally:
        await stop_station(link)
        await csms.stop()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(inputs, min_size=1, max_size=25))
def test_link_keeps_working_after_random_frames(messages: list[str | bytes]) -> None:
    asyncio.run(over_websocket(messages))


def test_huge_frames_are_answered_and_the_link_keeps_working() -> None:
    huge_call = json.dumps([2, "huge", "Reset", {"type": "OnIdle", "junk": "x" * 900_000}])
    huge_junk = "[" + "1," * 400_000 + "1"  # unterminated
    huge_id = json.dumps([2, "i" * 500_000, "Reset", {}])
    asyncio.run(over_websocket([huge_call, huge_junk, huge_id]))


def test_frame_over_the_size_limit_drops_the_link_which_comes_back() -> None:
    async def scenario() -> None:
        csms = await RawCsms().start()
        link = await start_station(station_settings(csms, max_message_bytes=64 * 1024))
        try:
            link.rpc.register("Reset", reset)
            await link.wait_connected()
            await csms.wait_connection()
            await csms.send(json.dumps([2, "too-big", "Reset", {"junk": "x" * 100_000}]))
            assert "1009" in await link.wait_disconnected()  # message too big
            await link.wait_connected()
            await csms.wait_connection()
            await csms.send('[2,"probe","Reset",{"type":"OnIdle"}]')
            assert await csms.recv() == [3, "probe", {"status": "Accepted"}]
        finally:
            await stop_station(link)
            await csms.stop()

    asyncio.run(scenario())
