"""Fixtures every test can use: a short run directory, the real broker in a thread, a probe client, and
`rig_stack`, an AsyncExitStack closed after the test (for rigs built with tests/rigs.py)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bus.harness import BrokerThread, Probe, remove_run_dir, short_run_dir

os.environ.setdefault("REON_BUS_STRICT", "1")


@pytest.fixture
def run_dir() -> Iterator[Path]:
    path = short_run_dir()
    yield path
    remove_run_dir(path)


@pytest.fixture
def broker(run_dir: Path) -> Iterator[BrokerThread]:
    thread = BrokerThread(run_dir, heartbeat_s=0.2).start()
    yield thread
    thread.stop()


@pytest.fixture
async def probe(run_dir: Path, broker: BrokerThread) -> AsyncIterator[Probe]:
    client = Probe(run_dir)
    await client.start()
    yield client
    await client.close()


@pytest.fixture
async def rig_stack() -> AsyncIterator[contextlib.AsyncExitStack]:
    async with contextlib.AsyncExitStack() as stack:
        yield stack
