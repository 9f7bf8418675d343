"""reon-bus: the broker every service talks through.

XSUB/XPUB forwarding with a bounded Last Value Cache (zguide ch. 5, bus/last_value_cache.py): the last message
of every `state` topic is kept and replayed to each new subscription whose prefix matches (XPUB_VERBOSE passes
every subscription through). Heartbeats (`<service>.hb`, every `[bus] heartbeat_s`) feed the liveness table
published as `bus.state.services` (a service is dead after 3 missed beats). The broker beats too, on the same
period and at once for a new subscription to `bus.hb`: a client that reconnects to a restarted broker learns
of it without waiting a period, and beats and re-publishes its state. Only what the broker itself needs is
decoded: the topic frame of every message, the envelope of state messages (cached) and heartbeats (liveness);
events are forwarded as they came, after a size and map-marker check (subscribers decode and check each
envelope themselves). The broker also serves `snapshot`, in pages, on its own RPC socket for `reonctl
status`. Malformed frames are dropped, counted and logged once per reason; nothing a peer sends can stop the
loop.
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
from bus.envelope import MAX_MESSAGE_BYTES, BadMessage, Stamper, check, decode, encode
from bus.frames import recv_frames, send_frames
from bus.last_value_cache import BUDGET_BYTES, MAX_TOPIC_BYTES, PAGE_BYTES, LastValueCache

log = logging.getLogger("bus.broker")

MAX_PROBLEMS = 8
MAX_PROBLEM_CHARS = 300
HEARTBEAT_S = 10.0  # the default of `[bus] heartbeat_s`; tests run brokers with 0.1–0.2 s
MISSED_BEATS = 3
TABLE_REFRESH_S = 5.0  # the tables go out on change, and at least this often or every beat if that is longer
_BEAT_TOPIC = b"bus.hb"
DRAIN_BATCH = 500
# first byte of a msgpack map: fixmap 0x80–0x8f, map16 0xde, map32 0xdf
_MAP_MARKERS = frozenset((*range(0x80, 0x90), 0xDE, 0xDF))


class Broker:
    """One broker on one run directory. `run()` blocks until `stop()` is called (thread-safe)."""

    def __init__(self, run_dir: str | Path, *, heartbeat_s: float = HEARTBEAT_S,
                 missed_beats: int = MISSED_BEATS, max_topic_bytes: int = MAX_TOPIC_BYTES,
                 cache_budget_bytes: int = BUDGET_BYTES, page_bytes: int = PAGE_BYTES) -> None:
        self.run_dir = endpoints.ensure_run_dir(run_dir)
        self.heartbeat_s = heartbeat_s
        self.dead_after_s = heartbeat_s * missed_beats
        self.table_refresh_s = max(TABLE_REFRESH_S, heartbeat_s)
        self.stamper = Stamper("bus")
        self.started = time.time()
        self.cache = LastValueCache(max_topic_bytes=max_topic_bytes, budget_bytes=cache_budget_bytes)
        self.page_bytes = page_bytes
        self.services: dict[str, dict[str, Any]] = {}
        self._last_beat_mono: dict[str, float] = {}
        self._topic_kinds: dict[bytes, str] = {}
        self.forwarded = 0
        self.dropped: dict[str, int] = {}
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()  # stop() writes a byte: the poll wakes at once, not on a timer
        os.set_blocking(self._wake_w, False)
        self.ready = threading.Event()

    # -- life ------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Thread- and signal-safe: the loop sleeps on its sockets and this pipe until the next deadline."""
        self._stop.set()
        try:
            if self._wake_w >= 0:
                os.write(self._wake_w, b"x")
        except OSError:  # the pipe is full (woken already) or closed (stopped already)
            pass

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
        poller.register(self._wake_r, zmq.POLLIN)
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
                    next_table = now + self.table_refresh_s
                timeout_ms = max(0, min(next_beat, next_table) - time.monotonic()) * 1000
                events = dict(poller.poll(timeout_ms))  # no wake-up between deadlines: idle means asleep
                if xpub in events:  # subscriptions first: a subscriber that asked before a publish gets it
                    self._drain_subscriptions(xpub)
                if xsub in events:
                    self._drain_publishers(xsub, xpub)
                if router in events:
                    self._serve_rpc(router)
        except Exception:  # a bug must not pass silently, but supervisord restarts us: say what it was
            log.exception("broker loop failed")
            raise
        finally:
            for sock in (xsub, xpub, router):
                sock.close(0)
            wake_r, wake_w, self._wake_r, self._wake_w = self._wake_r, self._wake_w, -1, -1
            for fd in (wake_r, wake_w):
                os.close(fd)
            log.info("broker stopped")

    # -- forwarding ------------------------------------------------------------------------------------
    def _drop(self, reason: str, detail: str) -> None:
        count = self.dropped.get(reason, 0) + 1
        self.dropped[reason] = count
        if count == 1:
            log.warning("dropped malformed bus message (%s): %s; further ones are only counted", reason, detail)

    def _drain_publishers(self, xsub: zmq.Socket, xpub: zmq.Socket) -> None:
        topic_kinds = self._topic_kinds
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
                kind = topic_kinds.get(topic) or self._learn_topic(topic)
                if kind == "evt":  # the hot path: an event is forwarded as it came, after two cheap checks
                    if len(raw) > MAX_MESSAGE_BYTES:
                        raise BadMessage("oversized", f"{len(raw)} bytes")
                    if not raw or raw[0] not in _MAP_MARKERS:
                        raise BadMessage("undecodable", "not a msgpack map")
                    send_frames(xpub, frames)
                    self.forwarded += 1
                    continue
                env = check(raw)
            except BadMessage as exc:
                self._drop(exc.reason, str(exc))
                continue
            if kind != env["kind"]:
                self._drop("topic_mismatch", f"{topic!r} carries kind {env['kind']!r}")
                continue
            if kind == "state":
                self.cache.put(topic, frames)
            else:
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
            if _BEAT_TOPIC.startswith(msg[1:]):  # a (re)connected client: tell it who we are now
                self._publish(xpub, "hb", "", {"pid": os.getpid()})
            for frames in self.cache.matching(msg[1:]):
                send_frames(xpub, frames)

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
        problems = _problems(body.get("problems"))
        if problems != entry.get("problems", []):
            entry["problems"] = problems
            changed = True
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
        self._publish(xpub, "state", "broker", self.counters())

    def counters(self) -> dict[str, Any]:
        """The broker's own state: forwarding counters and the cache's size against its bounds."""
        return {"session": self.stamper.session, "forwarded": self.forwarded, "dropped": dict(self.dropped),
                "cached_topics": len(self.cache), "cache_bytes": self.cache.total_bytes,
                "cache_budget_bytes": self.cache.budget_bytes, "cache_max_topic_bytes": self.cache.max_topic_bytes,
                "cache_refused": self.cache.refused}

    def _publish(self, xpub: zmq.Socket, kind: str, name: str, body: Any) -> None:
        topic = ("bus.hb" if kind == "hb" else f"bus.{kind}.{name}").encode()
        frames = [topic, encode(self.stamper.make(kind, name, body))]
        if kind == "state":
            self.cache.put(topic, frames)
        send_frames(xpub, frames)

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
            try:
                reply = self._answer(env.name, env.body)
                data = encode(self.stamper.make("reply", env.name, reply, env.msg_id))
            except Exception as exc:  # no request, however odd or large its answer, may stop the broker
                log.exception("bus.%s failed", env.name)
                reply = {"ok": False, "error": {"code": "internal", "message": f"{type(exc).__name__}: {exc}"[:200]}}
                data = encode(self.stamper.make("reply", env.name, reply, env.msg_id))
            router.send_multipart([ident, data])

    def _answer(self, command: str, body: Any) -> dict[str, Any]:
        args = body if isinstance(body, dict) else {}
        if command != "snapshot":
            return {"ok": False, "error": {"code": "unknown_command", "message": command[:100]}}
        prefix, after = args.get("prefix", ""), args.get("after", "")
        if not isinstance(prefix, str) or not isinstance(after, str):
            return {"ok": False, "error": {"code": "bad_args", "message": "prefix and after must be strings"}}
        state, next_after = self.snapshot_page(prefix, after)
        return {"ok": True, "result": {"state": state, "next": next_after, "broker": self.counters()}}

    def snapshot_page(self, prefix: str = "", after: str = "") -> tuple[dict[str, Any], str | None]:
        """One page of cached state {topic: {ts, src, body}} in topic order, and the topic to ask for next
        (`after`), None on the last page. A message too large for a page alone is listed without its body."""
        out: dict[str, Any] = {}
        page, next_after = self.cache.page(prefix, after, self.page_bytes)
        for topic, raw in page:
            env = decode(raw)
            entry: dict[str, Any] = {"ts": env.ts, "src": env.src, "body": env.body}
            if self.cache.cost([topic, raw]) > self.page_bytes:
                entry = {"ts": env.ts, "src": env.src, "body": None, "omitted_bytes": len(raw)}
            out[topic.decode()] = entry
        return out, next_after

    def snapshot(self, prefix: str = "") -> dict[str, Any]:
        """Every cached state message whose topic starts with prefix (all pages, in process)."""
        out: dict[str, Any] = {}
        after: str | None = ""
        while after is not None:
            page, after = self.snapshot_page(prefix, after)
            out.update(page)
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


def _problems(raw: Any) -> list[str]:
    """A heartbeat's problem lines, bounded (a few short strings; anything else is dropped)."""
    if not isinstance(raw, list):
        return []
    return [p[:MAX_PROBLEM_CHARS] for p in raw[:MAX_PROBLEMS] if isinstance(p, str)]


def main(argv: list[str] | None = None) -> int:
    from station import scheduling
    from station.config import ConfigError, load_config
    from station.logs import setup_logging
    from station.programs import scheduling_of

    os.umask(0o077)
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
    scheduling.apply(scheduling_of("bus", config))
    broker = Broker(config.paths.run_dir, heartbeat_s=config.bus.heartbeat_s)
    signal.signal(signal.SIGTERM, lambda *_: broker.stop())
    signal.signal(signal.SIGINT, lambda *_: broker.stop())
    broker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
