"""GetLog pieces: which files, which lines for a time range, the archive, the upload to the file server."""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
from pathlib import Path

import pytest

from services.firmware.log_upload import Upload, UploadError, build_archive, line_time, log_files
from sim.file_server import FileServer
from tests.pki import Pki
from tests.services.firmware.ftp_server import FtpServer

LOG = b"""2024-05-06 10:00:00.000 ocpp INFO boot
2024-05-06 11:00:00.000 ocpp ERROR failed
Traceback (most recent call last):
  File "x.py", line 1
2024-05-06 12:00:00.000 ocpp INFO recovered
"""


def utc(hour: int) -> float:
    return dt.datetime(2024, 5, 6, hour, tzinfo=dt.UTC).timestamp()


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def test_line_timestamps_in_the_forms_the_station_writes() -> None:
    assert line_time(b"2024-05-06T10:00:00Z x") == utc(10)
    assert line_time(b"2024-05-06 10:00:00,250+02:00 supervisord") == utc(8) + 0.25
    record = json.dumps({"ts": "2024-05-06T11:00:00.000Z", "service": "ocpp"}).encode()
    assert line_time(record) == utc(11)
    assert line_time(b"  File \"x.py\", line 1") is None


def test_diagnostics_are_every_log_with_its_rotations_and_security_is_security_log(tmp_path: Path) -> None:
    for name in ("ocpp.log", "ocpp.log.1", "bus.log", "security.log", "notes.txt", "ocpp.log.bak"):
        (tmp_path / name).write_text("x\n")
    assert [p.name for p in log_files(tmp_path, "DiagnosticsLog")] == ["bus.log", "ocpp.log.1", "ocpp.log",
                                                                       "security.log"]
    assert [p.name for p in log_files(tmp_path, "SecurityLog")] == ["security.log"]
    (tmp_path / "security.log").unlink()
    assert log_files(tmp_path, "SecurityLog") == []


def test_lines_outside_the_time_range_are_left_out_with_their_continuations(tmp_path: Path) -> None:
    (tmp_path / "ocpp.log").write_bytes(LOG.replace(b" ocpp", b"Z ocpp"))
    archive = build_archive([tmp_path / "ocpp.log"], tmp_path / "out" / "logs.tar.gz", oldest=utc(11),
                            latest=utc(11) + 60)
    assert members(archive)["ocpp.log"].decode().splitlines() == [
        "2024-05-06 11:00:00.000Z ocpp ERROR failed", "Traceback (most recent call last):", '  File "x.py", line 1']


def test_without_a_range_the_files_go_whole(tmp_path: Path) -> None:
    (tmp_path / "ocpp.log").write_bytes(LOG)
    assert members(build_archive([tmp_path / "ocpp.log"], tmp_path / "a.tar.gz"))["ocpp.log"] == LOG


def test_archive_is_uploaded_with_put(file_server: FileServer, pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "ocpp.log").write_bytes(LOG)
    archive = build_archive([tmp_path / "ocpp.log"], tmp_path / "REON-DiagnosticsLog-7.tar.gz")
    Upload(archive, file_server.url("logs/"), ca_file=pki.ca).run()
    assert file_server.requests[-1] == {"method": "PUT", "path": "logs/REON-DiagnosticsLog-7.tar.gz", "range": None}
    uploaded = file_server.uploads["REON-DiagnosticsLog-7.tar.gz"]
    with tarfile.open(fileobj=io.BytesIO(uploaded.read_bytes())) as tar:
        assert tar.getnames() == ["ocpp.log"]


@pytest.mark.parametrize(("code", "status", "permanent"), [
    (403, "PermissionDenied", True), (405, "NotSupportedOperation", True), (413, "BadMessage", True),
    (503, "UploadFailure", False)])
def test_refused_upload_says_why(file_server: FileServer, pki: Pki, tmp_path: Path, code: int, status: str,
                                 permanent: bool) -> None:
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + b"\0" * 100)
    file_server.fail("a.tar.gz", code)
    with pytest.raises(UploadError) as failure:
        Upload(archive, file_server.url("a.tar.gz"), ca_file=pki.ca).run()
    assert (failure.value.status, failure.value.permanent) == (status, permanent)


def test_unsupported_scheme_is_not_supported(tmp_path: Path) -> None:
    with pytest.raises(UploadError) as failure:
        Upload(tmp_path / "a", "scp://host/x").run()
    assert failure.value.status == "NotSupportedOperation"


def test_archive_is_uploaded_with_ftp_stor(tmp_path: Path) -> None:
    (tmp_path / "ftp" / "logs").mkdir(parents=True)
    server = FtpServer(tmp_path / "ftp").start()
    try:
        archive = tmp_path / "REON-SecurityLog-8.tar.gz"
        archive.write_bytes(b"\x1f\x8b" + b"log" * 1000)
        Upload(archive, server.url("logs/")).run()
        assert (tmp_path / "ftp" / "logs" / archive.name).read_bytes() == archive.read_bytes()
    finally:
        server.stop()
