"""Firmware image download over HTTP(S) or FTP(S): streamed to disk, resumable, size-capped (no bus here).

One `Download.run()` is one attempt (the caller owns retries). Bytes go to `<dest>.part`; its sidecar
`<dest>.part.json` (url, ETag, Last-Modified, total size) lets the next attempt, even in a new process,
resume with `Range` + `If-Range` (HTTP) or `REST` (FTP); a server that ignores the range sends the whole
file again and the part starts over. The SHA-256 of the whole file is computed while it is written (the
part already on disk is re-read when resuming), so checking the signature needs no second pass.
TLS: the server certificate and host name are checked against `ca_file` when given, else the system store.
Blocking code, meant for a worker thread; `cancel()` from any thread ends it within one read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import unquote, urljoin, urlsplit

if TYPE_CHECKING:
    import http.client
    import ssl

READ_BYTES = 64 * 1024    # per network read: below malloc's mmap threshold, so no mmap/munmap per read
WRITE_BUFFER_BYTES = 1 << 20
HASH_CHUNK_BYTES = 1 << 20
SYNC_BYTES = 4 << 20  # written data is made durable every 4 MB: see _copy
MAX_REDIRECTS = 5
SCHEMES = ("http", "https", "ftp", "ftps")
_RETRYABLE_4XX = (408, 425, 429)


class DownloadError(Exception):
    """One failed attempt; `permanent` when trying again cannot help (404, size cap, bad TLS certificate)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class DownloadCancelled(DownloadError):
    def __init__(self) -> None:
        super().__init__("cancelled", permanent=True)


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size_bytes: int
    sha256: bytes
    resumed_from: int


def tls_context(ca_file: str | Path | None) -> ssl.SSLContext:
    """A client context that verifies the server against `ca_file`, or the system trust store."""
    import ssl  # imported by the first TLS transfer, not at start (station/asyncio_tls.py)

    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def new_sha256() -> Any:
    import hashlib  # OpenSSL's libcrypto (~4 MB RSS): loaded by the first download, not at the service's start

    return hashlib.sha256()


def sha256_file(path: Path, limit: int | None = None) -> Any:
    """SHA-256 of a file (or of its first `limit` bytes), read in chunks."""
    hasher = new_sha256()
    remaining = limit
    with open(path, "rb") as f:
        while remaining is None or remaining > 0:
            chunk = f.read(HASH_CHUNK_BYTES if remaining is None else min(HASH_CHUNK_BYTES, remaining))
            if not chunk:
                break
            hasher.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
    return hasher


class Download:
    def __init__(self, url: str, dest: Path, *, max_bytes: int, timeout_s: float = 30.0,
                 ca_file: str | Path | None = None) -> None:
        self.url = url
        self.dest = Path(dest)
        self.part = self.dest.with_name(self.dest.name + ".part")
        self.meta_path = self.dest.with_name(self.dest.name + ".part.json")
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.ca_file = ca_file
        self.done_bytes = 0
        self.total_bytes: int | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._hasher: Any = None
        self._resumed_from = 0

    # -- control ---------------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the attempt from another thread: the blocked read returns at once."""
        self._cancel.set()
        with self._lock:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)

    def _watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
        if sock is not None and self._cancel.is_set():
            raise DownloadCancelled()

    # -- one attempt -----------------------------------------------------------------------------------
    def run(self) -> DownloadResult:
        scheme = urlsplit(self.url).scheme.lower()
        if scheme not in SCHEMES:
            raise DownloadError(f"unsupported scheme {scheme!r}", permanent=True)
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        if self.dest.exists():  # finished by an earlier attempt (the process stopped before using it)
            size = self.dest.stat().st_size
            self.done_bytes = self.total_bytes = size
            return DownloadResult(self.dest, size, sha256_file(self.dest).digest(), size)
        import ftplib  # the clients are imported by the first transfer, not at the service's start
        import http.client
        import ssl

        try:
            self._http() if scheme in ("http", "https") else self._ftp()
        except DownloadError:
            raise
        except ssl.SSLCertVerificationError as exc:
            raise DownloadError(f"TLS: server certificate not trusted ({exc.verify_message})", permanent=True) \
                from None
        except TimeoutError:
            self._raise_if_cancelled()
            raise DownloadError(f"no data for {self.timeout_s:g} s", permanent=False) from None
        except (OSError, EOFError, http.client.HTTPException, ftplib.Error) as exc:
            self._raise_if_cancelled()
            raise DownloadError(f"{type(exc).__name__}: {exc}", permanent=False) from None
        finally:
            with self._lock:
                self._sock = None
        self._raise_if_cancelled()
        if self.total_bytes is not None and self.done_bytes != self.total_bytes:
            raise DownloadError(f"got {self.done_bytes} of {self.total_bytes} bytes", permanent=False)
        os.replace(self.part, self.dest)
        self.meta_path.unlink(missing_ok=True)
        return DownloadResult(self.dest, self.done_bytes, self._hasher.digest(), self._resumed_from)

    def _raise_if_cancelled(self) -> None:
        if self._cancel.is_set():
            raise DownloadCancelled()

    # -- the part file ---------------------------------------------------------------------------------
    def _resume_point(self) -> tuple[int, dict[str, Any]]:
        """Bytes already on disk for this URL (0 when there is no usable part) and the sidecar."""
        try:
            meta = json.loads(self.meta_path.read_text())
            if meta.get("url") == self.url and self.part.exists():
                return self.part.stat().st_size, meta
        except (OSError, ValueError):
            pass
        self._discard_part()
        return 0, {}

    def _discard_part(self) -> None:
        self.part.unlink(missing_ok=True)
        self.meta_path.unlink(missing_ok=True)

    def _write_meta(self, meta: dict[str, Any]) -> None:
        self.meta_path.write_text(json.dumps({"url": self.url, **meta}))

    def _receive(self, offset: int, read: Callable[[int], bytes]) -> None:
        """Append what `read` yields (at most one network read a call) to the part, kept from `offset` on,
        hashing as it goes; what arrived before a stall or a cancel is flushed for the next attempt."""
        if self.total_bytes is not None and self.total_bytes > self.max_bytes:
            raise DownloadError(f"image of {self.total_bytes} bytes is over the cap of {self.max_bytes}",
                                permanent=True)
        if self.total_bytes is not None and self.total_bytes - offset > shutil.disk_usage(self.part.parent).free:
            raise DownloadError(f"not enough free space for {self.total_bytes - offset} more bytes in"
                                f" {self.part.parent}", permanent=True)
        self._resumed_from = offset
        self._hasher = sha256_file(self.part, offset) if offset else new_sha256()
        self.done_bytes = offset
        with open(self.part, "r+b" if offset else "wb", buffering=WRITE_BUFFER_BYTES) as f:
            f.seek(offset)
            f.truncate()
            try:
                self._copy(read, f)
            finally:
                f.flush()
                os.fsync(f.fileno())

    def _copy(self, read: Callable[[int], bytes], f: BinaryIO) -> None:
        """Network → file and hash. Every SYNC_BYTES the file is synced: the page cache never holds more than
        that of the image unwritten, so the kernel never has a burst of hundreds of MB to write back (which
        on a small board stalls everything else, the serial path to the MCU included), and a power cut leaves
        a durable prefix to resume from."""
        hasher, cap = self._hasher, self.max_bytes
        next_sync = self.done_bytes + SYNC_BYTES
        while True:
            if self._cancel.is_set():
                raise DownloadCancelled()
            chunk = read(READ_BYTES)
            if not chunk:
                return
            if self.done_bytes + len(chunk) > cap:
                raise DownloadError(f"image is over the cap of {cap} bytes", permanent=True)
            f.write(chunk)
            hasher.update(chunk)
            self.done_bytes += len(chunk)
            if self.done_bytes >= next_sync:
                f.flush()
                os.fdatasync(f.fileno())
                next_sync = self.done_bytes + SYNC_BYTES

    # -- HTTP(S) ---------------------------------------------------------------------------------------
    def _http(self) -> None:
        import http.client

        offset, meta = self._resume_point()
        url = self.url
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise DownloadError(f"cannot follow {url!r}", permanent=True)
            if parts.scheme == "https":
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    parts.hostname, parts.port, timeout=self.timeout_s, context=tls_context(self.ca_file))
            else:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout_s)
            try:
                conn.connect()
                self._watch(conn.sock)
                headers = {"User-Agent": "REON-firmware", "Accept-Encoding": "identity"}
                if offset:
                    headers["Range"] = f"bytes={offset}-"
                    validator = meta.get("etag") or meta.get("last_modified")
                    if validator:
                        headers["If-Range"] = validator
                conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                             headers=headers)
                response = conn.getresponse()
                location = response.getheader("Location")
                if response.status in (301, 302, 303, 307, 308) and location:
                    url = urljoin(url, location)
                    continue
                self._http_body(response, offset, meta)
                return
            finally:
                conn.close()
        raise DownloadError("too many redirects", permanent=True)

    def _http_body(self, response: http.client.HTTPResponse, offset: int, meta: dict[str, Any]) -> None:
        status = response.status
        if status == 416 and offset and _range_total(response.getheader("Content-Range")) == offset:
            self.total_bytes = offset  # the part is already complete
            self._receive(offset, lambda _size: b"")
            return
        if status == 416:
            self._discard_part()
            raise DownloadError("the server refused the range; starting over", permanent=False)
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            raise DownloadError(f"HTTP {status} {response.reason}", permanent=True)
        if status not in (200, 206):
            raise DownloadError(f"HTTP {status} {response.reason}", permanent=False)
        if status == 206:
            start = _range_start(response.getheader("Content-Range"))
            if start != offset:
                self._discard_part()
                raise DownloadError(f"asked for bytes from {offset}, got from {start}", permanent=False)
            self.total_bytes = _range_total(response.getheader("Content-Range")) or meta.get("total")
        else:
            offset = 0
            length = response.getheader("Content-Length")
            self.total_bytes = int(length) if length and length.isdigit() else None
            self._write_meta({"etag": response.getheader("ETag"), "total": self.total_bytes,
                              "last_modified": response.getheader("Last-Modified")})
        self._receive(offset, response.read1)

    # -- FTP(S) ----------------------------------------------------------------------------------------
    def _ftp(self) -> None:
        import ftplib

        parts = urlsplit(self.url)
        offset, meta = self._resume_point()
        ftp = ftplib.FTP_TLS(context=tls_context(self.ca_file)) if parts.scheme == "ftps" else ftplib.FTP()
        try:
            ftp.connect(parts.hostname or "", parts.port or 21, timeout=self.timeout_s)
            self._watch(ftp.sock)
            ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
            ftp.voidcmd("TYPE I")
            path = unquote(parts.path)
            try:
                self.total_bytes = ftp.size(path)
            except ftplib.error_perm:
                self.total_bytes = None
            total = self.total_bytes
            if offset and (meta.get("total") != total or (total is not None and offset > total)):
                self._discard_part()  # the file changed on the server
                offset = 0
            if not offset:
                self._write_meta({"total": self.total_bytes})
            if offset and offset == self.total_bytes:
                self._receive(offset, lambda _size: b"")
                return
            try:
                data = ftp.transfercmd(f"RETR {path}", rest=offset or None)
            except ftplib.error_perm:
                if not offset:
                    raise
                self._discard_part()
                raise DownloadError("the server refused to resume; starting over", permanent=False) from None
            with data:
                self._watch(data)
                self._receive(offset, data.recv)
            ftp.voidresp()
        except ftplib.error_perm as exc:
            self._raise_if_cancelled()
            raise DownloadError(f"FTP {exc}", permanent=True) from None
        finally:
            ftp.close()


def _range_start(header: str | None) -> int | None:
    """`bytes 100-199/1000` → 100."""
    try:
        return int((header or "").split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _range_total(header: str | None) -> int | None:
    """`bytes 100-199/1000` or `bytes */1000` → 1000."""
    try:
        return int((header or "").rsplit("/", 1)[1])
    except (IndexError, ValueError):
        return None


async def in_thread(run: Callable[[], Any], cancel: Callable[[], None], grace_s: float = 1.0) -> Any:
    """Run blocking `run` in a worker thread; when the awaiting task is cancelled, `cancel` it and give the
    thread `grace_s` to let go of its socket and files before the cancellation goes on."""
    future = asyncio.get_running_loop().run_in_executor(None, run)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(future, grace_s)
        raise
