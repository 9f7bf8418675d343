"""station/serial_port.py against a pseudo-terminal device end (sim/pty_port.py): open, read, lose, reopen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sim.pty_port import PtyPort
from station.serial_port import SerialPort

WAIT_S = 3.0


class Rig:
    """A SerialPort on a pty; what its hooks saw, as queues to await."""

    def __init__(self, path: Path, **options) -> None:
        self.device = PtyPort(path, lambda data: self.to_device.put_nowait(data))
        self.to_device: asyncio.Queue[bytes] = asyncio.Queue()
        self.chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self.events: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
        self.port = SerialPort(str(path), 115200, name="test", on_data=self.chunks.put_nowait,
                               on_open=lambda: self.events.put_nowait(("open", None)),
                               on_close=lambda reason: self.events.put_nowait(("close", reason)),
                               reopen_min_s=0.02, reopen_max_s=0.1, **options)

    async def event(self) -> tuple[str, str | None]:
        return await asyncio.wait_for(self.events.get(), WAIT_S)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path / "ttyTEST")
    rig.device.open()
    rig.port.start()
    yield rig
    await rig.port.stop()
    rig.device.close()


async def test_bytes_from_the_device_reach_on_data_and_writes_reach_the_device(rig: Rig) -> None:
    assert await rig.event() == ("open", None)
    rig.device.write(b"hello")
    assert await asyncio.wait_for(rig.chunks.get(), WAIT_S) == b"hello"
    assert rig.port.serial is not None
    rig.port.serial.write(b"AT\r")
    assert await asyncio.wait_for(rig.to_device.get(), WAIT_S) == b"AT\r"


async def test_a_vanished_device_is_closed_with_the_reason_and_reopened_when_it_returns(rig: Rig) -> None:
    assert await rig.event() == ("open", None)
    rig.device.close()
    kind, reason = await rig.event()
    assert kind == "close" and reason is not None and reason.startswith("read:")
    assert not rig.port.is_open and rig.port.stats.losses == 1
    rig.device.open()
    assert await rig.event() == ("open", None)
    assert rig.port.is_open and rig.port.stats.opens == 2 and rig.port.stats.reopens == 1


async def test_lose_closes_at_once_and_the_task_reopens(rig: Rig) -> None:
    assert await rig.event() == ("open", None)
    rig.port.lose("write: EIO")
    assert not rig.port.is_open  # closed before lose() returns
    assert await rig.event() == ("close", "write: EIO")
    assert await rig.event() == ("open", None)


async def test_when_serve_returns_the_port_is_closed_and_opened_again(tmp_path: Path) -> None:
    served = asyncio.Queue()

    async def serve() -> None:
        served.put_nowait(rig.port.is_open)

    rig = Rig(tmp_path / "ttyTEST", serve=serve)
    rig.device.open()
    rig.port.start()
    try:
        assert await asyncio.wait_for(served.get(), WAIT_S) is True
        assert await rig.event() == ("open", None)
        assert await rig.event() == ("close", None)  # serve ended: no device lost
        assert await asyncio.wait_for(served.get(), WAIT_S) is True
        assert rig.port.stats.losses == 0
    finally:
        await rig.port.stop()
        rig.device.close()


async def test_stop_closes_the_port_without_on_close(rig: Rig) -> None:
    assert await rig.event() == ("open", None)
    await rig.port.stop()
    assert not rig.port.is_open and rig.events.empty()
