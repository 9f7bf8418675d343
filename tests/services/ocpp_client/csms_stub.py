"""Test doubles for the CSMS link: a bare WebSocket CSMS that sends raw frames, and a station link."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from services.ocpp_client.link.connection import Connection, ConnectionSettings, RetryBackOff
from services.ocpp_client.link.rpc import Rpc

PASSWORD = "station-password-0001"
STATION_ID = "CS-TEST-01"
WAIT_S = 3.0


async def wait_until(predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Poll a condition that no event announces (counters of the ping loop)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


class RawCsms:
    """A WebSocket server acting as CSMS: Basic auth check, raw frames in and out, a log of attempts."""

    def __init__(self, *, passwords: set[str] | None = None, tls: Any = None,
                 subprotocols: tuple[str, ...] = ("ocpp2.0.1",)) -> None:
        self.passwords = passwords if passwords is not None else {PASSWORD}
        self.tls = tls
        self.subprotocols = subprotocols
        self.attempts: list[float] = []  # monotonic time of every handshake request
        self.auth_log: list[tuple[str, str | None, bool]] = []  # (station id, password, accepted)
        self.peer_certs: list[dict[str, Any] | None] = []
        self.received: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.connections: asyncio.Queue[ServerConnection] = asyncio.Queue()
        self.ws: ServerConnection | None = None
        self._server: Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/ocpp"

    async def start(self) -> RawCsms:
        # no subprotocols: answer the handshake without Sec-WebSocket-Protocol (part 4 §3.2)
        choose = None if self.subprotocols else (lambda connection, offered: None)
        self._server = await serve(self._handler, "127.0.0.1", 0, ssl=self.tls,
                                   subprotocols=list(self.subprotocols) or None, select_subprotocol=choose,
                                   process_request=self._check, max_size=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.attempts.append(time.monotonic())
        station_id = unquote(request.path.rsplit("/", 1)[-1])
        ssl_object = connection.transport.get_extra_info("ssl_object")
        self.peer_certs.append(ssl_object.getpeercert() if ssl_object else None)
        if ssl_object is not None and ssl_object.getpeercert():
            self.auth_log.append((station_id, None, True))
            return None
        header = request.headers.get("Authorization", "")
        password = None
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if user != station_id:
                password = None
        accepted = password in self.passwords
        self.auth_log.append((station_id, password, accepted))
        return None if accepted else connection.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")

    async def _handler(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.connections.put_nowait(ws)
        try:
            async for message in ws:
                self.received.put_nowait(message)
        except Exception:
            pass

    async def wait_connection(self, timeout: float = WAIT_S) -> ServerConnection:
        return await asyncio.wait_for(self.connections.get(), timeout)

    async def send(self, text: str) -> None:
        assert self.ws is not None, "no station connected"
        await self.ws.send(text)

    async def send_json(self, frame: Any) -> None:
        await self.send(json.dumps(frame))

    async def recv(self, timeout: float = WAIT_S) -> Any:
        """The next frame from the station, decoded."""
        return json.loads(await asyncio.wait_for(self.received.get(), timeout))

    async def answer_next_call(self, payload: dict[str, Any], timeout: float = WAIT_S) -> list[Any]:
        frame = await self.recv(timeout)
        assert frame[0] == 2, frame
        await self.send_json([3, frame[1], payload])
        return frame


@dataclass
class StationLink:
    """A Connection and Rpc wired together, with queues fed by the connection callbacks."""

    connection: Connection
    rpc: Rpc
    connected: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    disconnected: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    failed: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    security_events: asyncio.Queue[tuple[str, str]] = field(default_factory=asyncio.Queue)
    password_results: asyncio.Queue[bool] = field(default_factory=asyncio.Queue)
    failure_times: list[float] = field(default_factory=list)  # monotonic time of each failed attempt

    def connect_failed(self, reason: str) -> None:
        self.failure_times.append(time.monotonic())
        self.failed.put_nowait(reason)

    async def wait_connected(self, timeout: float = WAIT_S) -> Any:
        return await asyncio.wait_for(self.connected.get(), timeout)

    async def wait_disconnected(self, timeout: float = WAIT_S) -> str:
        return await asyncio.wait_for(self.disconnected.get(), timeout)


def station_settings(csms: RawCsms, **overrides: Any) -> ConnectionSettings:
    values: dict[str, Any] = {"csms_url": csms.url, "station_id": STATION_ID,
                              "security_profile": 1, "basic_auth_password": PASSWORD}
    values.update(overrides)
    return ConnectionSettings(**values)


MakeStation = Callable[..., Awaitable[StationLink]]


async def start_station(
    settings: ConnectionSettings, *, back_off: RetryBackOff | None = None, ping_interval_s: float = 0,
    message_timeout_s: float = 2.0, rng: Callable[[], float] = lambda: 0.0,
) -> StationLink:
    """Wire a Connection to an Rpc the way the service does (replies taken as they arrive), and start it."""
    link: StationLink

    async def on_message(data: str | bytes) -> None:
        await link.rpc.receive(data)

    def on_disconnected(reason: str) -> None:
        link.rpc.connection_lost()
        link.disconnected.put_nowait(reason)

    connection = Connection(
        settings, on_message,
        back_off=back_off or RetryBackOff(0.01, 0.0, 0), ping_interval_s=ping_interval_s,
        on_connected=lambda info: link.connected.put_nowait(info),
        on_disconnected=on_disconnected,
        on_connect_failed=lambda reason: link.connect_failed(reason),
        on_security_event=lambda kind, info: link.security_events.put_nowait((kind, info)),
        on_password_result=lambda accepted: link.password_results.put_nowait(accepted),
        rng=rng, on_reply=lambda text: link.rpc.receive_reply(text),
    )
    link = StationLink(connection, Rpc(connection.send_text, message_timeout_s=message_timeout_s))
    await connection.start()
    return link


async def stop_station(link: StationLink) -> None:
    await link.connection.stop()
    await link.rpc.close()
