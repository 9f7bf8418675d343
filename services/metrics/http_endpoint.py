"""A minimal HTTP/1.1 server on the event loop for `GET /metrics` (prometheus-client renders the body).

It runs in the service's own loop, so a scrape reads the state between two bus messages, never during one.
Peers are hostile: a request line or headers over 8 KiB, or slower than 5 s, close the connection; anything
but GET/HEAD of /metrics is answered 404 or 405. One request per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger("metrics.http")

MAX_HEAD_BYTES = 8192
READ_TIMEOUT_S = 5.0


class MetricsEndpoint:
    """Serves `render()` (bytes, content type) at /metrics on bind:port; port 0 picks a free one."""

    def __init__(self, render: Callable[[], tuple[bytes, str]], bind: str, port: int) -> None:
        self.render = render
        self.bind = bind
        self.port = port
        self.scrapes = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.bind, self.port, limit=MAX_HEAD_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                await self._reply(writer, 400, b"bad request\n", "text/plain")
            elif parts[0] not in ("GET", "HEAD"):
                await self._reply(writer, 405, b"GET only\n", "text/plain")
            elif parts[1].split("?", 1)[0] != "/metrics":
                await self._reply(writer, 404, b"see /metrics\n", "text/plain")
            else:
                body, content_type = self.render()
                self.scrapes += 1
                await self._reply(writer, 200, body, content_type, head_only=parts[0] == "HEAD")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except Exception:
            log.exception("a /metrics request failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str, *,
                     head_only: bool = False) -> None:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}[status]
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode("latin-1")
        writer.write(head if head_only else head + body)
        await writer.drain()
