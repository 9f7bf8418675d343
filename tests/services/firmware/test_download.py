"""Downloads from the simulated HTTPS file server: streamed, hashed on the way, resumed, capped, timed out."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.firmware.download import Download, DownloadCancelled, DownloadError
from sim.file_server import FileServer
from tests.pki import Pki
from tests.services.firmware.ftp_server import FtpServer

SIZE = 3 * 1024 * 1024 + 17


def image(server: FileServer, name: str = "reon-0.2.0.raucb", size: int = SIZE) -> bytes:
    data = os.urandom(size)
    (server.root / name).write_bytes(data)
    return data


def download(server: FileServer, pki: Pki, dest: Path, name: str = "reon-0.2.0.raucb", **kw) -> Download:
    options = {"max_bytes": 16 * 1024 * 1024, "timeout_s": 2.0, "ca_file": pki.ca, **kw}
    return Download(server.url(name), dest, **options)


def test_https_download_streams_to_disk_with_its_sha256(file_server: FileServer, pki: Pki, tmp_path: Path) -> None:
    data = image(file_server)
    result = download(file_server, pki, tmp_path / "img").run()
    assert result.path.read_bytes() == data
    assert result.sha256 == hashlib.sha256(data).digest()
    assert (result.size_bytes, result.resumed_from) == (len(data), 0)
    assert not (tmp_path / "img.part").exists() and not (tmp_path / "img.part.json").exists()


def test_server_not_trusted_by_the_ca_is_a_permanent_failure(file_server: FileServer, tmp_path: Path) -> None:
    image(file_server)
    with pytest.raises(DownloadError, match="not trusted") as failure:
        Download(file_server.url("reon-0.2.0.raucb"), tmp_path / "img", max_bytes=SIZE * 2).run()
    assert failure.value.permanent


def test_missing_file_is_a_permanent_failure(file_server: FileServer, pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="404") as failure:
        download(file_server, pki, tmp_path / "img", name="does_not_exist").run()
    assert failure.value.permanent


def test_server_error_fails_the_attempt_and_the_next_one_succeeds(file_server: FileServer, pki: Pki,
                                                                  tmp_path: Path) -> None:
    data = image(file_server)
    file_server.fail("reon-0.2.0.raucb", 503)
    with pytest.raises(DownloadError, match="503") as failure:
        download(file_server, pki, tmp_path / "img").run()
    assert not failure.value.permanent
    assert download(file_server, pki, tmp_path / "img").run().path.read_bytes() == data


def test_stalled_server_times_out_and_keeps_the_part(file_server: FileServer, pki: Pki, tmp_path: Path) -> None:
    image(file_server)
    file_server.stall("reon-0.2.0.raucb", after_bytes=200_000)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"no data for 0\.3 s") as failure:
        download(file_server, pki, tmp_path / "img", timeout_s=0.3).run()
    assert time.monotonic() - started < 2.0
    assert not failure.value.permanent
    assert (tmp_path / "img.part").stat().st_size == 200_000


def test_image_over_the_size_cap_is_refused(file_server: FileServer, pki: Pki, tmp_path: Path) -> None:
    image(file_server)
    with pytest.raises(DownloadError, match="over the cap") as failure:
        download(file_server, pki, tmp_path / "img", max_bytes=SIZE - 1).run()
    assert failure.value.permanent
    assert not (tmp_path / "img").exists()


def test_dropped_connection_resumes_with_a_range_request(file_server: FileServer, pki: Pki, tmp_path: Path) -> None:
    data = image(file_server)
    file_server.drop("reon-0.2.0.raucb", after_bytes=1_000_000)
    with pytest.raises(DownloadError):
        download(file_server, pki, tmp_path / "img").run()
    result = download(file_server, pki, tmp_path / "img").run()
    assert result.resumed_from == 1_000_000
    assert file_server.requests[-1]["range"] == "bytes=1000000-"
    assert result.path.read_bytes() == data and result.sha256 == hashlib.sha256(data).digest()


def test_file_changed_on_the_server_is_fetched_again_from_the_start(file_server: FileServer, pki: Pki,
                                                                    tmp_path: Path) -> None:
    image(file_server)
    file_server.drop("reon-0.2.0.raucb", after_bytes=500_000)
    with pytest.raises(DownloadError):
        download(file_server, pki, tmp_path / "img").run()
    newer = image(file_server, size=SIZE + 1)  # new ETag: If-Range no longer matches, the server sends it all
    result = download(file_server, pki, tmp_path / "img").run()
    assert result.resumed_from == 0
    assert result.sha256 == hashlib.sha256(newer).digest()


def test_cancel_ends_a_stalled_download_at_once(file_server: FileServer, pki: Pki, tmp_path: Path) -> None:
    image(file_server)
    file_server.stall("reon-0.2.0.raucb", after_bytes=100_000)
    attempt = download(file_server, pki, tmp_path / "img", timeout_s=30)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            attempt.run()
        except DownloadError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert file_server.stalled.wait(5)
    started = time.monotonic()
    attempt.cancel()
    worker.join(5)
    assert time.monotonic() - started < 1.0
    assert isinstance(outcome[0], DownloadCancelled)


def test_unsupported_scheme_is_a_permanent_failure(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="unsupported scheme") as failure:
        Download("file:///etc/passwd", tmp_path / "img", max_bytes=1000).run()
    assert failure.value.permanent


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[FtpServer]:
    (tmp_path / "ftp").mkdir()
    server = FtpServer(tmp_path / "ftp").start()
    yield server
    server.stop()


def test_ftp_download_resumes_with_rest(ftp_server: FtpServer, tmp_path: Path) -> None:
    data = os.urandom(SIZE)
    (ftp_server.root / "reon-0.2.0.bin").write_bytes(data)
    ftp_server.drop_after = 700_000
    url = ftp_server.url("reon-0.2.0.bin")
    with pytest.raises(DownloadError, match=f"got 700000 of {SIZE} bytes"):
        Download(url, tmp_path / "img", max_bytes=SIZE).run()
    result = Download(url, tmp_path / "img", max_bytes=SIZE).run()
    assert result.resumed_from == 700_000 and "REST 700000" in ftp_server.commands
    assert "USER reon" in ftp_server.commands and "PASS secret" in ftp_server.commands
    assert result.sha256 == hashlib.sha256(data).digest()


def test_ftp_missing_file_is_a_permanent_failure(ftp_server: FtpServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="550") as failure:
        Download(ftp_server.url("nothing.bin"), tmp_path / "img", max_bytes=SIZE).run()
    assert failure.value.permanent
