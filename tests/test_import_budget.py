"""Each program imports only what it uses at start: its module, imported in a fresh interpreter with the
environment supervisord gives it, loads none of the libraries listed as not its own (memory: issue 17;
bench/station.py prints the RSS of the same imports). TLS stays where a program needs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from station.config import load_config
from station.programs import PROGRAMS, environment
from station.supervisor import render
from tests.stations import write_station

ROOT = Path(__file__).resolve().parent.parent
NEVER = {"sim", "reonctl", "pytest", "ocpp", "jsonschema", "ftplib", "tarfile"}  # no station program at start
# not at start: TLS, the CSMS link, certificates, Modbus, the MCU protocol, and firmware's transfer clients
NOT_OWN = {
    "bus": {"asyncio", "ssl", "cryptography", "websockets", "pymodbus", "google.protobuf", "sqlite3"},
    "evse_io": {"ssl", "hashlib", "cryptography", "websockets", "pymodbus", "http.client", "email"},
    "meter": {"cryptography", "websockets", "google.protobuf", "http.client", "email"},
    "modem": {"ssl", "hashlib", "cryptography", "websockets", "pymodbus", "google.protobuf", "http.client", "email"},
    "ocpp": {"cryptography", "google.protobuf", "pymodbus", "serial"},  # until a certificate is handled
    "firmware": {"ssl", "hashlib", "cryptography", "websockets", "pymodbus", "google.protobuf", "http.client", "email"},
}
_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(module: str, env: dict[str, str]) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, module], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=60, check=True)
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("program", [p for p in PROGRAMS if p.name in NOT_OWN], ids=lambda p: p.name)
def test_a_program_loads_no_library_it_does_not_use_at_start(program) -> None:
    loaded = loaded_by(program.module, environment(program))
    assert sorted(loaded & (NEVER | NOT_OWN[program.name])) == []


def test_supervisord_gives_the_no_tls_environment_only_to_programs_without_tls(tmp_path: Path) -> None:
    conf = render(load_config(write_station(tmp_path, sim=True)))
    sections = {block.split("]", 1)[0]: block for block in conf.split("[program:")[1:]}
    without = {name for name, block in sections.items() if 'REON_ASYNCIO_TLS="0"' in block}
    assert without == {"evse_io", "modem", "firmware"}


_TLS_PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
import asyncio.sslproto
from services.firmware.download import tls_context
print(asyncio.sslproto.ssl is not None, type(tls_context(None)).__name__)
"""


@pytest.mark.parametrize(("name", "loop_tls"), [("firmware", False), ("ocpp", True)])
def test_tls_stays_where_it_is_used(name: str, loop_tls: bool) -> None:
    """The OCPP client's event loop speaks TLS; firmware's does not, but its download thread still can."""
    program = next(p for p in PROGRAMS if p.name == name)
    done = subprocess.run([sys.executable, "-c", _TLS_PROBE, program.module], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **environment(program)}, timeout=60, check=True)
    assert done.stdout.split() == [str(loop_tls), "SSLContext"]


_STORE_PROBE = """
import sqlite3, sys
from services.ocpp_client.certificates.store import CertificateStore
store = CertificateStore(sqlite3.connect(":memory:"), sys.argv[1])
print(store.roots("CSMSRootCertificate"), store.station_certificate(), "cryptography" in sys.modules)
"""


def test_an_empty_certificate_store_opens_without_cryptography(tmp_path: Path) -> None:
    """reon-ocpp of a station without certificates (security profile 1) never loads cryptography (~8 MB)."""
    done = subprocess.run([sys.executable, "-c", _STORE_PROBE, str(tmp_path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=True)
    assert done.stdout.split() == ["[]", "None", "False"]
