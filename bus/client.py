"""The async bus client every service, reonctl and the test probe use.

Publishes through the broker's XSUB side and subscribes on its XPUB side. The PUB and SUB sockets are
plain zmq sockets driven by the event loop (the SUB socket's FD is watched with add_reader and drained in
batches), far cheaper per message than a future per receive; commands use zmq.asyncio (bus/rpc.py).
It remembers the last body of every state it published and re-publishes all of it, after a heartbeat, when
it sees a new broker session (the broker was restarted and lost its cache and its liveness table), so both
refill at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

from bus import endpoints
from bus.contract import Contract, load_contract
from bus.envelope import BadMessage, Envelope, Stamper, decode, encode
from bus.frames import SNDMORE, recv_frames
from bus.rpc import RpcClient
from station import health

log = logging.getLogger("bus.client")

REJOIN_WAIT_S = 5.0  # how long a service beats quickly to be heard by a broker it has just met

Callback = Callable[[str, Envelope], Awaitable[None] | None]


class Subscription:
    """Messages whose topic starts with `prefix`, as (topic, envelope) pairs, in arrival order."""

    def __init__(self, client: BusClient, prefix: str, maxsize: int = 10_000) -> None:
        self.client = client
        self.prefix = prefix
        self.queue: asyncio.Queue[tuple[str, Envelope]] = asyncio.Queue(maxsize)
        self.overflowed = 0

    def _offer(self, item: tuple[str, Envelope]) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed += 1

    async def get(self, timeout: float | None = None) -> tuple[str, Envelope]:
        if not self.queue.empty():
            return self.queue.get_nowait()
        return await asyncio.wait_for(self.queue.get(), timeout)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> tuple[str, Envelope]:
        return await self.queue.get()

    def close(self) -> None:
        self.client.unsubscribe(self)


class BusClient:
    """One process's connection to the bus, as service `src`."""

    def __init__(self, run_dir: str | Path, src: str, *, contract: Contract | None = None,
                 strict: bool | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.src = src
        self.contract = contract
        self.strict = strict if strict is not None else os.environ.get("REON_BUS_STRICT") == "1"
        self.stamper = Stamper(src)
        self.started = time.time()
        self.ctx = zmq.asyncio.Context.instance()
        self.pub: zmq.Socket | None = None
        self.sub: zmq.Socket | None = None
        self.rpc = RpcClient(self.run_dir, self.stamper, self.ctx)
        self.published_state: dict[str, Any] = {}
        self.broker_session: str | None = None
        self.bad_messages = 0
        self._subs: list[Subscription] = []
        self._callbacks: list[asyncio.Task[None]] = []
        self._rejoining: set[asyncio.Task[None]] = set()  # answering a broker's first beat (cancelled at close)
        self._reading = False
        self._pending_beat: Envelope | None = None
        self._joined = False  # start() was heard by the broker: the first broker session we see lost nothing
        self._started = asyncio.Event()
        self.beat_problems: list[str] | None = None  # the problems our last heartbeat carried (None: never beat)
        self._topics: dict[tuple[str, str], bytes] = {}

    # -- life ------------------------------------------------------------------------------------------
    async def start(self, wait_s: float = 2.0) -> bool:
        """Connect; wait up to `wait_s` until our own heartbeat comes back through the broker.

        Returns False when the broker did not answer in time (the sockets keep reconnecting by themselves).
        """
        ctx = zmq.Context.instance()
        self.pub = ctx.socket(zmq.PUB)
        self.sub = ctx.socket(zmq.SUB)
        for sock in (self.pub, self.sub):
            sock.setsockopt(zmq.LINGER, 0)
        self.pub.setsockopt(zmq.SNDHWM, 100_000)
        self.sub.setsockopt(zmq.RCVHWM, 100_000)
        self.pub.connect(endpoints.publish_endpoint(self.run_dir))
        self.sub.connect(endpoints.subscribe_endpoint(self.run_dir))
        self.sub.setsockopt(zmq.SUBSCRIBE, b"bus.hb")
        loop = asyncio.get_running_loop()
        loop.add_reader(self.sub.getsockopt(zmq.FD), self._drain)
        self._reading = True
        loop.call_soon(self._drain)
        try:
            self._joined = await self._beat_until_heard(wait_s)
        finally:
            self._started.set()
        if not self._joined:
            log.warning("broker not answering at %s; going on, the bus reconnects by itself", self.run_dir)
        return self._joined

    async def _beat_until_heard(self, wait_s: float) -> bool:
        """Beat until our own heartbeat comes back through the broker: it is in the liveness table, and our
        PUB socket is connected (what we publish next is not dropped)."""
        own_hb = self.subscribe(f"{self.src}.hb")
        deadline = time.monotonic() + wait_s
        try:
            while time.monotonic() < deadline:
                await self.heartbeat()
                try:
                    await own_hb.get(timeout=0.05)
                    return True
                except TimeoutError:
                    continue
            return False
        finally:
            own_hb.close()

    async def close(self) -> None:
        if self._reading and self.sub is not None:
            asyncio.get_running_loop().remove_reader(self.sub.getsockopt(zmq.FD))
            self._reading = False
        tasks = [*self._callbacks, *self._rejoining]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.rpc.close()
        for sock in (self.pub, self.sub):
            if sock is not None:
                sock.close(0)

    # -- publishing ------------------------------------------------------------------------------------
    async def publish(self, kind: str, name: str, body: Any) -> Envelope:
        if self.strict and self.contract is not None and kind in ("state", "evt"):
            self.contract.check_published(kind, name, body)
        env = self.stamper.make(kind, name, body)
        topic = self._topics.get((kind, name))
        if topic is None:
            topic = self._topic(kind, name)
        pub = self.pub
        assert pub is not None, "start() the client first"
        pub.send(topic, SNDMORE)  # PUB never blocks
        pub.send(encode(env), 0)
        if kind == "state":
            self.published_state[name] = body
        return env

    def _topic(self, kind: str, name: str) -> bytes:
        topic = (f"{self.src}.hb" if kind == "hb" else f"{self.src}.{kind}.{name}").encode()
        if len(self._topics) < 10_000:  # names come from our own code; bounded all the same
            self._topics[(kind, name)] = topic
        return topic

    async def publish_state(self, name: str, body: Any) -> Envelope:
        return await self.publish("state", name, body)

    async def publish_event(self, name: str, body: Any) -> Envelope:
        return await self.publish("evt", name, body)

    async def heartbeat(self) -> None:
        problems = health.problems()
        await self.publish("hb", "", {"pid": os.getpid(), "started": self.started, "problems": problems})
        self.beat_problems = problems

    async def republish_all(self) -> None:
        """Send every state this process has published again (periodic refresh, broker restart)."""
        for name, body in list(self.published_state.items()):
            await self.publish("state", name, body)

    # -- subscribing -----------------------------------------------------------------------------------
    def subscribe(self, prefix: str, callback: Callback | None = None) -> Subscription:
        """Receive every message whose topic starts with prefix; cached state is replayed at once.

        With a callback, messages are handed to it one at a time, in order, in a task of their own.
        """
        assert self.sub is not None, "start() the client first"
        sub = Subscription(self, prefix)
        self._subs.append(sub)
        self.sub.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        if self._reading:
            asyncio.get_running_loop().call_soon(self._drain)  # setsockopt may swallow the FD's edge
        if callback is not None:
            self._callbacks.append(asyncio.create_task(self._run_callback(sub, callback)))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            if self.sub is not None and not self.sub.closed:
                self.sub.setsockopt(zmq.UNSUBSCRIBE, sub.prefix.encode())

    async def _run_callback(self, sub: Subscription, callback: Callback) -> None:
        async for topic, env in sub:
            try:
                result = callback(topic, env)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("subscriber callback for %s failed on %s", sub.prefix, topic)

    def _drain(self, batch: int = 2000) -> None:
        """Read what the SUB socket holds (its FD is edge-triggered: drain until EVENTS says empty)."""
        sub = self.sub
        if sub is None or sub.closed or not self._reading:
            return
        for _ in range(batch):
            try:
                frames = recv_frames(sub)
            except zmq.Again:
                break
            self._dispatch(frames)
        else:
            asyncio.get_running_loop().call_soon(self._drain)  # more waiting: let others run first
        if self._pending_beat is not None:
            env, self._pending_beat = self._pending_beat, None
            task = asyncio.get_running_loop().create_task(self._on_broker_beat(env))
            self._rejoining.add(task)
            task.add_done_callback(self._rejoining.discard)

    def _dispatch(self, frames: list[bytes]) -> None:
        try:
            if len(frames) != 2:
                raise BadMessage("frame_count", f"{len(frames)} frames")
            topic = frames[0].decode("ascii")
            env = decode(frames[1])
        except (BadMessage, UnicodeDecodeError) as exc:
            self.bad_messages += 1
            if self.bad_messages == 1:
                log.warning("dropped a malformed bus message (%s); further ones are only counted", exc)
            return
        if topic == "bus.hb" and env.session != self.broker_session:
            self._pending_beat = env
        for sub in self._subs:
            if topic.startswith(sub.prefix):
                sub._offer((topic, env))

    async def _on_broker_beat(self, env: Envelope) -> None:
        if env.session != self.broker_session:
            if self.broker_session is not None:
                log.info("broker restarted (session %s): re-publishing %d states", env.session,
                         len(self.published_state))
            first, self.broker_session = self.broker_session is None, env.session
            await self._started.wait()
            if first and self._joined:
                return
            if self.beat_problems is not None:  # a service (not a viewer): in the new broker's table at once
                await self._beat_until_heard(REJOIN_WAIT_S)
            await self.republish_all()

    # -- commands --------------------------------------------------------------------------------------
    async def call(self, service: str, command: str, args: dict[str, Any] | None = None, *,
                   deadline_s: float = 3.0, idempotent: bool | None = None, msg_id: str | None = None) -> Any:
        """Call `command` on `service`; retried only when its contract declares it idempotent."""
        if idempotent is None:
            contract = load_contract(service)
            declared = contract.find_command(command) if contract else None
            idempotent = bool(declared and declared.idempotent)
        return await self.rpc.call(service, command, args or {}, deadline_s=deadline_s,
                                   idempotent=idempotent, msg_id=msg_id)
