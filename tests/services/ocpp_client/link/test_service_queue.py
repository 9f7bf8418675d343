"""The durable outbound queue in the running service, and the link commands disconnect / connect."""

from __future__ import annotations

import asyncio

from sim.csms import CsmsCallError
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import calls, mark, start_ocpp, wait_call


def _event(n: int) -> dict:
    return {"type": "TamperDetectionActivated", "timestamp": "2024-05-01T12:00:00.000Z", "techInfo": f"n={n}"}


async def test_disconnect_holds_the_link_down_and_connect_brings_it_back(ocpp, probe) -> None:
    state = await probe.call("ocpp", "disconnect")
    assert state["connected"] is False and state["held_down"] is True
    _, env = await probe.wait_for("ocpp.state.csms", lambda e: e.body["held_down"])
    assert env.body["registration"] == "Accepted"  # still registered: no new boot at reconnect
    state = await probe.call("ocpp", "connect")
    assert state["held_down"] is False
    await probe.wait_for("ocpp.state.csms", lambda e: e.body["connected"])


async def test_messages_queued_offline_survive_a_restart_and_go_in_order(station, csms, evse_io, modem,
                                                                        probe) -> None:
    async with start_ocpp(station) as service:
        await probe.wait_for("ocpp.state.csms", lambda e: e.body["registration"] == "Accepted"
                             and e.body["queue_depth"] == 0)
        await probe.call("ocpp", "disconnect")
        for n in range(3):
            await service.queue.put("SecurityEventNotification", _event(n), kind="security")
        await probe.wait_for("ocpp.state.csms", lambda e: e.body["queue_depth"] == 3)
    since = mark(csms, station)
    async with start_ocpp(station):
        await probe.wait_for("ocpp.state.csms", lambda e: e.body["registration"] == "Accepted"
                             and e.body["queue_depth"] == 0)
    sent = calls(csms, station, since=since)
    events = [c.payload.get("techInfo") for c in sent if c.action == "SecurityEventNotification"]
    assert events[:3] == ["n=0", "n=1", "n=2"] and events[3].startswith("boot reason")
    first_event = next(c.index for c in sent if c.action == "SecurityEventNotification")
    assert all(c.index < first_event for c in sent if c.action in ("BootNotification", "StatusNotification"))


async def test_refused_message_becomes_a_dead_letter_listed_by_the_command(ocpp, csms, station, probe) -> None:
    csms.set_response("SecurityEventNotification", CsmsCallError("InternalError", "no room"))
    since = mark(csms, station)
    await ocpp.queue.put("SecurityEventNotification", _event(1), kind="security")
    _, env = await probe.wait_for("ocpp.state.csms", lambda e: e.body["dead_letters"] == 1)
    assert env.body["queue_depth"] == 0
    assert len(calls(csms, station, "SecurityEventNotification", since)) == 3  # MessageAttempts
    reply = await probe.call("ocpp", "dead_letters", {})
    assert reply["count"] == 1
    letter = reply["dead_letters"][0]
    assert letter["action"] == "SecurityEventNotification" and letter["payload"]["techInfo"] == "n=1"
    assert letter["attempts"] == 3 and "no room" in letter["error"]
    csms.set_response("SecurityEventNotification", None)
    await ocpp.queue.put("SecurityEventNotification", _event(2), kind="security")
    record = await wait_call(csms, station, "SecurityEventNotification", since=since + 3)
    assert record.payload["techInfo"] == "n=2"


async def test_queued_message_waits_for_calls_issued_before_it(ocpp, csms, station) -> None:
    since = mark(csms, station)
    task = asyncio.ensure_future(ocpp.boot.heartbeat())
    await asyncio.sleep(0)  # the Heartbeat holds the CALL lock now
    await ocpp.queue.put("SecurityEventNotification", _event(1), kind="security")
    await task
    await wait_call(csms, station, "SecurityEventNotification", since=since)
    assert [c.action for c in calls(csms, station, since=since)] == ["Heartbeat", "SecurityEventNotification"]
