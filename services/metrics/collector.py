"""A prometheus-client Collector that renders the station's latest published state at each scrape.

Nothing is computed twice: every value is read from the state the services publish (services/*/contract.py),
the heartbeats and, for RSS and CPU, the process the broker's liveness table names. A value goes away with its
source: a service the broker counts dead keeps only `reon_service_up 0` and its restarts; a meter that is
offline keeps only `reon_meter_up 0` (no stale power or energy). Every series carries `station`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from services.metrics.station_view import StationView, count, counts_by_label, number, text

ProcessStats = Callable[[int], tuple[float, float] | None]

CONNECTOR_STATUSES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
CHARGING_STATES = ("Idle", "EVConnected", "Charging", "SuspendedEV", "SuspendedEVSE")
CP_STATES = ("A", "B", "C", "D", "E", "F")
REGISTRATIONS = ("Unknown", "Pending", "Accepted", "Rejected")
PHASES = ("L1", "L2", "L3")
J_PER_WH = 3600.0


def psutil_stats(pid: int) -> tuple[float, float] | None:
    """(RSS bytes, CPU seconds user+system) of a process, None when it is gone or not ours to read."""
    import psutil

    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            cpu = proc.cpu_times()
            return float(proc.memory_info().rss), float(cpu.user + cpu.system)
    except (psutil.Error, OSError):
        return None


class _Families:
    """Metric families keyed by name; each gets `station` as its first label."""

    def __init__(self, station: str) -> None:
        self.station = station
        self.items: dict[str, Metric] = {}

    def _get(self, cls: type, name: str, doc: str, labels: tuple[str, ...], **kw: Any) -> Metric:
        family = self.items.get(name)
        if family is None:
            family = self.items[name] = cls(name, doc, labels=("station", *labels), **kw)
        return family

    def gauge(self, name: str, doc: str, value: float | None, **labels: str) -> None:
        family = self._get(GaugeMetricFamily, name, doc, tuple(labels))
        if value is not None:
            family.add_metric([self.station, *labels.values()], value)

    def counter(self, name: str, doc: str, value: float | None, **labels: str) -> None:
        family = self._get(CounterMetricFamily, name, doc, tuple(labels))
        if value is not None:
            family.add_metric([self.station, *labels.values()], value)

    def one_hot(self, name: str, doc: str, label: str, choices: tuple[str, ...], current: str | None,
                **labels: str) -> None:
        """A state set: one series per choice, 1 for the current one; none at all when unknown."""
        if current is None:
            self._get(GaugeMetricFamily, name, doc, (*labels, label))
            return
        for choice in choices:
            self.gauge(name, doc, 1.0 if choice == current else 0.0, **labels, **{label: choice})

    def histogram(self, name: str, doc: str, body: dict[str, Any]) -> None:
        family = self._get(HistogramMetricFamily, name, doc, ())
        bounds, counts = body.get("bounds"), body.get("cumulative_counts")
        total, sum_s = count(body.get("count")), number(body.get("sum"))
        if not (isinstance(bounds, list) and isinstance(counts, list) and len(bounds) == len(counts)):
            return
        les = [number(b) for b in bounds]
        cumulative = [count(c) for c in counts]
        if total is None or sum_s is None or None in les or None in cumulative:
            return
        buckets = [(repr(le), float(c)) for le, c in zip(les, cumulative, strict=True)]
        family.add_metric([self.station], [*buckets, ("+Inf", float(total))], sum_s)


class StationCollector(Collector):
    """Renders a StationView; `process_stats` reads a pid's (RSS, CPU s) (psutil unless a test gives one)."""

    def __init__(self, view: StationView, station_id: str, *, firmware_version: str = "",
                 serial_number: str = "", process_stats: ProcessStats = psutil_stats,
                 clock: Callable[[], float] = time.time) -> None:
        self.view = view
        self.station_id = station_id
        self.firmware_version = firmware_version
        self.serial_number = serial_number
        self.process_stats = process_stats
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        f = _Families(self.station_id)
        self._station(f)
        self._services(f)
        self._bus(f)
        for evse in self.view.evse_ids():
            self._evse(f, evse)
            self._meter(f, evse)
        self._transactions(f)
        self._csms(f)
        self._modem(f)
        yield from f.items.values()

    # ---- sections ----------------------------------------------------------------------------------
    def _station(self, f: _Families) -> None:
        job = self.view.body("firmware.state.job") if self.view.alive("firmware") else {}
        version = text(job.get("version")) or self.firmware_version
        f.gauge("reon_station_info", "the station: serial number and running firmware", 1.0,
                serial_number=self.serial_number, firmware_version=version)
        f.gauge("reon_firmware_update_status", "the last FirmwareStatus reported (1 on the current status)",
                1.0 if text(job.get("status")) else None, status=text(job.get("status")) or "")

    def _services(self, f: _Families) -> None:
        now = self.clock()
        for service, entry in sorted(self.view.liveness().items()):
            alive = entry.get("alive") is True
            f.gauge("reon_service_up", "1 while the broker hears the service's heartbeat", 1.0 if alive else 0.0,
                    service=service)
            f.counter("reon_service_restarts", "new sessions of the service since the broker started",
                      count(entry.get("restarts")), service=service)
            beat = self.view.beats.get(service)
            last = beat.ts if beat is not None else number(entry.get("last_heartbeat"))
            f.gauge("reon_service_heartbeat_age_seconds", "seconds since the service's last heartbeat",
                    max(now - last, 0.0) if last is not None else None, service=service)
            if not alive:
                continue
            if beat is not None and beat.session == entry.get("session"):
                f.counter("reon_service_messages_published", "bus messages the service's process published",
                          float(beat.published), service=service)
            pid = count(entry.get("pid"))
            stats = self.process_stats(pid) if pid else None
            if stats is not None:
                f.gauge("reon_service_resident_memory_bytes", "RSS of the service's process", stats[0],
                        service=service)
                f.counter("reon_service_cpu_seconds", "CPU time (user + system) of the service's process",
                          stats[1], service=service)

    def _bus(self, f: _Families) -> None:
        body = self.view.body("bus.state.broker") if self.view.alive("bus") else {}
        f.counter("reon_bus_messages_forwarded", "messages the broker forwarded since it started",
                  count(body.get("forwarded")))
        f.gauge("reon_bus_cached_topics", "state topics in the broker's last-value cache",
                count(body.get("cached_topics")))
        for reason, n in counts_by_label(body.get("dropped")).items():
            f.counter("reon_bus_frames_dropped", "malformed frames the broker dropped, by reason", n, reason=reason)

    def _evse(self, f: _Families, evse_id: int) -> None:
        evse = str(evse_id)
        io = self.view.body(f"evse_io.state.evse.{evse_id}") if self.view.alive("evse_io") else {}
        if not io:
            return
        f.one_hot("reon_evse_connector_status", "OCPP connector status (1 on the current one)", "status",
                  CONNECTOR_STATUSES, text(io.get("connector_status")), evse=evse, connector="1")
        f.one_hot("reon_evse_charging_state", "OCPP charging state (1 on the current one)", "state",
                  CHARGING_STATES, text(io.get("charging_state")), evse=evse)
        f.one_hot("reon_evse_cp_state", "IEC 61851 control pilot state (absent when not reported)", "state",
                  CP_STATES, text(io.get("cp_state")), evse=evse)
        relays = io.get("relays_closed")
        f.gauge("reon_evse_relays_closed", "1 when the contactor is closed (absent when not known)",
                float(relays) if isinstance(relays, bool) else None, evse=evse)
        f.gauge("reon_evse_offered_current_amperes", "current offered to the EV by PWM (0: none)",
                number(io.get("offered_current_a")), evse=evse)
        f.gauge("reon_evse_current_limit_amperes", "external (smart-charging) limit (absent: none)",
                number(io.get("current_limit_a")), evse=evse)
        link = io.get("link_up")
        f.gauge("reon_evse_mcu_link_up", "1 while the pilot MCU's keep-alive arrives",
                float(link) if isinstance(link, bool) else None, evse=evse)
        faults = [x for x in io.get("faults", []) if isinstance(x, str)] if isinstance(io.get("faults"), list) else []
        f.gauge("reon_evse_faults", "active fault flags", float(len(faults)), evse=evse)
        for fault in faults:
            f.gauge("reon_evse_fault_active", "1 per active fault flag", 1.0, evse=evse, fault=fault)

    def _meter(self, f: _Families, evse_id: int) -> None:
        evse = str(evse_id)
        body = self.view.body(f"meter.state.meter.{evse_id}") if self.view.alive("meter") else {}
        if not body:
            return
        up = text(body.get("link")) in ("ok", "degraded")
        f.gauge("reon_meter_up", "1 while the EVSE's meter answers (its values are absent while 0)",
                1.0 if up else 0.0, evse=evse)
        sample = body.get("sample") if up and isinstance(body.get("sample"), dict) else {}
        f.gauge("reon_evse_power_watts", "active power", number(sample.get("power_w")), evse=evse)
        energy = number(sample.get("energy_import_wh"))
        f.counter("reon_evse_energy_import_joules", "the meter's import energy register",
                  energy * J_PER_WH if energy is not None else None, evse=evse)
        for name, key, doc in (("reon_evse_current_amperes", "current_a_per_phase", "current per phase"),
                               ("reon_evse_voltage_volts", "voltage_v_per_phase", "voltage per phase")):
            values = sample.get(key) if isinstance(sample.get(key), list) else []
            for phase, value in zip(PHASES, values, strict=False):
                f.gauge(name, doc, number(value), evse=evse, phase=phase)

    def _transactions(self, f: _Families) -> None:
        if not self.view.alive("ocpp"):
            return
        for evse_id in self.view.evse_ids():
            tx = self.view.body(f"ocpp.state.transaction.{evse_id}")
            if tx:
                f.gauge("reon_evse_transaction_active", "1 while an OCPP transaction is open on the EVSE",
                        1.0 if text(tx.get("transaction_id")) else 0.0, evse=str(evse_id))
        body = self.view.body("ocpp.state.transactions")
        f.gauge("reon_transactions_active", "ongoing transactions on the station", count(body.get("active")))
        f.counter("reon_transactions_started", "TransactionEvent Started queued since reon-ocpp started",
                  count(body.get("started")))
        for reason, n in counts_by_label(body.get("ended")).items():
            f.counter("reon_transactions_ended", "TransactionEvent Ended queued, by stoppedReason", n, reason=reason)
        for result, n in counts_by_label(body.get("authorizations")).items():
            f.counter("reon_authorizations", "authorizations decided, by idTokenInfo status", n, result=result)

    def _csms(self, f: _Families) -> None:
        body = self.view.body("ocpp.state.csms") if self.view.alive("ocpp") else {}
        if not body:
            return
        connected = body.get("connected")
        f.gauge("reon_csms_connected", "1 while the WebSocket to the CSMS is up",
                float(connected) if isinstance(connected, bool) else None)
        f.one_hot("reon_csms_registration_status", "BootNotification status (1 on the current one)", "status",
                  REGISTRATIONS, text(body.get("registration")))
        f.gauge("reon_csms_queue_depth", "messages in the durable outbound queue", count(body.get("queue_depth")))
        f.gauge("reon_csms_dead_letters", "queued messages that exhausted their attempts",
                count(body.get("dead_letters")))
        link = body.get("link") if isinstance(body.get("link"), dict) else {}
        f.counter("reon_csms_reconnects", "links to the CSMS up again after the first", count(link.get("reconnects")))
        f.counter("reon_csms_connect_failures", "connection attempts that failed", count(link.get("failed_attempts")))
        sent, errors = counts_by_label(link.get("calls_sent")), counts_by_label(link.get("call_errors"))
        for action in sorted(sent.keys() | errors.keys()):
            f.counter("reon_csms_calls_sent", "CALLs sent to the CSMS, by action", sent.get(action, 0), action=action)
            f.counter("reon_csms_call_errors", "CALLERRORs received from the CSMS, by action",
                      errors.get(action, 0), action=action)
        if isinstance(link.get("rtt_s"), dict):
            f.histogram("reon_csms_call_round_trip_seconds", "CALL → CALLRESULT/CALLERROR round trip",
                        link["rtt_s"])

    def _modem(self, f: _Families) -> None:
        body = self.view.body("modem.state.modem") if self.view.alive("modem") else {}
        if not body:
            return
        f.gauge("reon_modem_up", "1 while the modem is registered (link ok)", 1.0 if body.get("link") == "ok" else 0.0)
        registration = text(body.get("registration"))
        f.gauge("reon_modem_registration", "network registration (1 on the current one)",
                1.0 if registration else None, status=registration or "")
        f.gauge("reon_modem_signal_dbm", "signal strength (absent when unknown)", number(body.get("signal_dbm")))
        operator = text(body.get("operator"))
        f.gauge("reon_modem_operator_info", "the network operator and access technology", 1.0 if operator else None,
                operator=operator or "", access_technology=text(body.get("access_technology")) or "")
