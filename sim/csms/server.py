"""The development CSMS: accepts stations at ws(s)://host:port/<anything>/<station id>.

HTTP Basic auth is checked against the configured password(s) (401 otherwise); a station that
presents a client certificate verified by the server's TLS context (profile 3) needs no password.
Subprotocol ocpp2.0.1 only. Every frame received is logged and recorded per station.

In-process use:
    csms = await DevCsms(password="...").start()       # csms.url -> "ws://127.0.0.1:<port>"
    await csms.wait_for_station("CS01")
    result = await csms.call("CS01", "Reset", {"type": "Immediate"})
    await csms.stop()
"""

from __future__ import annotations

import asyncio
import http
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHeader
from websockets.headers import build_www_authenticate_basic, parse_authorization_basic
from websockets.http11 import Request, Response

from sim.csms.policy import CsmsCallError, CsmsPolicy, MessageRecord, Override, StationNotConnected
from sim.csms.session import StationSession
from sim.csms.transactions import transactions_from
from station.logs import HideAuthorization

log = logging.getLogger("sim.csms")
SUBPROTOCOL = "ocpp2.0.1"


_ws_log = logging.getLogger("sim.csms.websocket")
_ws_log.addFilter(HideAuthorization())


class DevCsms:
    """A CSMS for development and tests, built on the `ocpp` package."""

    def __init__(self, *, password: str | None, host: str = "127.0.0.1", port: int = 0,
                 tls: ssl.SSLContext | None = None, response_timeout_s: float = 30.0,
                 known_stations: set[str] | None = None) -> None:
        self.host, self._port, self.tls = host, port, tls
        self.policy = CsmsPolicy()
        self.response_timeout_s = response_timeout_s
        self.known_stations = known_stations  # None: any station id is welcome
        self._passwords: set[str] = {password} if password else set()
        self._station_passwords: dict[str, set[str]] = {}
        self._auth_disabled = password is None
        self._sessions: dict[str, StationSession] = {}
        self.client_certificates: dict[str, str | None] = {}  # station id -> subject of its last connection's
        self._records: dict[str, list[MessageRecord]] = {}
        self._changed = asyncio.Event()  # replaced by a fresh one at each change (see _poke)
        self._server: Server | None = None

    # ---- life ----------------------------------------------------------------------------------

    async def start(self) -> DevCsms:
        self._server = await serve(
            self._serve_station, self.host, self._port, ssl=self.tls, subprotocols=[SUBPROTOCOL],
            process_request=self._check_request, logger=_ws_log, max_size=None,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("dev CSMS listening on %s", self.url)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The OCPP-J endpoint; a station connects to url + "/" + its id."""
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self._port}"

    # ---- configuration -------------------------------------------------------------------------

    def set_password(self, *passwords: str, station_id: str | None = None) -> None:
        """Accept these BasicAuthPasswords (for one station, or as the default)."""
        if station_id is None:
            self._passwords, self._auth_disabled = set(passwords), False
        else:
            self._station_passwords[station_id] = set(passwords)

    def set_boot_response(self, status: str = "Accepted", interval_s: int = 300,
                          station_id: str | None = None) -> None:
        """BootNotification answer: Accepted | Pending | Rejected with this interval."""
        if status not in ("Accepted", "Pending", "Rejected"):
            raise ValueError(f"boot status: Accepted, Pending or Rejected, got {status!r}")
        if station_id is None:
            self.policy.boot_status, self.policy.boot_interval_s = status, int(interval_s)
        else:
            self.policy.boot_by_station[station_id] = (status, int(interval_s))

    def set_token(self, id_token: str, status: str = "Accepted", group_id: str | None = None,
                  **extra: Any) -> None:
        self.policy.set_token(id_token, status, group_id, **extra)

    def set_response(self, action: str, answer: Override | None) -> None:
        """Answer CALLs of `action` with this payload, CsmsCallError or NO_REPLY (None: handlers again)."""
        if answer is None:
            self.policy.overrides.pop(action, None)
        else:
            self.policy.overrides[action] = answer

    # ---- stations ------------------------------------------------------------------------------

    @property
    def stations(self) -> list[str]:
        return sorted(self._sessions)

    async def call(self, station_id: str, action: str, payload: dict[str, Any], *,
                   timeout_s: float | None = None, validate: bool = True) -> dict[str, Any]:
        """Send a CSMS->station call; CsmsCallError on CALLERROR, TimeoutError without a reply."""
        return await self._session(station_id).call_action(action, payload, timeout_s=timeout_s,
                                                            validate=validate)

    async def send_raw(self, station_id: str, text: str | bytes) -> None:
        await self._session(station_id).send_raw(text)

    async def disconnect(self, station_id: str) -> None:
        """Close that station's WebSocket (it will reconnect after its back-off)."""
        await self._session(station_id)._connection.close()

    def messages(self, station_id: str, action: str | None = None, since: int = 0) -> list[MessageRecord]:
        """Frames received from a station, from index `since`, optionally of one action."""
        records = self._records.get(station_id, [])[since:]
        return [r for r in records if action is None or r.action == action]

    def transactions(self, station_id: str) -> list[dict[str, Any]]:
        """The station's transactions rebuilt from the TransactionEvents it sent (sim/csms/transactions.py)."""
        return transactions_from(self.messages(station_id, "TransactionEvent"))

    async def wait_for_message(self, station_id: str, action: str | None, *, since: int = 0,
                               kind: str = "call", timeout_s: float = 5.0) -> MessageRecord:
        """The first `kind` frame (of `action`, None: any) from a station at index >= `since`; waits."""
        def found() -> MessageRecord | None:
            return next((r for r in self.messages(station_id, action, since) if r.kind == kind), None)

        await self._wait_until(lambda: found() is not None, timeout_s)
        record = found()
        assert record is not None
        return record

    async def wait_for_station(self, station_id: str, timeout_s: float = 5.0) -> None:
        await self._wait_until(lambda: station_id in self._sessions, timeout_s)

    async def _wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                await self._changed.wait()

    def _session(self, station_id: str) -> StationSession:
        try:
            return self._sessions[station_id]
        except KeyError:
            raise StationNotConnected(f"station {station_id!r} is not connected") from None

    # ---- WebSocket side ------------------------------------------------------------------------

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        station_id = unquote(urlsplit(request.path).path.rstrip("/").rsplit("/", 1)[-1])
        if not station_id or (self.known_stations is not None and station_id not in self.known_stations):
            log.warning("refused %r: unknown station", request.path)
            return connection.respond(http.HTTPStatus.NOT_FOUND, "unknown charging station\n")
        ssl_object = connection.transport.get_extra_info("ssl_object")
        self.client_certificates[station_id] = None
        if ssl_object is not None and ssl_object.getpeercert():
            subject = ssl_object.getpeercert()["subject"]
            log.info("%s authenticated by client certificate %s", station_id, subject)
            self.client_certificates[station_id] = ",".join(f"{k}={v}" for rdn in subject for k, v in rdn)
            return None
        if self._auth_disabled or self._password_ok(station_id, request.headers.get("Authorization")):
            return None
        log.warning("%s: refused, bad or missing Basic auth", station_id)
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        response.headers["WWW-Authenticate"] = build_www_authenticate_basic("REON dev CSMS")
        return response

    def _password_ok(self, station_id: str, header: str | None) -> bool:
        if header is None:
            return False
        try:
            user, password = parse_authorization_basic(header)
        except InvalidHeader:
            return False
        return user == station_id and password in self._station_passwords.get(station_id, self._passwords)

    async def _serve_station(self, ws: ServerConnection) -> None:
        station_id = unquote(urlsplit(ws.request.path).path.rstrip("/").rsplit("/", 1)[-1])
        if ws.subprotocol != SUBPROTOCOL:
            await ws.close(1002, f"{SUBPROTOCOL} required")
            return
        session = StationSession(station_id, ws, self.policy, self._record, self.response_timeout_s)
        previous = self._sessions.get(station_id)
        if previous is not None:
            await previous._connection.close(1000, "replaced by a new connection")
        self._sessions[station_id] = session
        log.info("%s connected", station_id)
        self._poke()
        try:
            await session.start()
        except ConnectionClosed as exc:
            log.info("%s disconnected: %s", station_id, exc)
        finally:
            if self._sessions.get(station_id) is session:
                del self._sessions[station_id]
            self._poke()

    def _record(self, station_id: str, kind: str, action: str | None, message_id: str | None,
                payload: Any) -> None:
        records = self._records.setdefault(station_id, [])
        records.append(MessageRecord(len(records), time.time(), kind, action, message_id, payload))
        self._poke()

    def _poke(self) -> None:
        """Wake every waiter; they re-check their condition against the new state."""
        self._changed.set()
        self._changed = asyncio.Event()


__all__ = ["CsmsCallError", "DevCsms", "StationNotConnected"]
