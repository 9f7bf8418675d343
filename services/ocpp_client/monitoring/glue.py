"""The monitoring block plugged into the OCPP service: handlers, device-model readers, bus feeds, its loop.

- CSMS CALLs through `gate.register` (SecurityError while Rejected comes with it); DataTransfer REWATT through
  the DataTransfer dispatcher's `register_vendor` (other vendors keep their answers).
- NotifyEvent through the durable queue (kind "monitoring"); NotifyMonitoringReport pages through `gate.send`
  (also while Pending: the CSMS asked for them), paged by DeviceDataCtrlr ItemsPerMessage/BytesPerMessage
  [GetReport].
- Device model: MonitoringCtrlr's base/level mirrors, the hardware problem flags and EVSE.Power (from the
  meter's last sample) and the live hardware state from evse_io (CP state, contactor, lock) are live readers,
  their changes offered to the monitors; so is every committed Actual change of the other variables.
- Bus in: `evse_io.state.evse.<n>` (faults, MCU link), `meter.state.meter.<n>` (link, fault),
  `meter.evt.sample.<n>` (power → EVSE.Power monitors), `modem.state.modem` (only with a modem configured),
  `bus.state.services` and `firmware.state.job` (for the health summary).

The station's health summary for DataTransfer REWATT Health, from what the OCPP service hears on the bus.

The same sections and keys as `reonctl status --json` (station, services, csms, evses, meters, modem,
firmware), built from the bus's Last Value Cache topics instead of supervisord: `bus.state.services`
(liveness by heartbeat), `evse_io.state.evse.<n>`, `meter.state.meter.<n>`, `modem.state.modem`,
`firmware.state.job`, plus the OCPP service's own csms state. Feed it every message of those topics
(`feed`); call it for the document. Peer bodies that are not objects are ignored.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bus.envelope import Envelope
from services.ocpp_client.clock import StationClock
from services.ocpp_client.device_model.catalog import ConnectorTopology, EvseTopology
from services.ocpp_client.device_model.keys import VariableRef
from services.ocpp_client.device_model.model import DeviceModel, VariableChange, format_datetime
from services.ocpp_client.link.gate import CallGate
from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.monitoring.block import MonitoringBlock
from services.ocpp_client.monitoring.characteristics import DeviceModelView
from services.ocpp_client.monitoring.store import Target
from services.ocpp_client.monitoring.variables import LIVE_STATE, hardware_variables

log = logging.getLogger("reon.ocpp.monitoring")

QUEUE_KIND = "monitoring"
Subscribe = Callable[[str, Callable[[str, Envelope], Awaitable[None]]], object]
RegisterVendor = Callable[[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]], None]


class MonitoringGlue:
    def __init__(self, *, db: sqlite3.Connection, dm: DeviceModel, clock: StationClock, gate: CallGate,
                 queue: OutboundQueue, topology: dict[int, list[int]], has_modem: bool, station: dict[str, Any],
                 subscribe: Subscribe, register_vendor: RegisterVendor,
                 transaction_of: Callable[[int | None], str | None], csms_state: Callable[[], dict[str, Any]]) -> None:
        self.dm = dm
        self._subscribe = subscribe
        self._has_modem = has_modem
        self.topology = topology
        self.health = HealthSummary(station, sorted(topology), csms_state)
        view = DeviceModelView(dm)
        self._power_w: dict[int, float] = {}
        self._live: dict[tuple[Any, ...], str | None] = {}

        def setting(variable: str, instance: str | None) -> str:
            where = {"variable_instance": instance} if instance else {}
            return dm.get_str("MonitoringCtrlr", variable, **where)

        def report_limits() -> tuple[int, int]:
            return (dm.get_int("DeviceDataCtrlr", "ItemsPerMessage", variable_instance="GetReport"),
                    dm.get_int("DeviceDataCtrlr", "BytesPerMessage", variable_instance="GetReport"))

        queue.register_kind(QUEUE_KIND)
        self.block = MonitoringBlock(
            db, topology, describe=view.describe, has_component=view.has_component, declares=view.declares,
            current_value=view.current_value,
            queue_put=lambda action, payload, conn: queue.put_nowait(action, payload, kind=QUEUE_KIND, conn=conn),
            send=lambda action, payload: gate.send(action, payload, in_pending=True), now=clock.now,
            format_time=format_datetime, online=lambda: gate.connected, setting=setting,
            transaction_of=transaction_of, health=self.health, report_limits=report_limits)
        for action, handler in self.block.handlers().items():
            gate.register(action, handler)
        register_vendor("REWATT", self.block.calls.rewatt_data_transfer)
        self._install_readers()
        self._listen_to_device_model()

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {"monitoring": self.block.run_periodic}

    def start(self) -> None:
        """Subscribe to the bus (call from the service's start)."""
        self._subscribe("evse_io.state.evse.", self._on_evse)
        self._subscribe("meter.state.meter.", self._on_meter)
        self._subscribe("meter.evt.sample.", self._on_sample)
        self._subscribe("bus.state.services", self._on_services)
        self._subscribe("firmware.state.job", self._on_services)
        if self._has_modem:
            self._subscribe("modem.state.modem", self._on_modem)

    # ----- device model ----------------------------------------------------------------------------

    def _install_readers(self) -> None:
        dm = self.dm
        for (variable, _), reader in self.block.live_values().items():
            dm.set_reader("MonitoringCtrlr", variable, reader)
        evses = [EvseTopology(n, tuple(ConnectorTopology(m, "sType2") for m in connectors))
                 for n, connectors in self.topology.items()]
        for spec in hardware_variables(evses, has_modem=self._has_modem):
            if dm.lookup(VariableRef(spec.component, spec.variable, None, spec.evse_id, spec.connector_id)) is None:
                continue
            target = Target(spec.component, spec.variable, evse_id=spec.evse_id, connector_id=spec.connector_id)
            dm.set_reader(spec.component, spec.variable, self._problem_reader(target),
                          **_where(spec.evse_id, spec.connector_id))
        for evse_id in self.topology:
            dm.set_reader("EVSE", "Power", self._power_reader(evse_id), evse_id=evse_id)
        for target in self._live_targets():
            if dm.lookup(VariableRef(target.component, target.variable, None, target.evse_id,
                                     target.connector_id)) is not None:
                dm.set_reader(target.component, target.variable, self._live_reader(target),
                              **_where(target.evse_id, target.connector_id))

    def _live_targets(self) -> list[Target]:
        targets = []
        for evse_id, connectors in self.topology.items():
            for component, variable, _, _ in LIVE_STATE:
                connector_ids = connectors if component == "ConnectorPlugRetentionLock" else [None]
                targets += [Target(component, variable, evse_id=evse_id, connector_id=m) for m in connector_ids]
        return targets

    def _live_reader(self, target: Target) -> Callable[[], str | None]:
        return lambda: self._live.get(target.key)

    def _update_live_state(self, evse_id: int, body: dict[str, Any]) -> None:
        """Keep the live hardware values and offer each change to the monitors."""
        for target in self._live_targets():
            if target.evse_id != evse_id:
                continue
            field = next(f for c, v, _, f in LIVE_STATE if (c, v) == (target.component, target.variable))
            value = _live_text(field, body.get(field))
            if value != self._live.get(target.key):
                self._live[target.key] = value
                self._offer(target, value)

    def _problem_reader(self, target: Target) -> Callable[[], str]:
        return lambda: "true" if self.block.tracker.is_active(target) else "false"

    def _power_reader(self, evse_id: int) -> Callable[[], str]:
        return lambda: _decimal(self._power_w.get(evse_id, 0.0))

    def _listen_to_device_model(self) -> None:
        pairs = {(spec.component, spec.variable) for spec in self.dm.catalog}
        for component, variable in sorted(pairs):
            self.dm.on_change(component, variable, self._on_change)

    def _on_change(self, change: VariableChange) -> None:
        if change.attribute != "Actual":
            return
        spec = change.spec
        target = Target(spec.component, spec.variable, spec.component_instance, spec.evse_id, spec.connector_id,
                        spec.variable_instance)
        self._offer(target, change.new_value)

    def _offer(self, target: Target, value: str | None) -> None:
        try:
            self.block.on_value(target, value)
        except Exception:  # a monitor must never break the code that changed the value
            log.exception("monitors of %s.%s failed", target.component, target.variable)

    # ----- bus -------------------------------------------------------------------------------------

    async def _on_evse(self, topic: str, env: Envelope) -> None:
        self.health.feed(topic, env.body)
        evse_id = _evse_of(topic, self.topology)
        if evse_id is not None and isinstance(env.body, dict):
            self.block.on_evse_state(evse_id, env.body)
            self._update_live_state(evse_id, env.body)

    async def _on_meter(self, topic: str, env: Envelope) -> None:
        self.health.feed(topic, env.body)
        evse_id = _evse_of(topic, self.topology)
        if evse_id is not None and isinstance(env.body, dict):
            self.block.on_meter_state(evse_id, env.body)

    async def _on_sample(self, topic: str, env: Envelope) -> None:
        evse_id = _evse_of(topic, self.topology)
        body = env.body if isinstance(env.body, dict) else {}
        power = body.get("power_w")
        if evse_id is None or not isinstance(power, (int, float)) or isinstance(power, bool):
            return
        self._power_w[evse_id] = float(power)
        self._offer(Target("EVSE", "Power", evse_id=evse_id), _decimal(float(power)))

    async def _on_modem(self, topic: str, env: Envelope) -> None:
        self.health.feed(topic, env.body)
        if isinstance(env.body, dict):
            self.block.on_modem_state(env.body)

    async def _on_services(self, topic: str, env: Envelope) -> None:
        self.health.feed(topic, env.body)


def _evse_of(topic: str, topology: dict[int, list[int]]) -> int | None:
    suffix = topic.rsplit(".", 1)[-1]
    return int(suffix) if suffix.isdigit() and int(suffix) in topology else None


def _where(evse_id: int | None, connector_id: int | None) -> dict[str, int]:
    where = {}
    if evse_id is not None:
        where["evse_id"] = evse_id
    if connector_id is not None:
        where["connector_id"] = connector_id
    return where


def _live_text(field: str, value: Any) -> str | None:
    """evse_io's field as the device model's value (None: not known)."""
    if field == "lock":
        return {"locked": "true", "unlocked": "false"}.get(value) if isinstance(value, str) else None
    if field == "relays_closed":
        return None if not isinstance(value, bool) else "true" if value else "false"
    return value[:1] if isinstance(value, str) and value in ("A", "B", "C", "D", "E", "F") else None


def _decimal(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.3f}".rstrip("0")


TOPIC_PREFIXES = ("bus.state.services", "evse_io.state.evse.", "meter.state.meter.", "modem.state.modem",
                  "firmware.state.job")


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
        job = self._state.get("firmware.state.job", {})
        return {
            "station": self._station,
            "services": services,
            "csms": {k: csms.get(k) for k in ("url", "connected", "registration", "queue_depth", "dead_letters")},
            "evses": {str(n): self._evse(n) for n in self._evse_ids},
            "meters": {str(n): self._meter(n, now) for n in self._evse_ids},
            "modem": _pick(self._state.get("modem.state.modem"),
                           ("iccid", "imsi", "imei", "operator", "registration", "signal_dbm", "link")),
            "firmware": {"version": job.get("version") or self._station.get("firmware_version"),
                         "update_status": job.get("status"), "request_id": job.get("request_id")},
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
