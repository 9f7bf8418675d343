"""What the modem driver hands out: the snapshot of the modem (`ModemInfo`), its `Link`, and `ModemError`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

from services.modem import at_parser as p


class ModemError(Exception):
    """The modem failed a command: `final` is its error result code, or None when it did not answer at all."""

    def __init__(self, message: str, final: p.FinalResult | None = None) -> None:
        super().__init__(message)
        self.final = final


class Link(StrEnum):
    OK = "ok"  # registered (home or roaming)
    NO_SIM = "no_sim"  # SIM missing, locked by a PIN/PUK or failed
    OFFLINE = "offline"  # SIM ready, not registered
    ABSENT = "absent"  # no port, or the modem does not answer


@dataclass(frozen=True)
class ModemInfo:
    """Everything one snapshot reads; None where the modem did not tell."""

    link: Link
    manufacturer: str | None = None
    model: str | None = None
    revision: str | None = None
    imei: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    sim_status: p.SimStatus | None = None
    registration: p.Registration = p.Registration.UNKNOWN
    operator: str | None = None
    access_technology: str | None = None
    signal_dbm: int | None = None

    def as_dict(self) -> dict[str, str | int | None]:
        """Plain values (enums as their strings), ready to publish."""
        return {k: str(v) if isinstance(v, StrEnum) else v for k, v in asdict(self).items()}
