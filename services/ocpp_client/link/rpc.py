"""OCPP-J RPC over one CSMS link: our CALLs out, the CSMS's CALLs in (part 4 §4).

- `call()` keeps exactly one CALL outstanding (§4.1.1), waits MessageTimeout for the reply and
  returns the CALLRESULT payload, or raises CallError / CallTimeout / NotConnected.
- Incoming CALLs: unknown action -> NotImplemented, known but unhandled -> NotSupported, schema
  violation -> its constraint code, handler failure -> InternalError. Each handler runs as its own
  task, so the receive loop never waits for one.
- Payloads are checked against the 2.0.1 schemas both ways; a CALLRESULT/CALLERROR whose id is
  not the outstanding CALL's is logged and dropped.
- Message ids are a random prefix drawn per Rpc (per service start) and a counter: unique, ≤ 36 chars.
  One timer watches the outstanding CALL's deadline (re-armed only when it fires), not one per CALL.
The transport is a `send_text` coroutine, `receive()` and, for replies, `receive_reply()` (synchronous: a
transport calls it as the message arrives, so the waiting CALL resumes one event-loop turn sooner).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from services.ocpp_client.link import message_log as ml
from services.ocpp_client.link.call_stats import CallStats
from services.ocpp_client.link.ocpp_j import (
    Call,
    CallErrorFrame,
    CallResult,
    FrameError,
    call_frame,
    encode_error,
    encode_payload,
    encode_result,
    parse_frame,
)
from services.ocpp_client.link.payload_schema import KNOWN_ACTIONS, request_violation, response_violation
from services.ocpp_client.link.rpc_errors import (
    CallError,
    CallTimeout,
    NotConnected,
    RequestInvalid,
    ResponseInvalid,
)

__all__ = ["CallError", "CallTimeout", "Handler", "NotConnected", "Reply", "RequestInvalid",
           "ResponseInvalid", "Rpc"]

log = logging.getLogger("reon.ocpp.rpc")

SendText = Callable[[str], Awaitable[None]]
DEFAULT_MESSAGE_TIMEOUT_S = 30.0
MAX_CONCURRENT_HANDLERS = 16
_STALE_IDS_KEPT = 32


@dataclass(frozen=True)
class Reply:
    """A handler's answer plus work to start once the CALLRESULT is on the wire.

    Use it when answering leads to a CALL of our own (TriggerMessage -> BootNotification):
    a handler never awaits its own CALL inline.
    """

    payload: dict[str, Any]
    after_sent: Callable[[], Awaitable[None]] | None = None


Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | Reply]]


@dataclass
class _Outstanding:
    message_id: str
    action: str
    reply: asyncio.Future[dict[str, Any]]
    deadline: float  # loop.time()
    timeout_s: float


class Rpc:
    """Call/handler machinery of one OCPP-J connection (one per station)."""

    def __init__(self, send_text: SendText, *, message_timeout_s: float = DEFAULT_MESSAGE_TIMEOUT_S) -> None:
        self._send_text = send_text
        #: MessageTimeout: seconds to wait for the reply to a CALL (settable at run time).
        self.message_timeout_s = message_timeout_s
        #: Device-model variables whose values are never logged (WriteOnly ones).
        self.secret_variables: set[str] = set(ml.DEFAULT_SECRET_VARIABLES)
        self._handlers: dict[str, Handler] = {}
        self._call_lock = asyncio.Lock()
        self._outstanding: _Outstanding | None = None
        self._id_prefix = secrets.token_hex(8)
        self._id_numbers = itertools.count(1)
        self._watchdog: asyncio.TimerHandle | None = None
        self._finished_ids: deque[str] = deque(maxlen=_STALE_IDS_KEPT)
        self._handler_tasks: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()
        #: CALLs sent, CALLERRORs received, round trips (published for the metrics exporter).
        self.stats = CallStats()

    # ---- incoming CALLs ----------------------------------------------------------------------

    def register(self, action: str, handler: Handler) -> None:
        """Answer CALLs of `action` with `handler(payload) -> response payload | Reply`."""
        if action not in KNOWN_ACTIONS:
            raise ValueError(f"{action} is not an OCPP 2.0.1 action")
        self._handlers[action] = handler

    @property
    def unsupported_actions(self) -> frozenset[str]:
        """Actions OCPP 2.0.1 knows and this station answers with NotSupported."""
        return KNOWN_ACTIONS - self._handlers.keys()

    # ---- outgoing CALLs ----------------------------------------------------------------------

    async def call(
        self, action: str, payload: dict[str, Any], timeout: float | None = None, *, note: str = ""
    ) -> dict[str, Any]:
        """Send a CALL and return the CALLRESULT payload (one outstanding CALL at a time); `note` goes on its
        log line after the message id (e.g. where a queued message comes from)."""
        if asyncio.current_task() in self._handler_tasks:
            raise RuntimeError(f"a handler must not await {action} inline: return Reply(after_sent=...)")
        violation = request_violation(action, payload)
        if violation is not None:
            raise RequestInvalid(violation.code, violation.description, violation.details)
        message_id = f"{self._id_prefix}-{next(self._id_numbers)}"
        try:
            payload_json = encode_payload(payload)
        except (TypeError, ValueError, RecursionError) as exc:
            raise RequestInvalid("FormatViolation", f"{action} payload is not JSON: {exc}") from None
        async with self._call_lock:
            loop = asyncio.get_running_loop()
            timeout_s = self.message_timeout_s if timeout is None else timeout
            outstanding = _Outstanding(message_id, action, loop.create_future(), math.inf, timeout_s)
            self._outstanding = outstanding
            try:
                if log.isEnabledFor(logging.INFO):
                    log.info(ml.sent_call_line(action, message_id, payload_json, payload, self.secret_variables,
                                               note))
                await self._send_text(call_frame(message_id, action, payload_json))
                self.stats.sent(action)
                sent_at = time.monotonic()
                outstanding.deadline = loop.time() + timeout_s  # MessageTimeout counts from the send
                self._watch(loop, outstanding.deadline)
                try:
                    return await outstanding.reply
                finally:
                    self._count_answer(outstanding, sent_at)
            except CallTimeout:
                log.warning("%s [%s]: no reply within %g s", action, message_id, timeout_s)
                raise
            finally:
                self._outstanding = None
                self._finished_ids.append(message_id)

    def _watch(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Make sure the watchdog fires by `deadline` (a timer per CALL would cost a heap entry each)."""
        watchdog = self._watchdog
        if watchdog is not None:
            if watchdog.when() <= deadline:
                return
            watchdog.cancel()
        self._watchdog = loop.call_at(deadline, self._deadline_passed)

    def _deadline_passed(self) -> None:
        self._watchdog = None
        outstanding = self._outstanding
        if outstanding is None or outstanding.reply.done():
            return
        loop = outstanding.reply.get_loop()
        if loop.time() >= outstanding.deadline:
            outstanding.reply.set_exception(CallTimeout(outstanding.action, outstanding.message_id,
                                                        outstanding.timeout_s))
        else:
            self._watch(loop, outstanding.deadline)

    def _count_answer(self, outstanding: _Outstanding, sent_at: float) -> None:
        reply = outstanding.reply
        if reply.done() and not reply.cancelled():
            error = reply.exception()
            if error is None or isinstance(error, CallError):
                self.stats.answered(outstanding.action, time.monotonic() - sent_at, error=type(error) is CallError)

    def connection_lost(self) -> None:
        """The link dropped: the outstanding CALL fails now instead of timing out."""
        outstanding = self._outstanding
        if outstanding is not None and not outstanding.reply.done():
            outstanding.reply.set_exception(NotConnected(f"link lost while waiting for {outstanding.action}"))

    async def drain(self) -> None:
        """Wait until every running handler has answered (graceful stop, tests)."""
        while self._handler_tasks:
            await asyncio.gather(*self._handler_tasks, return_exceptions=True)

    async def close(self) -> None:
        """Cancel running handlers and after-sent work (service stop)."""
        tasks = self._handler_tasks | self._background
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- receive path ------------------------------------------------------------------------

    def receive_reply(self, data: str | bytes) -> bool:
        """Handle a CALLRESULT / CALLERROR at once (never raises for what the peer sends); False for anything
        else (a CALL, a broken frame), which the transport then hands to `receive()` in order."""
        if not isinstance(data, str) or data[1:2] not in ("3", "4"):  # '[3,' / '[4,': others take the long way
            return False
        try:
            frame = parse_frame(data)
        except FrameError:
            return False
        if isinstance(frame, CallResult):
            self._on_result(frame)
        elif isinstance(frame, CallErrorFrame):
            self._on_error(frame)
        else:
            return False
        return True

    async def receive(self, data: str | bytes) -> None:
        """Handle one WebSocket message; never raises for anything the peer sends."""
        try:
            frame = parse_frame(data)
        except FrameError as exc:
            await self._on_bad_frame(exc, data)
            return
        if isinstance(frame, Call):
            await self._on_call(frame)
        elif isinstance(frame, CallResult):
            self._on_result(frame)
        else:
            self._on_error(frame)

    async def _on_bad_frame(self, exc: FrameError, data: str | bytes) -> None:
        log.warning("%s invalid frame (%s: %s) %s", ml.IN, exc.code, exc.description, ml.raw_excerpt(data))
        if exc.reply:
            await self._send_error(exc.message_id, "?", exc.code, exc.description)
            return
        pending = self._outstanding
        if pending is not None and pending.message_id == exc.message_id and not pending.reply.done():
            pending.reply.set_exception(ResponseInvalid(exc.code, exc.description))

    async def _on_call(self, call: Call) -> None:
        action, message_id = call.action, call.message_id
        if log.isEnabledFor(logging.INFO):  # formatting a payload costs as much as checking it
            log.info(ml.call_line(ml.IN, action, message_id, call.payload, self.secret_variables))
        if action not in KNOWN_ACTIONS:
            await self._send_error(message_id, action, "NotImplemented", f"{action[:60]} is not known")
            return
        handler = self._handlers.get(action)
        if handler is None:
            await self._send_error(message_id, action, "NotSupported", f"{action} is not supported")
            return
        violation = request_violation(action, call.payload)
        if violation is not None:
            v = violation
            await self._send_error(message_id, action, v.code, v.description, v.details)
            return
        if len(self._handler_tasks) >= MAX_CONCURRENT_HANDLERS:
            await self._send_error(message_id, action, "GenericError", "too many CALLs in progress")
            return
        task = asyncio.create_task(self._run_handler(call, handler), name=f"ocpp-handler-{action}")
        self._handler_tasks.add(task)
        task.add_done_callback(self._handler_tasks.discard)

    async def _run_handler(self, call: Call, handler: Handler) -> None:
        action, message_id = call.action, call.message_id
        try:
            answer = handler(call.payload)
            if inspect.isawaitable(answer):
                answer = await answer
        except CallError as exc:
            await self._send_error(message_id, action, exc.code, exc.description, exc.details)
            return
        except Exception:
            log.exception("%s [%s]: handler failed", action, message_id)
            await self._send_error(message_id, action, "InternalError", f"{action} handler failed")
            return
        reply = answer if isinstance(answer, Reply) else Reply(answer)
        if not await self._send_result(call, reply.payload):
            return
        if reply.after_sent is not None:
            task = asyncio.create_task(self._run_after_sent(action, reply.after_sent))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _run_after_sent(self, action: str, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception:
            log.exception("%s: work after the reply failed", action)

    def _on_result(self, frame: CallResult) -> None:
        outstanding = self._match(frame.message_id, "result")
        if outstanding is None:
            return
        action = outstanding.action
        if log.isEnabledFor(logging.INFO):  # formatting a payload costs as much as checking it
            log.info(ml.result_line(ml.IN, action, frame.message_id, frame.payload, self.secret_variables))
        violation = response_violation(action, frame.payload)
        if violation is not None:
            log.warning("%s [%s]: CSMS reply breaks the schema: %s %s", action, frame.message_id,
                        violation.code, violation.details)
            outstanding.reply.set_exception(ResponseInvalid(violation.code, violation.description,
                                                            violation.details))
        else:
            outstanding.reply.set_result(frame.payload)

    def _on_error(self, frame: CallErrorFrame) -> None:
        outstanding = self._match(frame.message_id, f"error {frame.code} {frame.description!r}")
        if outstanding is None:
            return
        log.warning(ml.error_line(ml.IN, outstanding.action, frame.message_id, frame.code,
                                  frame.description, frame.details))
        outstanding.reply.set_exception(CallError(frame.code, frame.description, frame.details))

    def _match(self, message_id: str, kind: str) -> _Outstanding | None:
        outstanding = self._outstanding
        if outstanding is not None and outstanding.message_id == message_id and not outstanding.reply.done():
            return outstanding
        why = "stale (timed out or answered)" if message_id in self._finished_ids else "unknown"
        log.warning("%s %s [%s] dropped: id %s", ml.IN, kind, message_id, why)
        return None

    # ---- send path ---------------------------------------------------------------------------

    async def _send_result(self, call: Call, payload: Any) -> bool:
        action, message_id = call.action, call.message_id
        violation = response_violation(action, payload) if isinstance(payload, dict) else None
        if not isinstance(payload, dict) or violation is not None:
            log.error("%s [%s]: our response is invalid (%s): %s", action, message_id,
                      violation.details if violation else f"{type(payload).__name__}, not a dict",
                      ml.compact(payload, self.secret_variables))
            await self._send_error(message_id, action, "InternalError", f"{action} response invalid")
            return False
        try:
            text = encode_result(message_id, payload)
        except (TypeError, ValueError, RecursionError):
            log.exception("%s [%s]: response is not JSON", action, message_id)
            await self._send_error(message_id, action, "InternalError", f"{action} response invalid")
            return False
        if log.isEnabledFor(logging.INFO):  # formatting a payload costs as much as checking it
            log.info(ml.result_line(ml.OUT, action, message_id, payload, self.secret_variables))
        return await self._send_quietly(text)

    async def _send_error(
        self, message_id: str, action: str, code: str, description: str, details: dict[str, Any] | None = None
    ) -> None:
        log.warning(ml.error_line(ml.OUT, action, message_id, code, description, details or {}))
        await self._send_quietly(encode_error(message_id, code, description, details))

    async def _send_quietly(self, text: str) -> bool:
        """Send a reply; a dropped link only loses the reply (the CSMS times out)."""
        try:
            await self._send_text(text)
        except NotConnected as exc:
            log.warning("reply not sent: %s", exc)
            return False
        return True
