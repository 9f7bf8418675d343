"""Commands between services: ROUTER server per service, DEALER client with a deadline.

Client: Lazy Pirate (zguide ch. 4) — each attempt uses a fresh DEALER socket; only commands declared
idempotent are retried, with the same msg_id so the server can recognise a repeat.
Server: every request is answered `{"ok": true, "result": …}` or `{"ok": false, "error": {code, message}}`;
replies are cached by msg_id, so a repeated request is answered from the cache and never executed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

from bus import endpoints
from bus.contract import Contract, ContractViolation, validate
from bus.envelope import BadMessage, Stamper, decode, encode, new_id

log = logging.getLogger("bus.rpc")

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
REPLY_CACHE = 1024


class RpcError(Exception):
    """A command failed: `code` is a stable label (timeout, unknown_command, bad_args, internal, …)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class RpcTimeout(RpcError):
    def __init__(self, message: str) -> None:
        super().__init__("timeout", message)


class RpcClient:
    def __init__(self, run_dir: Path, stamper: Stamper, ctx: zmq.asyncio.Context) -> None:
        self.run_dir = run_dir
        self.stamper = stamper
        self.ctx = ctx
        self._open: set[zmq.asyncio.Socket] = set()

    async def call(self, service: str, command: str, args: dict[str, Any], *, deadline_s: float,
                   idempotent: bool, msg_id: str | None = None, attempts: int = 3) -> Any:
        msg_id = msg_id or new_id()
        raw = encode(self.stamper.make("cmd", command, args, msg_id=msg_id))
        end = time.monotonic() + deadline_s
        tries = attempts if idempotent else 1
        for attempt in range(tries):
            remaining = end - time.monotonic()
            if remaining <= 0:
                break
            budget = remaining / (tries - attempt)
            reply = await self._attempt(service, raw, msg_id, budget)
            if reply is not None:
                return _unwrap(reply)
            if attempt + 1 < tries:
                log.info("no reply from %s.%s within %.2fs, retrying (idempotent)", service, command, budget)
        raise RpcTimeout(f"{service}.{command} gave no reply within {deadline_s:.1f}s")

    async def _attempt(self, service: str, raw: bytes, msg_id: str, budget_s: float) -> Any:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        self._open.add(sock)
        try:
            sock.connect(endpoints.rpc_endpoint(self.run_dir, service))
            await sock.send(raw)
            end = time.monotonic() + budget_s
            while (left := end - time.monotonic()) > 0:
                if not await sock.poll(left * 1000):
                    return None
                frames = await sock.recv_multipart()
                try:
                    env = decode(frames[-1])
                except BadMessage:
                    continue
                if env.kind == "reply" and env.parent_id == msg_id:
                    return env.body
            return None
        finally:
            self._open.discard(sock)
            sock.close(0)

    def close(self) -> None:
        for sock in list(self._open):
            sock.close(0)


def _unwrap(reply: Any) -> Any:
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        raise RpcError("bad_reply", repr(reply)[:200])
    if reply["ok"]:
        return reply.get("result")
    error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
    raise RpcError(str(error.get("code", "error")), str(error.get("message", "")))


class RpcServer:
    """Serves one service's commands on `<run_dir>/<service>.rpc`, each in a task of its own."""

    def __init__(self, run_dir: Path, stamper: Stamper, contract: Contract, handlers: dict[str, Handler],
                 ctx: zmq.asyncio.Context, *, strict: bool = False) -> None:
        missing = [c.name for c in contract.commands if c.name not in handlers]
        if missing:
            raise ContractViolation(f"{contract.service}: no handler for command(s) {', '.join(missing)}")
        self.run_dir = run_dir
        self.stamper = stamper
        self.contract = contract
        self.handlers = handlers
        self.ctx = ctx
        self.strict = strict
        self.sock: zmq.asyncio.Socket | None = None
        self.replies: OrderedDict[str, Any] = OrderedDict()
        self._waiting: dict[str, list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self.bad_requests = 0
        self.received = 0
        self.executed = 0

    async def start(self) -> None:
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(endpoints.rpc_endpoint(self.run_dir, self.contract.service))
        self._loop = asyncio.create_task(self._serve(), name=f"rpc-{self.contract.service}")

    async def close(self) -> None:
        for task in [self._loop, *self._tasks]:
            if task:
                task.cancel()
        for task in [self._loop, *self._tasks]:
            if task:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.sock is not None:
            self.sock.close(0)

    async def _serve(self) -> None:
        assert self.sock is not None
        while True:
            frames = await self.sock.recv_multipart()
            if len(frames) != 2:
                self._bad(f"{len(frames)} frames")
                continue
            ident, raw = frames
            try:
                env = decode(raw)
            except BadMessage as exc:
                self._bad(str(exc))
                continue
            if env.kind != "cmd":
                self._bad(f"kind {env.kind!r} on the command socket")
                continue
            self.received += 1
            if env.msg_id in self.replies:
                await self._send(ident, env.msg_id, env.name, self.replies[env.msg_id])
            elif env.msg_id in self._waiting:
                self._waiting[env.msg_id].append(ident)
            else:
                self._waiting[env.msg_id] = [ident]
                task = asyncio.create_task(self._execute(env.msg_id, env.name, env.body))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _bad(self, detail: str) -> None:
        self.bad_requests += 1
        if self.bad_requests == 1:
            log.warning("dropped a malformed command frame (%s); further ones are only counted", detail)

    async def _execute(self, msg_id: str, name: str, args: Any) -> None:
        reply = await self._run(name, args)
        self.replies[msg_id] = reply
        while len(self.replies) > REPLY_CACHE:
            self.replies.popitem(last=False)
        for ident in self._waiting.pop(msg_id, []):
            await self._send(ident, msg_id, name, reply)

    async def _run(self, name: str, args: Any) -> dict[str, Any]:
        command = self.contract.find_command(name)
        handler = self.handlers.get(name)
        if command is None or handler is None:
            return _error("unknown_command", f"{self.contract.service} has no command {name!r}")
        try:
            validate(command.args, args, "args")
        except ContractViolation as exc:
            return _error("bad_args", str(exc))
        self.executed += 1
        try:
            result = await handler(args)
            if self.strict:
                validate(command.result, result, "result")
        except RpcError as exc:
            return _error(exc.code, exc.message)
        except ContractViolation as exc:
            log.error("command %s returned a result outside its contract: %s", name, exc)
            return _error("internal", str(exc))
        except Exception as exc:
            log.exception("command %s failed", name)
            return _error("internal", f"{type(exc).__name__}: {exc}")
        return {"ok": True, "result": result}

    async def _send(self, ident: bytes, msg_id: str, name: str, reply: Any) -> None:
        assert self.sock is not None
        env = self.stamper.make("reply", name, reply, parent_id=msg_id)
        await self.sock.send_multipart([ident, encode(env)])


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}
