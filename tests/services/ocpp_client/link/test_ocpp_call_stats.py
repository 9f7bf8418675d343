"""The RPC layer counts CALLs sent, CALLERRORs received and answered round trips (published for reon-metrics)."""

from __future__ import annotations

import asyncio

import pytest

from services.ocpp_client.link.rpc import CallError, CallTimeout
from tests.services.ocpp_client.csms_stub import RawCsms, StationLink


async def test_calls_errors_and_round_trips_are_counted_by_action(raw_csms: RawCsms, linked: StationLink) -> None:
    for _ in range(2):
        call = asyncio.create_task(linked.rpc.call("Heartbeat", {}))
        await raw_csms.answer_next_call({"currentTime": "2025-01-01T00:00:00Z"})
        await call
    call = asyncio.create_task(linked.rpc.call("Heartbeat", {}))
    frame = await raw_csms.recv()
    await raw_csms.send_json([4, frame[1], "SecurityError", "not allowed", {}])
    with pytest.raises(CallError):
        await call
    linked.rpc.message_timeout_s = 0.05
    with pytest.raises(CallTimeout):  # sent, never answered: no round trip
        await linked.rpc.call("Heartbeat", {})

    stats = linked.rpc.stats.snapshot()
    assert stats["calls_sent"] == {"Heartbeat": 4}
    assert stats["call_errors"] == {"Heartbeat": 1}
    rtt = stats["rtt_s"]
    assert rtt["count"] == 3 and rtt["cumulative_counts"][-1] <= 3 and rtt["sum"] > 0
    assert rtt["cumulative_counts"] == sorted(rtt["cumulative_counts"])
    assert len(rtt["bounds"]) == len(rtt["cumulative_counts"])
