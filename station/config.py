"""The station config: one TOML file, loaded once into one typed object (README.md, Station config).

`REON_CONFIG` or `--config PATH` names the file; the default is `deploy/station.toml` (simulation, two EVSEs).
Relative paths in the file are relative to the file. Any problem raises ConfigError naming the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.config_reader import ConfigError, Table

__all__ = ["ConfigError", "StationConfig", "default_config_path", "load_config"]

CONNECTOR_TYPES = ("sType2", "cType2", "cType1", "cCCS2", "cCCS1", "sType3", "Other1PhMax16A",
                   "Other1PhOver16A", "Other3Ph", "Unknown")
METER_MODELS = ("SDM630", "SDM72D", "SDM120", "ABB_B23", "EM340")
PARITIES = ("N", "E", "O")
# The shape of a `[device_model]` key, `Component[instance]@evse/connector.Variable[instance]`, checked at load
# so a typo stops the station at start; reon-ocpp parses the keys (services/ocpp_client/device_model/keys.py).
_DM_NAME = r"[A-Za-z][\w\-]*(\[[\w\-.:]+\])?"
DEVICE_MODEL_KEY = re.compile(rf"{_DM_NAME}(@[1-9]\d*(/[1-9]\d*)?)?\.{_DM_NAME}", re.ASCII)


@dataclass(frozen=True)
class Identity:
    id: str
    serial_number: str
    model: str
    vendor: str
    firmware_version: str
    grid_limit_a: float | None = None  # the grid connection's limit per phase; shared by the charging EVSEs
    priorities: bool = True  # programs set their CPU priority: evse_io first, bulk work last (station/scheduling)


@dataclass(frozen=True)
class Paths:
    run_dir: Path
    data_dir: Path
    log_dir: Path


@dataclass(frozen=True)
class Csms:
    url: str
    security_profile: int
    password: str | None
    ca_file: Path | None
    client_cert: Path | None
    client_key: Path | None


@dataclass(frozen=True)
class Meter:
    model: str
    port: str | None
    unit_id: int
    baud: int
    parity: str
    poll_s: float
    offline_after_s: float


@dataclass(frozen=True)
class Connector:
    id: int
    type: str


@dataclass(frozen=True)
class Evse:
    id: int
    connectors: tuple[Connector, ...]
    max_current_a: float
    phases: int
    mcu_port: str | None
    mcu_baud: int
    rfid_port: str | None
    lock_on_plug: bool
    meter: Meter | None


@dataclass(frozen=True)
class Modem:
    enabled: bool
    port: str | None
    baud: int
    poll_s: float


@dataclass(frozen=True)
class Firmware:
    installer: str
    reboot_command: str
    manufacturer_root: Path | None
    max_image_mb: int


@dataclass(frozen=True)
class Sim:
    enabled: bool
    csms_port: int


@dataclass(frozen=True)
class Metrics:
    """reon-metrics: the Prometheus endpoint; on by default in simulation."""

    enabled: bool
    port: int
    bind: str


@dataclass(frozen=True)
class Bus:
    """Liveness on the bus: every service and the broker beat every heartbeat_s; the broker marks a service
    dead after 3 missed beats. A service that restarts, or meets a restarted broker, beats at once."""

    heartbeat_s: float = 10.0


@dataclass(frozen=True)
class StationConfig:
    path: Path
    station: Identity
    paths: Paths
    csms: Csms
    evses: tuple[Evse, ...]
    modem: Modem
    firmware: Firmware
    sim: Sim
    device_model: dict[str, Any] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=lambda: Metrics(False, 9870, "127.0.0.1"))
    bus: Bus = field(default_factory=Bus)

    def evse(self, evse_id: int) -> Evse:
        return next(e for e in self.evses if e.id == evse_id)

    @property
    def sim_dir(self) -> Path:
        """Where reon-sim puts the pseudo-terminal links of the simulated devices."""
        return self.paths.run_dir / "sim"

    def device_port(self, configured: str | None, sim_name: str) -> str | None:
        """The serial device to open: the simulator's link in sim mode, else the configured port."""
        return str(self.sim_dir / sim_name) if self.sim.enabled else configured


def default_config_path() -> Path:
    env = os.environ.get("REON_CONFIG")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "deploy" / "station.toml"


def load_config(path: str | Path | None = None) -> StationConfig:
    """Read and validate the station file; raise ConfigError naming the first bad key."""
    path = Path(path) if path else default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the config file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        line = text_line_of(path.read_bytes(), exc.start)
        raise ConfigError(str(path), f"not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} on line {line})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML ({exc})") from None
    root = Table(data, "")
    base = path.resolve().parent
    sim = _sim(root.table("sim"))
    config = StationConfig(
        path=path.resolve(),
        station=_identity(root.table("station", optional=False)),
        paths=_paths(root.table("paths", optional=False), base),
        csms=_csms(root.table("csms", optional=False), base),
        evses=_evses(root, base),
        modem=_modem(root.table("modem")),
        firmware=_firmware(root.table("firmware"), base),
        sim=sim,
        device_model=_device_model(root.table("device_model")),
        metrics=_metrics(root.table("metrics"), sim.enabled),
        bus=_bus(root.table("bus")),
    )
    root.done()
    return config


def text_line_of(data: bytes, offset: int) -> int:
    """1-based line number of a byte offset."""
    return data.count(b"\n", 0, offset) + 1


def _identity(t: Table) -> Identity:
    identity = Identity(
        id=t.str("id"),
        serial_number=t.str("serial_number"),
        model=t.str("model", "REON"),
        vendor=t.str("vendor", "REWATT"),
        firmware_version=t.str("firmware_version"),
        grid_limit_a=t.float("grid_limit_a", None, lo=6, hi=1000),
        priorities=t.bool("priorities", True),
    )
    if len(identity.id) > 48 or any(c in identity.id for c in "/?#: "):
        raise ConfigError(t.key("id"), "must be ≤ 48 characters without '/', '?', '#', ':' or spaces")
    if len(identity.serial_number) > 25:
        raise ConfigError(t.key("serial_number"), "must be ≤ 25 characters (OCPP serialNumber)")
    t.done()
    return identity


def _paths(t: Table, base: Path) -> Paths:
    paths = Paths(run_dir=t.path("run_dir", base), data_dir=t.path("data_dir", base),
                  log_dir=t.path("log_dir", base))
    if len(str(paths.run_dir)) > 90:
        raise ConfigError(t.key("run_dir"), "path too long for ipc sockets (at most 90 characters)")
    t.done()
    return paths


def _csms(t: Table, base: Path) -> Csms:
    url = t.str("url")
    if not url.startswith(("ws://", "wss://")):
        raise ConfigError(t.key("url"), f"must start with ws:// or wss://, got {url!r}")
    profile = t.int("security_profile", 1, lo=1, hi=3)
    csms = Csms(url=url.rstrip("/"), security_profile=profile, password=t.str("password", None),
                ca_file=t.path("ca_file", base, None), client_cert=t.path("client_cert", base, None),
                client_key=t.path("client_key", base, None))
    if profile in (1, 2) and not csms.password:
        raise ConfigError(t.key("password"), f"required by security profile {profile}")
    if profile >= 2 and not url.startswith("wss://"):
        raise ConfigError(t.key("url"), f"security profile {profile} needs a wss:// URL")
    if profile == 3 and not (csms.client_cert and csms.client_key):
        raise ConfigError(t.key("client_cert"), "security profile 3 needs client_cert and client_key")
    t.done()
    return csms


def _meter(t: Table) -> Meter:
    model = t.str("model", "SDM630", choices=METER_MODELS)
    meter = Meter(model=model, port=t.str("port", None), unit_id=t.int("unit_id", 1, lo=1, hi=247),
                  baud=t.int("baud", 2400 if model == "SDM120" else 9600, lo=1200, hi=115200),
                  parity=t.str("parity", "N", choices=PARITIES), poll_s=t.float("poll_s", 1.0, lo=0.1, hi=60),
                  offline_after_s=t.float("offline_after_s", 3.0, lo=0.2, hi=60))
    t.done()
    return meter


def _evses(root: Table, base: Path) -> tuple[Evse, ...]:
    evses: list[Evse] = []
    for t in root.tables("evse"):
        connectors = []
        for c in t.tables("connector") or [Table({"id": 1}, t.key("connector[0]"))]:
            connectors.append(Connector(id=c.int("id", lo=1), type=c.str("type", "sType2", choices=CONNECTOR_TYPES)))
            c.done()
        meter_table = t.raw("meter")
        evse = Evse(
            id=t.int("id", lo=1),
            connectors=tuple(connectors),
            max_current_a=t.float("max_current_a", 32.0, lo=6, hi=80),
            phases=t.int("phases", 3, lo=1, hi=3),
            mcu_port=t.str("mcu_port", None),
            mcu_baud=t.int("mcu_baud", 115200, lo=9600, hi=230400),
            rfid_port=t.str("rfid_port", None),
            lock_on_plug=t.bool("lock_on_plug", True),
            meter=_meter(Table(meter_table, t.key("meter"))) if meter_table is not None else None,
        )
        if evse.phases == 2:
            raise ConfigError(t.key("phases"), "must be 1 or 3")
        if sorted(c.id for c in connectors) != list(range(1, len(connectors) + 1)):
            raise ConfigError(t.key("connector"), "connector ids must be 1, 2, … without gaps")
        t.done()
        evses.append(evse)
    if not evses:
        raise ConfigError("evse", "at least one [[evse]] table is required")
    ids = sorted(e.id for e in evses)
    if ids != list(range(1, len(ids) + 1)):
        raise ConfigError("evse", f"evse ids must be 1, 2, … without gaps or repeats, got {ids}")
    return tuple(sorted(evses, key=lambda e: e.id))


def _modem(t: Table) -> Modem:
    modem = Modem(enabled=t.bool("enabled", False), port=t.str("port", None),
                  baud=t.int("baud", 115200, lo=1200, hi=921600), poll_s=t.float("poll_s", 30.0, lo=1, hi=3600))
    t.done()
    return modem


def _firmware(t: Table, base: Path) -> Firmware:
    firmware = Firmware(installer=t.str("installer", "rauc install {bundle}"),
                        reboot_command=t.str("reboot_command", "systemctl reboot"),
                        manufacturer_root=t.path("manufacturer_root", base, None),
                        max_image_mb=t.int("max_image_mb", 512, lo=1, hi=8192))
    t.done()
    return firmware


def _sim(t: Table) -> Sim:
    sim = Sim(enabled=t.bool("enabled", False), csms_port=t.int("csms_port", 9000, lo=0, hi=65535))
    t.done()
    return sim


def _metrics(t: Table, sim: bool) -> Metrics:
    metrics = Metrics(enabled=t.bool("enabled", sim), port=t.int("port", 9870, lo=0, hi=65535),
                      bind=t.str("bind", "127.0.0.1"))
    t.done()
    return metrics


def _bus(t: Table) -> Bus:
    bus = Bus(heartbeat_s=t.float("heartbeat_s", Bus.heartbeat_s, lo=0.05, hi=60))
    t.done()
    return bus


def _device_model(t: Table) -> dict[str, Any]:
    """The `[device_model]` table as written: key → string, number or boolean (reon-ocpp parses the keys)."""
    for key, value in t.data.items():
        if not DEVICE_MODEL_KEY.fullmatch(key.strip()):
            raise ConfigError(f"device_model.{key!r}",
                              "not a device-model key; expected Component[instance]@evse/connector.Variable[instance]")
        if not isinstance(value, (str, int, float, bool)):
            raise ConfigError(f"device_model.{key!r}", "value must be a string, number or boolean")
    return dict(t.data)
