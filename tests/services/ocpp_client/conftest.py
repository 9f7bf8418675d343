"""Fixtures for the CSMS link tests (doubles in csms_stub.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.ocpp_client.link.connection import ConnectionSettings
from tests.pki import Pki, make_pki
from tests.services.ocpp_client.csms_stub import (
    MakeStation,
    RawCsms,
    StationLink,
    start_station,
    station_settings,
    stop_station,
)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("pki")))


@pytest.fixture
async def make_station() -> AsyncIterator[MakeStation]:
    links: list[StationLink] = []

    async def make(settings: ConnectionSettings, **options: Any) -> StationLink:
        link = await start_station(settings, **options)
        links.append(link)
        return link

    yield make
    for link in links:
        await stop_station(link)


@pytest.fixture
async def raw_csms() -> AsyncIterator[RawCsms]:
    csms = await RawCsms().start()
    yield csms
    await csms.stop()


@pytest.fixture
async def linked(raw_csms: RawCsms, make_station: MakeStation) -> StationLink:
    """A station connected to `raw_csms` (profile 1)."""
    link = await make_station(station_settings(raw_csms))
    await link.wait_connected()
    await raw_csms.wait_connection()
    return link
