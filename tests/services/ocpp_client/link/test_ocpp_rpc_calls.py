"""OCPP-J RPC between the station and a raw CSMS socket: calls, replies, timeouts, handlers."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.ocpp_client.link.rpc import (
    CallError,
    CallTimeout,
    Reply,
    RequestInvalid,
    ResponseInvalid,
)
from tests.services.ocpp_client.csms_stub import RawCsms, StationLink

HEARTBEAT_RESULT = {"currentTime": "2025-01-01T00:00:00Z"}


async def test_call_returns_the_callresult_payload(raw_csms: RawCsms, linked: StationLink) -> None:
    call = asyncio.create_task(linked.rpc.call("Heartbeat", {}))
    frame = await raw_csms.answer_next_call(HEARTBEAT_RESULT)
    assert frame[0] == 2 and frame[2:] == ["Heartbeat", {}] and len(frame[1]) <= 36
    assert await call == HEARTBEAT_RESULT


async def test_callerror_reply_raises_call_error_with_its_code(
    raw_csms: RawCsms, linked: StationLink
) -> None:
    call = asyncio.create_task(linked.rpc.call("Heartbeat", {}))
    frame = await raw_csms.recv()
    await raw_csms.send_json([4, frame[1], "SecurityError", "not allowed", {"why": "test"}])
    with pytest.raises(CallError) as caught:
        await call
    assert (caught.value.code, caught.value.description, caught.value.details) == (
        "SecurityError", "not allowed", {"why": "test"})


async def test_two_concurrent_calls_are_serialised(raw_csms: RawCsms, linked: StationLink) -> None:
    first = asyncio.create_task(linked.rpc.call("Heartbeat", {}))
    second = asyncio.create_task(linked.rpc.call("StatusNotification", {
        "timestamp": "2025-01-01T00:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}))
    frame_1 = await raw_csms.recv()
    with pytest.raises(TimeoutError):  # nothing else is sent while the first CALL is outstanding
        await raw_csms.recv(timeout=0.15)
    await raw_csms.send_json([3, frame_1[1], HEARTBEAT_RESULT])
    frame_2 = await raw_csms.answer_next_call({})
    assert {frame_1[2], frame_2[2]} == {"Heartbeat", "StatusNotification"}
    assert await first == HEARTBEAT_RESULT and await second == {}


async def test_message_timeout_then_the_late_reply_is_dropped(
    raw_csms: RawCsms, linked: StationLink, caplog: pytest.LogCaptureFixture
) -> None:
    linked.rpc.message_timeout_s = 0.1
    with pytest.raises(CallTimeout):
        await linked.rpc.call("Heartbeat", {})
    late = await raw_csms.recv()
    next_call = asyncio.create_task(linked.rpc.call("Heartbeat", {}, timeout=2))
    fresh = await raw_csms.recv()
    await raw_csms.send_json([3, late[1], {"currentTime": "1999-01-01T00:00:00Z"}])  # stale: dropped
    await raw_csms.send_json([3, "never-sent-id", HEARTBEAT_RESULT])  # unknown: dropped
    await raw_csms.send_json([3, fresh[1], HEARTBEAT_RESULT])
    assert await next_call == HEARTBEAT_RESULT
    assert "stale" in caplog.text and "unknown" in caplog.text


async def test_a_short_timeout_after_a_long_one_still_times_out_on_time(
    raw_csms: RawCsms, linked: StationLink
) -> None:
    """One watchdog timer serves every CALL: armed for a 30 s CALL, it is brought forward for a 0.1 s one."""
    first = asyncio.create_task(linked.rpc.call("Heartbeat", {}, timeout=30))
    await raw_csms.answer_next_call(HEARTBEAT_RESULT)
    assert await first == HEARTBEAT_RESULT
    ids = set()
    for _ in range(2):  # and again once it has fired
        started = asyncio.get_running_loop().time()
        with pytest.raises(CallTimeout):
            await linked.rpc.call("Heartbeat", {}, timeout=0.1)
        assert asyncio.get_running_loop().time() - started < 5
        ids.add((await raw_csms.recv())[1])
    assert len(ids) == 2


async def test_invalid_request_payload_is_refused_before_sending(
    raw_csms: RawCsms, linked: StationLink
) -> None:
    with pytest.raises(RequestInvalid) as caught:
        await linked.rpc.call("BootNotification", {"reason": "PowerUp"})
    assert caught.value.code == "OccurrenceConstraintViolation"
    nan_reading = {"evseId": 1, "meterValue": [{"timestamp": "2025-01-01T00:00:00Z",
                                                "sampledValue": [{"value": float("nan")}]}]}
    with pytest.raises(RequestInvalid) as not_json:
        await linked.rpc.call("MeterValues", nan_reading)
    assert not_json.value.code == "FormatViolation"
    with pytest.raises(TimeoutError):
        await raw_csms.recv(timeout=0.1)


async def test_reply_breaking_the_response_schema_raises_response_invalid(
    raw_csms: RawCsms, linked: StationLink
) -> None:
    call = asyncio.create_task(linked.rpc.call("Heartbeat", {}))
    frame = await raw_csms.recv()
    await raw_csms.send_json([3, frame[1], {"currentTime": 12}])
    with pytest.raises(ResponseInvalid) as caught:
        await call
    assert caught.value.code == "TypeConstraintViolation"


async def test_malformed_reply_to_the_outstanding_call_fails_it_without_a_callerror(
    raw_csms: RawCsms, linked: StationLink
) -> None:
    call = asyncio.create_task(linked.rpc.call("Heartbeat", {}))
    frame = await raw_csms.recv()
    await raw_csms.send_json([3, frame[1], "not an object"])
    with pytest.raises(ResponseInvalid):
        await call
    with pytest.raises(TimeoutError):  # a broken CALLRESULT is never answered
        await raw_csms.recv(timeout=0.1)


async def test_slow_handler_does_not_block_the_receive_loop(raw_csms: RawCsms, linked: StationLink) -> None:
    release = asyncio.Event()

    async def slow_reset(payload: dict) -> dict:
        await release.wait()
        return {"status": "Accepted"}

    linked.rpc.register("Reset", slow_reset)
    await raw_csms.send_json([2, "reset-1", "Reset", {"type": "OnIdle"}])
    call = asyncio.create_task(linked.rpc.call("Heartbeat", {}))
    await raw_csms.answer_next_call(HEARTBEAT_RESULT)
    assert await call == HEARTBEAT_RESULT  # answered while the Reset handler still waits
    release.set()
    assert await raw_csms.recv() == [3, "reset-1", {"status": "Accepted"}]


async def test_handler_awaiting_its_own_call_inline_is_an_internal_error(
    raw_csms: RawCsms, linked: StationLink
) -> None:
    async def bad_trigger(payload: dict) -> dict:
        await linked.rpc.call("Heartbeat", {})
        return {"status": "Accepted"}

    linked.rpc.register("TriggerMessage", bad_trigger)
    await raw_csms.send_json([2, "t-1", "TriggerMessage", {"requestedMessage": "Heartbeat"}])
    assert (await raw_csms.recv())[:3] == [4, "t-1", "InternalError"]


async def test_reply_is_sent_before_the_call_started_after_it(raw_csms: RawCsms, linked: StationLink) -> None:
    results: asyncio.Queue[dict] = asyncio.Queue()

    async def send_heartbeat() -> None:
        results.put_nowait(await linked.rpc.call("Heartbeat", {}))

    async def trigger(payload: dict) -> Reply:
        return Reply({"status": "Accepted"}, after_sent=send_heartbeat)

    linked.rpc.register("TriggerMessage", trigger)
    await raw_csms.send_json([2, "t-2", "TriggerMessage", {"requestedMessage": "Heartbeat"}])
    assert await raw_csms.recv() == [3, "t-2", {"status": "Accepted"}]
    await raw_csms.answer_next_call(HEARTBEAT_RESULT)
    assert await asyncio.wait_for(results.get(), 2) == HEARTBEAT_RESULT


async def test_handler_raising_call_error_answers_with_that_code(
    raw_csms: RawCsms, linked: StationLink
) -> None:
    async def refuse(payload: dict) -> dict:
        raise CallError("SecurityError", "certificate chain rejected", {"hint": "x"})

    linked.rpc.register("InstallCertificate", refuse)
    await raw_csms.send_json([2, "c-1", "InstallCertificate",
                              {"certificateType": "CSMSRootCertificate", "certificate": "PEM"}])
    assert await raw_csms.recv() == [4, "c-1", "SecurityError", "certificate chain rejected", {"hint": "x"}]


async def test_every_message_is_logged_on_one_readable_line(
    raw_csms: RawCsms, linked: StationLink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reon.ocpp.rpc")
    call = asyncio.create_task(linked.rpc.call("Heartbeat", {}))
    frame = await raw_csms.answer_next_call(HEARTBEAT_RESULT)
    await call
    lines = [r.getMessage() for r in caplog.records if r.name == "reon.ocpp.rpc"]
    assert f"→ Heartbeat [{frame[1]}] {{}}" in lines
    assert f'← Heartbeat result [{frame[1]}] {{"currentTime":"2025-01-01T00:00:00Z"}}' in lines


async def test_register_refuses_an_action_ocpp_does_not_define(linked: StationLink) -> None:
    with pytest.raises(ValueError):
        linked.rpc.register("MakeCoffee", lambda payload: {})
    assert "SetDisplayMessage" in linked.rpc.unsupported_actions
