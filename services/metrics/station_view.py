"""The latest published state of the station, as read off the bus (no bus in here: fed (topic, envelope)).

Shared by the exporter and `reonctl top`. It keeps the last body of every `state` topic and the last
heartbeat of every service (its envelope's ts and seq: the number of messages that session published).
Typed accessors never trust a body: a value of the wrong type reads as None.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from bus.envelope import Envelope


@dataclass(frozen=True)
class Beat:
    """A service's last heartbeat: when (UTC s), its session and how many messages that session published."""

    ts: float
    session: str
    published: int


class StationView:
    """Last value of every state topic, last heartbeat of every service."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        self.beats: dict[str, Beat] = {}
        self.updated_at = 0.0

    def apply(self, topic: str, env: Envelope) -> bool:
        """Take one bus message; True when it changed what the view holds (events are not kept)."""
        if topic.endswith(".hb") and topic.count(".") == 1:
            self.beats[topic[:-3]] = Beat(env.ts, env.session, env.seq)
        elif ".state." in topic:
            self.state[topic] = env.body
        else:
            return False
        self.updated_at = time.time()
        return True

    # ---- reading -----------------------------------------------------------------------------------
    def body(self, topic: str) -> dict[str, Any]:
        """The state body of `topic` when it is a map, else {}."""
        body = self.state.get(topic)
        return body if isinstance(body, dict) else {}

    def liveness(self) -> dict[str, dict[str, Any]]:
        """The broker's table: service → {alive, pid, restarts, last_heartbeat, ...} (maps only)."""
        table = self.body("bus.state.services").get("services")
        if not isinstance(table, dict):
            return {}
        return {str(k): v for k, v in table.items() if isinstance(v, dict)}

    def alive(self, service: str) -> bool:
        """The broker counts the service alive: its state may be shown; a dead one's is stale."""
        return self.liveness().get(service, {}).get("alive") is True

    def evse_ids(self) -> list[int]:
        """EVSEs that evse_io, meter or ocpp publish state for, ascending."""
        ids = set()
        for topic in self.state:
            for prefix in ("evse_io.state.evse.", "meter.state.meter.", "ocpp.state.transaction."):
                if topic.startswith(prefix) and topic[len(prefix):].isdigit():
                    ids.add(int(topic[len(prefix):]))
        return sorted(ids)


def number(value: Any) -> float | None:
    """A finite int or float (not bool) as float, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def count(value: Any) -> int | None:
    """A non-negative int (not bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def counts_by_label(value: Any) -> dict[str, int]:
    """{label: n} keeping only string keys with non-negative int values."""
    if not isinstance(value, dict):
        return {}
    return {k: n for k, v in value.items() if isinstance(k, str) and (n := count(v)) is not None}
