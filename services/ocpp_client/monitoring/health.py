"""The station's health summary for DataTransfer REWATT Health, from what the OCPP service hears on the bus.

The same sections and keys as `reonctl status --json` (station, services, csms, evses, meters, modem), built
from the bus's Last Value Cache topics instead of supervisord: `bus.state.services` (liveness by heartbeat),
`evse_io.state.evse.<n>`, `meter.state.meter.<n>`, `modem.state.modem`, plus the OCPP service's own csms
state. Feed it every message of those topics (`feed`); call it for the document. Peer bodies that are not
objects are ignored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

TOPIC_PREFIXES = ("bus.state.services", "evse_io.state.evse.", "meter.state.meter.", "modem.state.modem")


class HealthSummary:
    def __init__(self, station: Mapping[str, Any], evse_ids: list[int], csms_state: Callable[[], dict[str, Any]],
                 clock: Callable[[], float] = time.time) -> None:
        self._station = dict(station)
        self._evse_ids = evse_ids
        self._csms_state = csms_state
        self._clock = clock
        self._state: dict[str, dict[str, Any]] = {}

    def feed(self, topic: str, body: Any) -> None:
        if isinstance(body, dict) and topic.startswith(TOPIC_PREFIXES):
            self._state[topic] = body

    def __call__(self) -> dict[str, Any]:
        now = self._clock()
        liveness = self._state.get("bus.state.services", {}).get("services")
        services = {}
        for name, beat in (liveness if isinstance(liveness, dict) else {}).items():
            beat = beat if isinstance(beat, dict) else {}
            last = beat.get("last_heartbeat")
            services[name] = {"alive": bool(beat.get("alive")), "restarts": beat.get("restarts", 0),
                              "last_heartbeat_s": round(now - last, 2) if isinstance(last, (int, float)) else None}
        csms = self._csms_state()
        return {
            "station": self._station,
            "services": services,
            "csms": {k: csms.get(k) for k in ("url", "connected", "registration", "queue_depth", "dead_letters")},
            "evses": {str(n): self._evse(n) for n in self._evse_ids},
            "meters": {str(n): self._meter(n, now) for n in self._evse_ids},
            "modem": _pick(self._state.get("modem.state.modem"),
                           ("iccid", "imsi", "imei", "operator", "registration", "signal_dbm", "link")),
        }

    def _evse(self, evse_id: int) -> dict[str, Any]:
        io = self._state.get(f"evse_io.state.evse.{evse_id}", {})
        sample = self._state.get(f"meter.state.meter.{evse_id}", {}).get("sample") or {}
        return {**_pick(io, ("connector_status", "charging_state", "cp_state", "relays_closed")),
                "current_limit_a": io.get("offered_current_a"), "faults": io.get("faults", []),
                "energy_wh": sample.get("energy_import_wh"), "power_w": sample.get("power_w")}

    def _meter(self, evse_id: int, now: float) -> dict[str, Any]:
        body = self._state.get(f"meter.state.meter.{evse_id}", {})
        sample = body.get("sample") if isinstance(body.get("sample"), dict) else {}
        read_at = sample.get("read_at")
        return {"model": body.get("model"), "link": body.get("link"), "energy_wh": sample.get("energy_import_wh"),
                "age_s": round(now - read_at, 1) if isinstance(read_at, (int, float)) else None}


def _pick(body: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    body = body if isinstance(body, dict) else {}
    return {k: body.get(k) for k in keys}
