"""A small HTTP(S) file server for tests and the development CSMS, in a thread of the calling process.

Serves the files of `root` by name with GET/HEAD (Range and If-Range against an ETag, for resumed firmware
downloads) and stores uploads (PUT, or POST of a raw body: GetLog) in `upload_dir`. TLS when given a server
context; the handshake runs in the connection's own thread.
Faults on demand, for tests: `fail(name, status)` answers an error once, `drop(name, after_bytes)` closes the
connection after that many body bytes, `stall(name, after_bytes)` sends them and then holds the connection
(until `stop()`; `stalled` is set when it happens).
Standalone: `python -m sim.file_server --root DIR [--port 8443] [--cert C --key K] [--upload-dir D]`.
"""

from __future__ import annotations

import argparse
import email.utils
import logging
import os
import ssl
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger("sim.file_server")

CHUNK_BYTES = 256 * 1024


class FileServer:
    def __init__(self, root: Path, *, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None,
                 upload_dir: Path | None = None) -> None:
        self.root = Path(root).resolve()
        self.upload_dir = Path(upload_dir) if upload_dir else self.root / "uploads"
        self.tls = tls
        self.requests: list[dict[str, Any]] = []
        self.uploads: dict[str, Path] = {}
        self.stalled = threading.Event()
        self._faults: dict[str, list[tuple[str, int]]] = defaultdict(list)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = _Server((host, port), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, name: str) -> str:
        host = self._server.server_address[0]
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/{name}"

    def start(self) -> FileServer:
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="file-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    # -- faults ----------------------------------------------------------------------------------------
    def fail(self, name: str, status: int = 503, times: int = 1) -> None:
        with self._lock:
            self._faults[name] += [("status", status)] * times

    def drop(self, name: str, after_bytes: int) -> None:
        with self._lock:
            self._faults[name].append(("drop", after_bytes))

    def stall(self, name: str, after_bytes: int) -> None:
        with self._lock:
            self._faults[name].append(("stall", after_bytes))

    def _take_fault(self, name: str) -> tuple[str, int] | None:
        with self._lock:
            faults = self._faults.get(name)
            return faults.pop(0) if faults else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: FileServer

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.owner.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            request = self.owner.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("TLS handshake with %s failed: %s", client_address, exc)
            return
        try:
            super().finish_request(request, client_address)
        finally:
            request.close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def _name(self) -> str:
        return unquote(urlsplit(self.path).path).lstrip("/")

    def _note(self) -> FileServer:
        owner = self.server.owner
        owner.requests.append({"method": self.command, "path": self._name(), "range": self.headers.get("Range")})
        return owner

    def _status(self, code: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self._get(head=True)

    def do_GET(self) -> None:
        self._get(head=False)

    def _get(self, *, head: bool) -> None:
        owner, name = self._note(), self._name()
        fault = owner._take_fault(name)
        if fault and fault[0] == "status":
            self._status(fault[1])
            return
        path = (owner.root / name).resolve()
        if not path.is_file() or owner.root not in path.parents:
            self._status(404)
            return
        stat = path.stat()
        size, etag = stat.st_size, f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        start, end, code = 0, size - 1, 200
        wanted, if_range = self.headers.get("Range"), self.headers.get("If-Range")
        if wanted and (if_range is None or if_range == etag):
            parsed = _parse_range(wanted, size)
            if parsed is None:
                self._status(416, {"Content-Range": f"bytes */{size}"})
                return
            start, end, code = parsed[0], parsed[1], 206
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True))
        self.send_header("Accept-Ranges", "bytes")
        if code == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not head:
            limit = fault[1] if fault else None
            self._send_file(path, start, end - start + 1, limit, fault[0] if fault else "")

    def _send_file(self, path: Path, start: int, length: int, limit: int | None, fault: str) -> None:
        sent = 0
        with open(path, "rb") as f:
            f.seek(start)
            while sent < length:
                step = min(CHUNK_BYTES, length - sent) if limit is None else min(CHUNK_BYTES, length - sent,
                                                                                limit - sent)
                if step <= 0:
                    break
                chunk = f.read(step)
                if not chunk:
                    break
                self.wfile.write(chunk)
                sent += len(chunk)
        if limit is not None and sent < length:
            self.close_connection = True
            if fault == "stall":
                self.server.owner.stalled.set()
                self.server.owner._stop.wait()

    def do_PUT(self) -> None:
        self._upload()

    def do_POST(self) -> None:
        self._upload()

    def _upload(self) -> None:
        owner, name = self._note(), self._name()
        fault = owner._take_fault(name)
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._status(411)
            self.close_connection = True
            return
        dest = owner.upload_dir / (os.path.basename(name) or "upload.bin")
        if fault and fault[0] == "status":
            dest = Path(os.devnull)  # take the body, then refuse it
        remaining = int(length)
        with open(dest, "wb") as f:
            while remaining > 0:
                chunk = self.rfile.read(min(CHUNK_BYTES, remaining))
                if not chunk:
                    break
                f.write(chunk)
                remaining -= len(chunk)
        if remaining:
            self.close_connection = True
            return
        if fault and fault[0] == "status":
            self._status(fault[1])
            return
        owner.uploads[dest.name] = dest
        self._status(201)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """`bytes=a-b`, `bytes=a-` or `bytes=-n` → (first, last); None when it cannot be satisfied."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return (0, size - 1) if size else None  # unknown unit or several ranges: the whole file
    first, _, last = spec.strip().partition("-")
    try:
        if not first:
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
    except ValueError:
        return None
    return (start, end) if start <= end and start < size else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sim-file-server", description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--upload-dir", type=Path)
    args = parser.parse_args(argv)
    tls = None
    if args.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)
    server = FileServer(args.root, host=args.host, port=args.port, tls=tls, upload_dir=args.upload_dir).start()
    print(f"serving {server.root} at {server.url('')} (uploads into {server.upload_dir})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
