"""A real ocpp.db and data directory per test, and a recorder for security events."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from services.ocpp_client.certificates.store import CertificateStore
from services.ocpp_client.store import open_store


class Events:
    """The `report_event` callable the blocks receive; remembers (type, techInfo)."""

    def __init__(self) -> None:
        self.reported: list[tuple[str, str]] = []

    async def __call__(self, event_type: str, tech_info: str) -> None:
        self.reported.append((event_type, tech_info))

    @property
    def types(self) -> list[str]:
        return [event_type for event_type, _ in self.reported]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def conn(data_dir: Path) -> sqlite3.Connection:
    connection = open_store(data_dir)
    yield connection
    connection.close()


@pytest.fixture
def store(conn: sqlite3.Connection, data_dir: Path) -> CertificateStore:
    return CertificateStore(conn, data_dir)


@pytest.fixture
def events() -> Events:
    return Events()
