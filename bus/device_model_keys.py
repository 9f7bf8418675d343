"""Device-model keys of the station config: `Component[instance]@evse/connector.Variable[instance]`.

Brackets and `@…` are optional: `OCPPCommCtrlr.HeartbeatInterval`, `EVSE@1.Power`,
`OCPPCommCtrlr.MessageAttempts[TransactionEvent]`, `Connector@1/1.ConnectorType`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"[A-Za-z][A-Za-z0-9_\-]*"
_INST = r"[A-Za-z0-9_\-.:]+"
_KEY = re.compile(
    rf"^(?P<component>{_NAME})(?:\[(?P<cinst>{_INST})\])?"
    rf"(?:@(?P<evse>\d+)(?:/(?P<connector>\d+))?)?"
    rf"\.(?P<variable>{_NAME})(?:\[(?P<vinst>{_INST})\])?$"
)


@dataclass(frozen=True)
class VariableKey:
    component: str
    variable: str
    component_instance: str | None = None
    evse: int | None = None
    connector: int | None = None
    variable_instance: str | None = None

    def __str__(self) -> str:
        text = self.component
        if self.component_instance:
            text += f"[{self.component_instance}]"
        if self.evse is not None:
            text += f"@{self.evse}" + (f"/{self.connector}" if self.connector is not None else "")
        text += f".{self.variable}"
        if self.variable_instance:
            text += f"[{self.variable_instance}]"
        return text


def parse_key(text: str) -> VariableKey:
    """Parse a key; raise ValueError saying what the key should look like."""
    match = _KEY.match(text.strip())
    if not match:
        raise ValueError("not a device-model key; expected Component[instance]@evse/connector.Variable[instance]")
    evse = match["evse"]
    connector = match["connector"]
    if (evse is not None and int(evse) < 1) or (connector is not None and int(connector) < 1):
        raise ValueError("evse and connector ids start at 1")
    return VariableKey(
        component=match["component"],
        variable=match["variable"],
        component_instance=match["cinst"],
        evse=int(evse) if evse is not None else None,
        connector=int(connector) if connector is not None else None,
        variable_instance=match["vinst"],
    )
