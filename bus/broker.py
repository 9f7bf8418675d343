"""reon-bus: the broker every service talks through.

XSUB/XPUB forwarding with a Last Value Cache (zguide ch. 5): the last message of every `state` topic is kept
and replayed to each new subscription whose prefix matches (XPUB_VERBOSE passes every subscription through).
Heartbeats (`<service>.hb`) feed the liveness table published as `bus.state.services`. The broker also
serves `snapshot` on its own RPC socket for `reonctl status`. Malformed frames are dropped, counted and
logged once per reason; nothing a peer sends can stop the loop.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from bus import endpoints
from bus.envelope import BadMessage, Stamper, check, decode, encode
from bus.frames import recv_frames, send_frames

log = logging.getLogger("bus.broker")

HEARTBEAT_S = 1.0
MISSED_BEATS = 3
TABLE_REFRESH_S = 5.0
DRAIN_BATCH = 500


class Broker:
    """One broker on one run directory. `run()` blocks until `stop()` is called (thread-safe)."""

    def __init__(self, run_dir: str | Path, *, heartbeat_s: float = HEARTBEAT_S,
                 missed_beats: int = MISSED_BEATS) -> None:
        self.run_dir = endpoints.ensure_run_dir(run_dir)
        self.heartbeat_s = heartbeat_s
        self.dead_after_s = heartbeat_s * missed_beats
        self.stamper = Stamper("bus")
        self.started = time.time()
        self.cache: dict[bytes, list[bytes]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self._last_beat_mono: dict[str, float] = {}
        self._topic_kinds: dict[bytes, str] = {}
        self.forwarded = 0
        self.dropped: dict[str, int] = {}
        self._stop = threading.Event()
        self._wake: zmq.Socket | None = None
        self.ready = threading.Event()

    # -- life ------------------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        ctx = zmq.Context.instance()
        xsub = ctx.socket(zmq.XSUB)
        xpub = ctx.socket(zmq.XPUB)
        router = ctx.socket(zmq.ROUTER)
        for sock in (xsub, xpub, router):
            sock.setsockopt(zmq.LINGER, 0)
        xpub.setsockopt(zmq.XPUB_VERBOSE, 1)
        xpub.setsockopt(zmq.SNDHWM, 100_000)
        xsub.setsockopt(zmq.RCVHWM, 100_000)
        xsub.bind(endpoints.publish_endpoint(self.run_dir))
        xpub.bind(endpoints.subscribe_endpoint(self.run_dir))
        router.bind(endpoints.rpc_endpoint(self.run_dir, "bus"))
        xsub.send(b"\x01")  # subscribe to everything: the cache needs every state message
        poller = zmq.Poller()
        for sock in (xsub, xpub, router):
            poller.register(sock, zmq.POLLIN)
        log.info("broker up in %s (session %s)", self.run_dir, self.stamper.session)
        self.ready.set()
        next_beat = next_table = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_beat:
                    self._publish(xpub, "hb", "", {"pid": os.getpid()})
                    self._check_liveness(xpub, now)
                    next_beat = now + self.heartbeat_s
                if now >= next_table:
                    self._publish_tables(xpub)
                    next_table = now + TABLE_REFRESH_S
                timeout_ms = max(0, min(next_beat, next_table) - time.monotonic()) * 1000
                events = dict(poller.poll(min(timeout_ms, 200)))
                if xpub in events:  # subscriptions first: a subscriber that asked before a publish gets it
                    self._drain_subscriptions(xpub)
                if xsub in events:
                    self._drain_publishers(xsub, xpub)
                if router in events:
                    self._serve_rpc(router)
        finally:
            for sock in (xsub, xpub, router):
                sock.close(0)
            log.info("broker stopped")

    # -- forwarding ------------------------------------------------------------------------------------
    def _drop(self, reason: str, detail: str) -> None:
        count = self.dropped.get(reason, 0) + 1
        self.dropped[reason] = count
        if count == 1:
            log.warning("dropped malformed bus message (%s): %s; further ones are only counted", reason, detail)

    def _drain_publishers(self, xsub: zmq.Socket, xpub: zmq.Socket) -> None:
        for _ in range(DRAIN_BATCH):
            try:
                frames = recv_frames(xsub)
            except zmq.Again:
                return
            if len(frames) != 2:
                self._drop("frame_count", f"{len(frames)} frames")
                continue
            topic, raw = frames
            try:
                env = check(raw)
                kind = self._topic_kinds.get(topic) or self._learn_topic(topic)
            except BadMessage as exc:
                self._drop(exc.reason, str(exc))
                continue
            if kind != env["kind"]:
                self._drop("topic_mismatch", f"{topic!r} carries kind {env['kind']!r}")
                continue
            if kind == "state":
                self.cache[topic] = frames
            elif kind == "hb":
                self._on_heartbeat(xpub, env)
            send_frames(xpub, frames)
            self.forwarded += 1

    def _learn_topic(self, topic: bytes) -> str:
        kind = _topic_kind(topic)
        if len(self._topic_kinds) > 50_000:  # a peer inventing topics must not grow us without bound
            self._topic_kinds.clear()
        self._topic_kinds[topic] = kind
        return kind

    def _drain_subscriptions(self, xpub: zmq.Socket) -> None:
        for _ in range(DRAIN_BATCH):
            try:
                msg = xpub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if not msg or msg[0] != 1:
                continue
            prefix = msg[1:]
            for topic, frames in list(self.cache.items()):
                if topic.startswith(prefix):
                    xpub.send_multipart(frames)

    # -- liveness --------------------------------------------------------------------------------------
    def _on_heartbeat(self, xpub: zmq.Socket, env: dict[str, Any]) -> None:
        src, session = env["src"], env["session"]
        body = env.get("body") if isinstance(env.get("body"), dict) else {}
        entry = self.services.get(src)
        changed = False
        if entry is None:
            entry = {"session": session, "restarts": 0, "alive": True}
            self.services[src] = entry
            changed = True
        elif entry["session"] != session:
            entry["session"] = session
            entry["restarts"] += 1
            changed = True
            log.info("service %s restarted (new session %s)", src, session)
        if not entry["alive"]:
            entry["alive"] = True
            changed = True
            log.info("service %s alive again", src)
        entry["pid"] = body.get("pid") if isinstance(body.get("pid"), int) else None
        started = body.get("started")
        entry["started"] = float(started) if isinstance(started, (int, float)) else None
        entry["last_heartbeat"] = float(env["ts"])
        self._last_beat_mono[src] = time.monotonic()
        if changed:
            self._publish_tables(xpub)

    def _check_liveness(self, xpub: zmq.Socket, now: float) -> None:
        changed = False
        for name, entry in self.services.items():
            if entry["alive"] and now - self._last_beat_mono.get(name, 0) > self.dead_after_s:
                entry["alive"] = False
                changed = True
                log.warning("service %s missed %d heartbeats: dead", name, MISSED_BEATS)
        if changed:
            self._publish_tables(xpub)

    def _publish_tables(self, xpub: zmq.Socket) -> None:
        table = {k: dict(v) for k, v in self.services.items()}
        table["bus"] = {"session": self.stamper.session, "pid": os.getpid(), "started": self.started,
                        "last_heartbeat": time.time(), "alive": True, "restarts": 0}
        self._publish(xpub, "state", "services", {"services": table})
        self._publish(xpub, "state", "broker", {
            "session": self.stamper.session, "forwarded": self.forwarded,
            "dropped": dict(self.dropped), "cached_topics": len(self.cache),
        })

    def _publish(self, xpub: zmq.Socket, kind: str, name: str, body: Any) -> None:
        topic = ("bus.hb" if kind == "hb" else f"bus.{kind}.{name}").encode()
        frames = [topic, encode(self.stamper.make(kind, name, body))]
        if kind == "state":
            self.cache[topic] = frames
        xpub.send_multipart(frames)

    # -- rpc -------------------------------------------------------------------------------------------
    def _serve_rpc(self, router: zmq.Socket) -> None:
        for _ in range(DRAIN_BATCH):
            try:
                frames = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) != 2:
                self._drop("rpc_frame_count", f"{len(frames)} frames")
                continue
            ident, raw = frames
            try:
                env = decode(raw)
            except BadMessage as exc:
                self._drop("rpc_" + exc.reason, str(exc))
                continue
            args = env.body if isinstance(env.body, dict) else {}
            if env.name == "snapshot":
                prefix = args.get("prefix") if isinstance(args.get("prefix"), str) else ""
                reply = {"ok": True, "result": {"state": self.snapshot(prefix)}}
            else:
                reply = {"ok": False, "error": {"code": "unknown_command", "message": env.name}}
            router.send_multipart([ident, encode(self.stamper.make("reply", env.name, reply, env.msg_id))])

    def snapshot(self, prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for topic, frames in self.cache.items():
            name = topic.decode()
            if name.startswith(prefix):
                env = decode(frames[1])
                out[name] = {"ts": env.ts, "src": env.src, "body": env.body}
        return out


def _topic_kind(topic: bytes) -> str:
    """`svc.state.x` → state, `svc.evt.x` → evt, `svc.hb` → hb; anything else is malformed."""
    try:
        text = topic.decode("ascii")
    except UnicodeDecodeError:
        raise BadMessage("bad_topic", repr(topic[:40])) from None
    parts = text.split(".")
    if len(parts) == 2 and parts[1] == "hb" and parts[0]:
        return "hb"
    if len(parts) >= 3 and parts[0] and parts[1] in ("state", "evt") and all(parts[2:]):
        return parts[1]
    raise BadMessage("bad_topic", repr(text[:80]))


def main(argv: list[str] | None = None) -> int:
    from station.config import ConfigError, load_config
    from station.logs import setup_logging

    parser = argparse.ArgumentParser(prog="reon-bus", description="REON message broker")
    parser.add_argument("--config", default=None)
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    setup_logging("bus", args.log_format)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"reon-bus: bad config: {exc}", file=sys.stderr)
        return 2
    broker = Broker(config.paths.run_dir)
    signal.signal(signal.SIGTERM, lambda *_: broker.stop())
    signal.signal(signal.SIGINT, lambda *_: broker.stop())
    broker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
