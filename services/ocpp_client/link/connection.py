"""The station's WebSocket link to the CSMS (OCPP-J part 4 §3, §5; part 2 A00/A01).

One `Connection` keeps the link up: URL = CSMS URL + "/" + station id, subprotocol ocpp2.0.1,
HTTP Basic auth (profiles 1, 2), TLS 1.2+ against the CSMS root CA (2, 3), a client certificate
(3). Lost links come back after the part 4 §5.3 back-off; pings follow WebSocketPingInterval.
`disconnect()` holds the link down until `connect()`. Messages go to `on_message`; replies and
CALLs go out through `send_text`. Callbacks may be plain functions or coroutines (run as tasks).
`on_reply(text) -> bool`, when given, sees each text message first, as it arrives (direct_replies.py);
what it does not take goes to `on_message` in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from services.ocpp_client.link.connection_settings import (
    ActiveSettings,
    ConnectionSettings,
    RetryBackOff,
    authorization_header,
    client_tls_context,
    security_event_for,
)
from services.ocpp_client.link.direct_replies import DirectReplies, ReplySink
from services.ocpp_client.link.rpc_errors import NotConnected
from station.logs import HideAuthorization

__all__ = ["SUBPROTOCOL", "Connection", "ConnectionSettings", "LinkStats", "LinkUp", "RetryBackOff"]

log = logging.getLogger("reon.ocpp.connection")
SUBPROTOCOL = "ocpp2.0.1"
PONG_WAIT_MAX_S = 30.0
CLOSE_TIMEOUT_S = 5.0


_ws_log = logging.getLogger("reon.ocpp.websocket")
_ws_log.addFilter(HideAuthorization())


@dataclass(frozen=True)
class LinkUp:
    """What `on_connected` receives."""

    url: str
    security_profile: int


@dataclass
class LinkStats:
    connects: int = 0
    failed_attempts: int = 0
    pings_sent: int = 0
    pongs_received: int = 0
    last_rtt_s: float | None = None


class _AttemptFailed(Exception):
    """One connection attempt failed; the reason is a readable line."""


Callback = Callable[..., Any]


class Connection:
    """Keeps the WebSocket to the CSMS up (or down, when told) and moves text frames.

    `settings_source()`, when given, supplies the settings of every attempt (connection_settings.py
    ActiveSettings). Callbacks: on_connected(LinkUp), on_disconnected(reason: str),
    on_connect_failed(reason: str),
    on_security_event(event_type: str, tech_info: str) for FailedToAuthenticateAtCsms,
    InvalidCsmsCertificate and InvalidTLSVersion, on_password_result(new_accepted: bool).
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        on_message: Callable[[str | bytes], Awaitable[None]],
        *,
        back_off: RetryBackOff | None = None,
        ping_interval_s: float = 30.0,
        on_connected: Callback | None = None,
        on_disconnected: Callback | None = None,
        on_connect_failed: Callback | None = None,
        on_security_event: Callback | None = None,
        on_password_result: Callback | None = None,
        settings_source: Callable[[], ConnectionSettings] | None = None,
        rng: Callable[[], float] = random.random,
        on_reply: ReplySink | None = None,
    ) -> None:
        self._settings = ActiveSettings(settings, settings_source)
        self._on_message = on_message
        self._on_reply = on_reply
        self.back_off = back_off or RetryBackOff()
        self._ping_interval_s = _check_ping_interval(ping_interval_s)
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._on_connect_failed = on_connect_failed
        self._on_security_event = on_security_event
        self._on_password_result = on_password_result
        self._rng = rng
        self.stats = LinkStats()
        self._ws: DirectReplies | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._callback_tasks: set[asyncio.Task[Any]] = set()
        self._want_up = True
        self._stopped = False
        self._connect_now = False
        self._reconnect_now = False
        self._wake = asyncio.Event()
        self._down = asyncio.Event()
        self._down.set()
        self._ping_changed = asyncio.Event()

    # ---- public API ----------------------------------------------------------------------------

    @property
    def settings(self) -> ConnectionSettings:
        return self._settings.current

    @property
    def url(self) -> str:
        return self._settings.current.url

    @property
    def is_connected(self) -> bool:
        return self._ws is not None

    async def start(self) -> None:
        """Start keeping the link up (the first attempt is immediate)."""
        if self._run_task is None:
            self._run_task = asyncio.create_task(self._run(), name="ocpp-connection")

    async def stop(self) -> None:
        """Close the link and end the connection task for good."""
        self._stopped = True
        self._want_up = False
        self._wake.set()
        await self._close_ws("station stopping")
        if self._run_task is not None:
            self._run_task.cancel()
            await asyncio.gather(self._run_task, return_exceptions=True)
            self._run_task = None
        for task in list(self._callback_tasks):
            task.cancel()
        await asyncio.gather(*self._callback_tasks, return_exceptions=True)

    async def disconnect(self) -> None:
        """Drop the link and keep it down (hold-down) until `connect()`."""
        self._want_up = False
        self._wake.set()
        await self._close_ws("held down")
        await self._down.wait()

    async def connect(self) -> None:
        """Release the hold-down; the next attempt is now, not after a back-off."""
        self._want_up = True
        self._connect_now = True
        self._wake.set()

    async def send_text(self, text: str) -> None:
        """Send one frame; raises NotConnected when the link is down."""
        ws = self._ws
        if ws is None:
            raise NotConnected("CSMS link is down")
        try:
            await ws.send(text)
        except ConnectionClosed as exc:
            raise NotConnected(f"CSMS link closed: {exc}") from None

    def set_ping_interval(self, seconds: float) -> None:
        """WebSocketPingInterval: seconds between pings, 0 = no pings (takes effect now)."""
        self._ping_interval_s = _check_ping_interval(seconds)
        self._ping_changed.set()

    async def set_password(self, new_password: str) -> None:
        """Use a new BasicAuthPassword (A01): reconnect with it, fall back to the old one if refused.

        `on_password_result(accepted: bool)` tells which one the CSMS took.
        """
        if self._settings.new_password(new_password):
            await self._reconnect("new password")

    async def apply_settings(
        self, settings: ConnectionSettings, *, allow_downgrade_3_to_2: bool = False
    ) -> None:
        """New URL, credentials or certificates; never a lower security profile (A00.FR.005)."""
        self._settings.apply(settings, allow_downgrade_3_to_2=allow_downgrade_3_to_2)
        await self._reconnect("new connection settings")

    # ---- the connection loop -------------------------------------------------------------------

    async def _run(self) -> None:
        retry_index = 0
        delay_s: float | None = None
        while not self._stopped:
            if not self._want_up:
                await self._idle(None)
                delay_s, retry_index = None, 0
                continue
            if delay_s is not None and not self._connect_now:
                log.info("reconnecting to %s in %.2f s", self.url, delay_s)
                await self._idle(delay_s)
                if not self._want_up:
                    continue
            self._connect_now = False
            try:
                ws = await self._open()
            except _AttemptFailed as exc:
                self.stats.failed_attempts += 1
                log.warning("CSMS connection attempt failed: %s", exc)
                self._notify(self._on_connect_failed, str(exc))
                delay_s = self.back_off.delay_s(retry_index, self._rng)
                retry_index += 1
                continue
            if not self._want_up:  # disconnect() came while the attempt was in flight
                await ws.close()
                continue
            retry_index = 0
            await self._serve(ws)
            if self._reconnect_now:
                self._reconnect_now, delay_s = False, None
            else:
                delay_s, retry_index = self.back_off.delay_s(0, self._rng), 1

    async def _idle(self, delay_s: float | None) -> None:
        """Sleep for delay_s (None: until woken); connect(), disconnect() and stop() wake it."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay_s):
                await self._wake.wait()

    async def _open(self) -> DirectReplies:
        try:
            self._settings.refresh()
        except ValueError as exc:
            raise _AttemptFailed(f"no usable connection settings: {exc}") from None
        settings = self._settings.current
        tls = None
        if settings.security_profile >= 2:
            try:
                tls = client_tls_context(settings.security_profile, str(settings.csms_root_ca_file),
                                         settings.client_cert_file, settings.client_key_file)
            except (OSError, ValueError) as exc:
                raise _AttemptFailed(f"TLS setup failed: {exc}") from None
        reason = "no credentials"
        for password, is_new in self._settings.password_candidates():
            which = "new" if is_new else "current"
            headers = {"Authorization": authorization_header(settings.station_id, password)} if password else {}
            try:
                ws = await ws_connect(
                    settings.url, subprotocols=[SUBPROTOCOL], additional_headers=headers, ssl=tls,
                    open_timeout=settings.open_timeout_s, ping_interval=None, close_timeout=CLOSE_TIMEOUT_S,
                    max_size=settings.max_message_bytes, proxy=None, user_agent_header="REON",
                    logger=_ws_log, create_connection=DirectReplies,
                )
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status != 401:
                    raise _AttemptFailed(f"CSMS answered HTTP {status}") from None
                reason = f"CSMS refused the {which} password (HTTP 401)"
                self._notify(self._on_security_event, "FailedToAuthenticateAtCsms", reason)
                continue
            except ssl.SSLError as exc:
                event = security_event_for(exc)
                if event is not None:
                    self._notify(self._on_security_event, *event)
                raise _AttemptFailed(f"TLS handshake failed: {exc}") from None
            except Exception as exc:  # OSError, TimeoutError, InvalidHandshake, ...
                raise _AttemptFailed(f"{type(exc).__name__}: {exc}") from None
            if ws.subprotocol != SUBPROTOCOL:
                await ws.close(1002, f"{SUBPROTOCOL} required")
                raise _AttemptFailed(f"CSMS did not agree to subprotocol {SUBPROTOCOL}")
            if self._settings.settle_password(password, is_new):
                self._notify(self._on_password_result, is_new)
            assert isinstance(ws, DirectReplies)
            return ws
        raise _AttemptFailed(reason)

    async def _serve(self, ws: DirectReplies) -> None:
        self._ws = ws
        ws.reply_sink = self._on_reply
        self._down.clear()
        self.stats.connects += 1
        profile = self._settings.current.security_profile
        log.info("CSMS link up: %s (security profile %d)", self.url, profile)
        self._notify(self._on_connected, LinkUp(self.url, profile))
        pinger = asyncio.create_task(self._ping_loop(ws), name="ocpp-ping")
        try:
            async for data in ws:
                ws.message_taken()
                try:
                    await self._on_message(data)
                except Exception:
                    log.exception("message handler failed; the link stays up")
        except ConnectionClosed:
            pass
        finally:
            pinger.cancel()
            await asyncio.gather(pinger, return_exceptions=True)
            self._ws = None
            self._down.set()
            reason = str(ws.protocol.close_exc)  # e.g. "sent 1009 (message too big); no close frame received"
            log.warning("CSMS link down: %s", reason)
            self._notify(self._on_disconnected, reason)

    async def _ping_loop(self, ws: DirectReplies) -> None:
        """WebSocketPingInterval pings; no pong within the interval (max 30 s) drops the link."""
        while True:
            self._ping_changed.clear()
            interval_s = self._ping_interval_s
            try:
                async with asyncio.timeout(interval_s if interval_s > 0 else None):
                    await self._ping_changed.wait()
                continue  # the interval changed: start over with the new one
            except TimeoutError:
                pass
            try:
                pong = await ws.ping()
                self.stats.pings_sent += 1
                async with asyncio.timeout(min(interval_s, PONG_WAIT_MAX_S)):
                    self.stats.last_rtt_s = await pong
                self.stats.pongs_received += 1
            except TimeoutError:
                log.warning("no pong from the CSMS within %g s: dropping the link", interval_s)
                if ws.transport is not None:
                    ws.transport.abort()
                return
            except ConnectionClosed:
                return

    async def _reconnect(self, why: str) -> None:
        """Close a live link so the loop reconnects at once (no back-off)."""
        if self._ws is not None:
            self._reconnect_now = True
            await self._close_ws(why)
        else:
            self._connect_now = True
            self._wake.set()

    async def _close_ws(self, why: str) -> None:
        ws = self._ws
        if ws is not None:
            log.info("closing the CSMS link: %s", why)
            await ws.close(1000, why)

    def _notify(self, callback: Callback | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            result = callback(*args)
        except Exception:
            log.exception("connection callback %r failed", callback)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._callback_tasks.add(task)
            task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Task[Any]) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("connection callback failed", exc_info=task.exception())


def _check_ping_interval(seconds: float) -> float:
    if seconds < 0:
        raise ValueError(f"websocket_ping_interval_s must be >= 0, got {seconds}")
    return float(seconds)
