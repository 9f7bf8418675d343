"""The broker with real sockets: last-value cache, liveness, restarts, malformed frames."""

import msgpack
import zmq
import zmq.asyncio

from bus import endpoints
from bus.client import BusClient
from bus.harness import BrokerThread, Probe


async def test_cached_state_is_replayed_to_a_late_subscriber_by_prefix(run_dir, broker, probe) -> None:
    pub = BusClient(run_dir, "evse_io", strict=False)
    await pub.start()
    await pub.publish_state("evse.1", {"connector_status": "Occupied"})
    await pub.publish_state("evse.2", {"connector_status": "Available"})
    await pub.publish_event("plugged", {"evse": 1})
    await probe.wait_for("evse_io.state.evse.2")  # both states are now cached

    late = Probe(run_dir, "late")
    await late.start()
    sub = late.subscribe("evse_io.state.evse.")
    got = {}
    for _ in range(2):
        topic, env = await sub.get(timeout=2)
        got[topic] = env.body
    assert got == {"evse_io.state.evse.1": {"connector_status": "Occupied"},
                   "evse_io.state.evse.2": {"connector_status": "Available"}}
    other = late.subscribe("evse_io.evt.")
    assert other.queue.empty(), "events are not cached"
    await late.close()
    await pub.close()


async def test_liveness_table_marks_dead_after_missed_beats_and_counts_restarts(run_dir, broker, probe) -> None:
    svc = BusClient(run_dir, "meter", strict=False)
    await svc.start()
    _, env = await probe.wait_for("bus.state.services", lambda e: "meter" in e.body["services"])
    assert env.body["services"]["meter"]["alive"] is True
    await svc.close()  # stops beating: dead after 3 × 0.2 s
    await probe.wait_for("bus.state.services", lambda e: e.body["services"]["meter"]["alive"] is False)

    again = BusClient(run_dir, "meter", strict=False)  # a restart is a new session
    await again.start()
    _, env = await probe.wait_for("bus.state.services", lambda e: e.body["services"]["meter"]["alive"])
    assert env.body["services"]["meter"]["restarts"] == 1
    assert env.body["services"]["meter"]["session"] == again.stamper.session
    await again.close()


async def test_broker_restart_publishers_and_subscribers_recover_and_cache_refills(run_dir) -> None:
    broker = BrokerThread(run_dir, heartbeat_s=0.1).start()
    pub = BusClient(run_dir, "modem", strict=False)
    await pub.start()
    await pub.publish_state("info", {"iccid": "8988"})
    listener = Probe(run_dir)
    await listener.start()
    await listener.wait_for("modem.state.info")

    broker.restart()  # the cache is gone with the old broker
    # the publisher sees the new broker session and re-publishes; a brand-new subscriber gets it cached
    await listener.wait_for("modem.state.info", timeout=5)
    fresh = Probe(run_dir, "fresh")
    await fresh.start()
    _, env = await fresh.wait_for("modem.state.info", timeout=5)
    assert env.body == {"iccid": "8988"}
    events = listener.subscribe("modem.evt.registered")
    await pub.publish_event("registered", {"operator": "X"})  # live traffic flows again
    _, env = await events.get(timeout=5)
    assert env.body == {"operator": "X"}
    for client in (fresh, listener, pub):
        await client.close()
    broker.stop()


async def test_malformed_frames_are_dropped_counted_and_never_stop_the_broker(run_dir, broker, probe) -> None:
    ctx = zmq.asyncio.Context.instance()
    raw = ctx.socket(zmq.PUB)
    raw.connect(endpoints.publish_endpoint(run_dir))
    good = BusClient(run_dir, "sim", strict=False)
    await good.start()
    bad_frames = [
        [b"only-one-frame"],
        [b"a.evt.x", b"b", b"c"],
        [b"x.evt.y", b"\xc1 not msgpack"],
        [b"x.state.y", msgpack.packb({"msg_id": 5})],
        [b"x.evt.y", b"\x00" * 300_000],
        [b"no-kind-topic", msgpack.packb({"msg_id": "m", "src": "s", "session": "x", "seq": 1, "ts": 1.0,
                                          "kind": "evt", "name": "n"})],
    ]
    ping = [b"raw.evt.ping", msgpack.packb({"msg_id": "m", "src": "raw", "session": "x", "seq": 1, "ts": 1.0,
                                            "kind": "evt", "name": "ping"})]
    pinged = probe.subscribe("raw.evt.ping")
    while True:  # a raw PUB is connected once its pings come through
        await raw.send_multipart(ping)
        try:
            await pinged.get(timeout=0.02)
            break
        except TimeoutError:
            continue
    after = probe.subscribe("sim.evt.after")
    for frames in bad_frames:
        await raw.send_multipart(frames)
    await good.publish_event("after", {"ok": 1})
    await after.get(timeout=5)
    _, env = await probe.wait_for("bus.state.broker", lambda e: sum(e.body["dropped"].values()) >= 6)
    assert set(env.body["dropped"]) >= {"frame_count", "undecodable", "bad_field", "oversized", "bad_topic"}
    raw.close(0)
    await good.close()


async def test_snapshot_command_returns_cached_state(run_dir, broker, probe) -> None:
    await probe.publish_state("thing", {"v": 1})
    await probe.wait_for("probe.state.thing")
    result = await probe.call("bus", "snapshot", {"prefix": "probe."})
    assert result["state"]["probe.state.thing"]["body"] == {"v": 1}
