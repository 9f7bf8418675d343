"""Shared set-ups: signing material, a TLS file server with the test CA, and a station whose firmware
installer and reboot are the simulation scripts (the reboot without the supervisord restart: the tests
restart the service in-process)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bus.harness import remove_run_dir
from sim.file_server import FileServer
from station.config import StationConfig, load_config
from tests.pki import Pki, make_pki, server_tls_context
from tests.services.firmware.signing import Authority, Signer, make_root, make_signer
from tests.stations import write_station


@dataclass
class Signing:
    root: Authority
    root_file: Path
    ec256: Signer
    ec384: Signer
    rsa: Signer
    stranger: Signer  # issued by another root


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="session")
def signing(tmp_path_factory: pytest.TempPathFactory) -> Signing:
    root = make_root()
    root_file = Path(tmp_path_factory.mktemp("root")) / "manufacturer_root.pem"
    root_file.write_text(root.pem)
    return Signing(root, root_file, make_signer(root, "ec256"), make_signer(root, "ec384"),
                   make_signer(root, "rsa"), make_signer(make_root("Someone else"), "ec256"))


@pytest.fixture
def file_server(tmp_path: Path, pki: Pki) -> Iterator[FileServer]:
    (tmp_path / "files").mkdir()
    server = FileServer(tmp_path / "files", tls=server_tls_context(pki)).start()
    yield server
    server.stop()


def firmware_table(station_file: Path, root_file: Path | None, max_image_mb: int = 4) -> str:
    python, station = shlex.quote(sys.executable), shlex.quote(str(station_file))
    root = f'manufacturer_root = "{root_file}"\n' if root_file else ""
    return (f"[firmware]\n{root}max_image_mb = {max_image_mb}\n"
            f"installer = '{python} -m sim.firmware_installer --config {station} --version {{version}} {{bundle}}'\n"
            f"reboot_command = '{python} -m sim.reboot --config {station} --no-restart'\n")


def station_config(directory: Path, pki: Pki, root_file: Path | None) -> StationConfig:
    path = write_station(directory, sim=False, evses=1, extra=firmware_table(directory / "station.toml", root_file))
    path.write_text(path.read_text().replace("[csms]\n", f'[csms]\nca_file = "{pki.ca}"\n', 1))
    return load_config(path)


@pytest.fixture
def station(tmp_path: Path, pki: Pki, signing: Signing) -> Iterator[StationConfig]:
    config = station_config(tmp_path, pki, signing.root_file)
    yield config
    remove_run_dir(config.paths.run_dir)


@pytest.fixture
def run_dir(station: StationConfig) -> Path:
    """The station's run dir, so the shared broker and probe fixtures serve this station."""
    return station.paths.run_dir
