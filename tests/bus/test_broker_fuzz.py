"""No input of any shape stops the broker: random RPC requests, garbage multipart frames on its publish side
and on its subscribe side; after each batch it still forwards and still answers `snapshot`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus import endpoints
from bus.envelope import Stamper, decode, encode
from bus.harness import BrokerThread, remove_run_dir, short_run_dir

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
frames = st.lists(st.binary(max_size=64) | st.sampled_from([b"a.state.b", b"a.evt.b", b"a.hb", b"bus.state.x",
                                                              b"\x01", b"\x00", b"\x01a.", b""]),
                  min_size=0, max_size=4)


class Peer:
    """Raw sockets on every side of one broker, and a check that it is still whole."""

    def __init__(self, run_dir: Path) -> None:
        self.ctx = zmq.Context()
        self.run_dir = run_dir
        self.pub = self._sock(zmq.PUB, endpoints.publish_endpoint(run_dir))
        self.xsub = self._sock(zmq.XSUB, endpoints.subscribe_endpoint(run_dir))
        self.sub = self._sock(zmq.SUB, endpoints.subscribe_endpoint(run_dir))
        self.sub.setsockopt(zmq.SUBSCRIBE, b"fuzz.evt.alive")
        self.stamper = Stamper("fuzz")

    def _sock(self, kind: int, endpoint: str) -> zmq.Socket:
        sock = self.ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        return sock

    def rpc(self, raw_frames: list[bytes], timeout_ms: int = 2000) -> bytes | None:
        dealer = self._sock(zmq.DEALER, endpoints.rpc_endpoint(self.run_dir, "bus"))
        try:
            dealer.send_multipart(raw_frames)
            return dealer.recv() if dealer.poll(timeout_ms) else None
        finally:
            dealer.close(0)

    def assert_alive(self) -> None:
        reply = self.rpc([encode(self.stamper.make("cmd", "snapshot", {"prefix": "fuzz."}))])
        assert reply is not None, "the broker no longer answers snapshot"
        assert decode(reply).body["ok"] is True
        alive = [b"fuzz.evt.alive", encode(self.stamper.make("evt", "alive", {}))]
        for _ in range(100):  # forwarding: a fresh SUB may miss the first ones while it joins
            self.pub.send_multipart(alive)
            if self.sub.poll(50):
                assert self.sub.recv_multipart()[0] == b"fuzz.evt.alive"
                while self.sub.poll(0):
                    self.sub.recv_multipart()
                return
        raise AssertionError("the broker no longer forwards")

    def close(self) -> None:
        self.ctx.destroy(0)


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    run_dir = short_run_dir()
    broker = BrokerThread(run_dir, heartbeat_s=0.2).start()
    client = Peer(run_dir)
    yield client
    client.close()
    broker.stop()
    assert not broker.thread.is_alive()
    remove_run_dir(run_dir)


@FUZZ
@given(name=st.sampled_from(["snapshot", "", "x" * 300]) | st.text(max_size=20),
       body=values | st.fixed_dictionaries({}, optional={"prefix": values | st.text(), "after": values | st.text()}),
       kind=st.sampled_from(["cmd", "reply", "state"]))
def test_any_rpc_request_is_answered_or_dropped_and_the_broker_keeps_serving(peer: Peer, name, body, kind) -> None:
    raw = msgpack.packb({"msg_id": "m1", "src": "fuzz", "session": "s", "seq": 1, "ts": 1.0, "kind": kind,
                         "name": name, "body": body}, use_bin_type=True)
    reply = peer.rpc([raw], timeout_ms=1000)
    if reply is not None:
        assert decode(reply).body["ok"] in (True, False)
    peer.assert_alive()


@FUZZ
@given(request=st.lists(st.binary(max_size=200), min_size=1, max_size=3), bodies=st.lists(values, max_size=3))
def test_garbage_rpc_frames_never_stop_the_broker(peer: Peer, request, bodies) -> None:
    peer.rpc(request, timeout_ms=50)
    for body in bodies:  # a map that is almost an envelope
        peer.rpc([msgpack.packb({"msg_id": body, "name": "snapshot", "body": body}, use_bin_type=True)],
                 timeout_ms=50)
    peer.assert_alive()


@FUZZ
@given(batch=st.lists(frames, min_size=1, max_size=8), bodies=st.lists(values, max_size=4))
def test_garbage_bus_frames_on_either_side_never_stop_the_broker(peer: Peer, batch, bodies) -> None:
    for message in batch:
        if message:
            peer.pub.send_multipart(message)
            peer.xsub.send_multipart(message)
    for body in bodies:  # well-formed maps with hostile fields, on a state topic (decoded and cached)
        peer.pub.send_multipart([b"fuzz.state.x", msgpack.packb({"kind": "state", "body": body, "seq": body},
                                                                use_bin_type=True)])
    peer.assert_alive()
