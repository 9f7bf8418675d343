"""GetLog (N01): gather the station's logs into one .tar.gz and upload it (no bus here).

Which files: DiagnosticsLog = every `*.log` file of the log directory with its rotated `*.log.N` backups;
SecurityLog = `security.log` there. With oldestTimestamp / latestTimestamp a line is kept when the timestamp
it starts with lies in the range (`YYYY-MM-DD[T ]HH:MM:SS[.,fff][Z|±hh:mm]`, or the "ts" of a JSON log line;
without a zone it is local time, as `station.logs` writes it); a line without one (a traceback) goes with the
line before it. The archive is built on disk, never in memory.
Upload: HTTP(S) PUT of the archive to remoteLocation (the file name is appended when it ends in "/"), or
FTP(S) STOR (into the directory when the path ends in "/"). TLS as for downloads (download.tls_context).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

from services.firmware.download import tls_context

SCHEMES = ("http", "https", "ftp", "ftps")
CHUNK_BYTES = 256 * 1024
_LINE_TS = re.compile(rb"^\s*(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,6}))?\s?(Z|[+-]\d{2}:?\d{2})?")
_JSON_TS = re.compile(rb'^\{[^\n]{0,80}?"ts":\s*"([^"]+)"')


class UploadError(Exception):
    """A failed upload attempt; `status` is the UploadLogStatus to report if it is the last one."""

    def __init__(self, message: str, status: str = "UploadFailure", *, permanent: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = permanent


def log_files(log_dir: Path, log_type: str) -> list[Path]:
    """The files a GetLog of `log_type` sends, oldest rotation first; empty when there are none."""
    log_dir = Path(log_dir)
    if log_type == "SecurityLog":
        security = log_dir / "security.log"
        return [security] if security.is_file() else []
    files = [p for p in log_dir.glob("*.log*") if p.is_file() and re.fullmatch(r".+\.log(\.\d+)?", p.name)]
    return sorted(files, key=lambda p: (p.name.split(".log")[0], -_rotation(p)))


def _rotation(path: Path) -> int:
    suffix = path.name.rsplit(".log", 1)[-1].lstrip(".")
    return int(suffix) if suffix.isdigit() else 0


def archive_name(station_id: str, log_type: str, request_id: int, now: dt.datetime | None = None) -> str:
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{station_id}-{log_type}-{request_id}-{stamp}.tar.gz"[:255]


def line_time(line: bytes) -> float | None:
    """UTC seconds of the timestamp a log line starts with, or None."""
    text: str | None = None
    found = _LINE_TS.match(line)
    if found:
        date, clock, fraction, zone = (g.decode() if g else None for g in found.groups())
        text = f"{date}T{clock}" + (f".{fraction.ljust(6, '0')}" if fraction else "") + (zone or "")
    else:
        json_ts = _JSON_TS.match(line)
        text = json_ts.group(1).decode(errors="replace") if json_ts else None
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text).timestamp()  # naive = local time
    except ValueError:
        return None


def filtered_lines(f: BinaryIO, oldest: float | None, latest: float | None) -> Iterator[bytes]:
    keep = True
    for line in f:
        stamp = line_time(line)
        if stamp is not None:
            keep = (oldest is None or stamp >= oldest) and (latest is None or stamp <= latest)
        if keep:
            yield line


def build_archive(files: list[Path], dest: Path, *, oldest: float | None = None,
                  latest: float | None = None) -> Path:
    """Write `dest` (.tar.gz), one member per log file, filtered to the time range when one is given."""
    import tarfile  # imported by the first upload, not at the service's start

    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = dest.with_name(dest.name + ".member")
    with tarfile.open(dest, "w:gz") as tar:
        for path in files:
            try:
                if oldest is None and latest is None:
                    tar.add(path, arcname=path.name)
                    continue
                with open(path, "rb") as src, open(scratch, "wb") as out:
                    out.writelines(filtered_lines(src, oldest, latest))
                tar.add(scratch, arcname=path.name)
            except OSError:
                continue  # rotated away while we read: skip it
    scratch.unlink(missing_ok=True)
    return dest


class Upload:
    """One upload attempt of `path` to `url`; blocking, `cancel()` from another thread ends it."""

    def __init__(self, path: Path, url: str, *, timeout_s: float = 30.0, ca_file: str | Path | None = None) -> None:
        self.path = Path(path)
        self.url = url
        self.timeout_s = timeout_s
        self.ca_file = ca_file
        self._cancel = threading.Event()
        self._sock: socket.socket | None = None

    def cancel(self) -> None:
        self._cancel.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def run(self) -> None:
        scheme = urlsplit(self.url).scheme.lower()
        if scheme not in SCHEMES:
            raise UploadError(f"unsupported scheme {scheme!r}", "NotSupportedOperation", permanent=True)
        import ftplib  # the clients are imported by the first upload, not at the service's start
        import http.client

        try:
            self._http() if scheme in ("http", "https") else self._ftp()
        except UploadError:
            raise
        except (OSError, EOFError, http.client.HTTPException, ftplib.Error) as exc:
            if self._cancel.is_set():
                raise UploadError("cancelled", permanent=True) from None
            raise UploadError(f"{type(exc).__name__}: {exc}") from None
        finally:
            self._sock = None

    def _send(self, write: object) -> None:
        with open(self.path, "rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                if self._cancel.is_set():
                    raise UploadError("cancelled", permanent=True)
                write(chunk)  # type: ignore[operator]

    def _http(self) -> None:
        import http.client

        parts = urlsplit(self.url)
        target = (parts.path or "/") + (quote(self.path.name) if (parts.path or "/").endswith("/") else "")
        target += f"?{parts.query}" if parts.query else ""
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=self.timeout_s, context=tls_context(self.ca_file))
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=self.timeout_s)
        try:
            conn.connect()
            self._sock = conn.sock
            conn.putrequest("PUT", target)
            conn.putheader("Content-Type", "application/gzip")
            conn.putheader("Content-Length", str(self.path.stat().st_size))
            conn.endheaders()
            try:
                self._send(conn.send)
            except OSError:  # a server may answer (413, 403) and close before taking the whole body
                if self._cancel.is_set():
                    raise
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        status = response.status
        if 200 <= status < 300:
            return
        message = f"HTTP {status} {response.reason}"
        if status in (401, 403):
            raise UploadError(message, "PermissionDenied", permanent=True)
        if status in (405, 501):
            raise UploadError(message, "NotSupportedOperation", permanent=True)
        if status in (400, 411, 413, 415):
            raise UploadError(message, "BadMessage", permanent=True)
        raise UploadError(message, permanent=400 <= status < 500 and status not in (408, 429))

    def _ftp(self) -> None:
        import ftplib
        import ssl

        parts = urlsplit(self.url)
        path = unquote(parts.path) or "/"
        if path.endswith("/"):
            path += self.path.name
        ftp = ftplib.FTP_TLS(context=tls_context(self.ca_file)) if parts.scheme == "ftps" else ftplib.FTP()
        try:
            ftp.connect(parts.hostname or "", parts.port or 21, timeout=self.timeout_s)
            self._sock = ftp.sock
            ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
            ftp.voidcmd("TYPE I")
            with ftp.transfercmd(f"STOR {path}") as data:
                self._sock = data
                self._send(data.sendall)
                if isinstance(data, ssl.SSLSocket):
                    data.unwrap()
            ftp.voidresp()
        except ftplib.error_perm as exc:
            code = str(exc)[:3]
            status = "PermissionDenied" if code in ("530", "532", "550", "553") else "UploadFailure"
            raise UploadError(f"FTP {exc}", status, permanent=True) from None
        finally:
            ftp.close()
