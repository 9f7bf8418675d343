"""Fixtures of the device model tests: `open_dm(extra_seeds)` opens the device model of variables_rig.py
(closed after the test), `dm` is one opened with its seeds."""

import pytest

from services.ocpp_client.device_model.model import DeviceModel
from tests.services.ocpp_client.device_model.variables_rig import open_device_model


@pytest.fixture
def open_dm(tmp_path):
    opened: list[DeviceModel] = []

    def _open(extra_seeds=None) -> DeviceModel:
        dm = open_device_model(tmp_path / "dm.db", extra_seeds)
        opened.append(dm)
        return dm

    yield _open
    for dm in opened:
        dm.close()


@pytest.fixture
def dm(open_dm) -> DeviceModel:
    return open_dm()
