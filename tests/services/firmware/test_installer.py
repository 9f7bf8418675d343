"""The installer runs detached and is adopted by the next service process; versions of images and of the station."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from bus.harness import wait_until
from services.firmware.installer import (
    CommandError,
    Installer,
    render,
    run_reboot,
    target_version,
)
from station.host import running_firmware_version


@pytest.mark.parametrize(("location", "version"), [
    ("https://fw.example/reon-1.2.3.raucb", "1.2.3"),
    ("https://fw.example/REON_fw_v0.2.0-rc1.swu", "0.2.0-rc1"),
    ("https://fw.example/images/2.0.1.tar.gz", "2.0.1"),
    ("https://fw.example/get?id=7&version=3.1.4", "3.1.4"),
    ("https://fw.example/reon-1.2.3.raucb?version=9.9", "9.9"),
    ("ftp://fw.example/firmware.bin", None),
])
def test_target_version_comes_from_the_query_or_the_file_name(location: str, version: str | None) -> None:
    assert target_version(location) == version


def test_running_version_file_overrides_the_station_file(tmp_path: Path) -> None:
    assert running_firmware_version(tmp_path, "0.1.1") == "0.1.1"
    (tmp_path / "firmware_version").write_text("0.2.0\n")
    assert running_firmware_version(tmp_path, "0.1.1") == "0.2.0"


def test_command_gets_shell_quoted_bundle_and_version(tmp_path: Path) -> None:
    bundle = tmp_path / "my image; rm -rf x.raucb"
    assert render("rauc install {bundle}", bundle=bundle, version=None) == f"rauc install '{bundle}'"
    assert render("x --version {version} {bundle}", bundle=Path("/b"), version="1.0") == "x --version 1.0 /b"
    with pytest.raises(CommandError):
        render("install {image}", bundle=bundle, version=None)


async def test_exit_status_of_the_installer_is_read(tmp_path: Path) -> None:
    installer = Installer(tmp_path)
    await installer.start("echo installing; exit 4")
    assert await installer.wait() == 4
    assert installer.output_tail() == "installing"


async def test_installer_that_outlives_its_service_is_adopted(tmp_path: Path) -> None:
    fifo = tmp_path / "hold"
    os.mkfifo(fifo)
    await Installer(tmp_path).start(f"read line < {fifo}; exit 0")
    await wait_until(lambda: (tmp_path / "install.pid").exists())
    adopted = Installer(tmp_path)  # a new service process knows only the work directory
    waiting = asyncio.create_task(adopted.wait())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await asyncio.to_thread(fifo.write_text, "go\n")
    assert await asyncio.wait_for(waiting, 3) == 0


async def test_installer_killed_without_an_exit_status_counts_as_failed(tmp_path: Path) -> None:
    await Installer(tmp_path).start("sleep 30")
    await wait_until(lambda: (tmp_path / "install.pid").exists())
    pid = int((tmp_path / "install.pid").read_text())
    os.killpg(pid, signal.SIGKILL)
    assert await asyncio.wait_for(Installer(tmp_path).wait(), 3) is None


async def test_installer_of_an_earlier_boot_is_not_waited_for(tmp_path: Path) -> None:
    (tmp_path / "install.pid").write_text(f"{os.getpid()}\n")  # a live pid, but from before the reboot
    assert await Installer(tmp_path).wait(same_boot=False) is None


async def test_reboot_command_exit_status_is_returned(tmp_path: Path) -> None:
    assert await run_reboot("exit 0", tmp_path / "reboot.log") == 0
    assert await run_reboot("echo no permission >&2; exit 1", tmp_path / "reboot.log") == 1
    assert "no permission" in (tmp_path / "reboot.log").read_text()
    assert await run_reboot("sleep 5", tmp_path / "reboot.log", timeout_s=0.1) is None
