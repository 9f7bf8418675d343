"""The exporter maps published state to metric values and labels; dead sources and garbage leave no stale value."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from bus.envelope import Stamper
from services.metrics.collector import StationCollector
from services.metrics.station_view import StationView
from services.ocpp_client.link.call_stats import CallStats

STATION = "ST-1"
NOW = 1_700_000_100.0


def liveness(**alive: bool) -> dict[str, Any]:
    return {"services": {name: {"session": f"{name}-s", "pid": 4000 + i, "alive": up, "restarts": i,
                                "last_heartbeat": NOW - 0.5, "started": NOW - 100}
                         for i, (name, up) in enumerate(alive.items())}}


EVSE = {"evse_id": 1, "connector_status": "Occupied", "charging_state": "Charging", "cp_state": "C",
        "relays_closed": True, "offered_current_a": 16.0, "current_limit_a": None, "faults": [], "link_up": True}
METER = {"model": "SDM630", "link": "ok", "sample": {
    "evse": 1, "energy_import_wh": 1234.5, "power_w": 11040.0, "current_a_per_phase": [16.0, 16.0, 16.0],
    "voltage_v_per_phase": [230.0, 231.0, 229.0], "read_at": NOW - 1}}


class Station:
    """A StationView fed like the bus would, and the collector over it (process stats given, not psutil)."""

    def __init__(self) -> None:
        self.view = StationView()
        self.stampers: dict[str, Stamper] = {}
        self.processes = {4000 + i: (50e6 + i, 1.5 + i) for i in range(10)}
        registry = CollectorRegistry(auto_describe=False)
        registry.register(StationCollector(self.view, STATION, firmware_version="0.1.1", serial_number="SN",
                                           process_stats=self.processes.get, clock=lambda: NOW))
        self.registry = registry

    def state(self, service: str, name: str, body: Any) -> None:
        stamper = self.stampers.setdefault(service, Stamper(service, f"{service}-s"))
        assert self.view.apply(f"{service}.state.{name}", stamper.make("state", name, body))

    def beat(self, service: str) -> None:
        stamper = self.stampers.setdefault(service, Stamper(service, f"{service}-s"))
        self.view.apply(f"{service}.hb", stamper.make("hb", "", {"pid": 1}))

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = generate_latest(self.registry).decode()
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                assert s.labels.get("station") == STATION or s.name.endswith(("_created",)), s
                labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "station"))
                out[(s.name, labels)] = s.value
        return out


def names(samples: dict) -> set[str]:
    return {name for name, _ in samples}


def test_charging_evse_maps_to_power_energy_phases_and_state_sets() -> None:
    st = Station()
    st.state("bus", "services", liveness(bus=True, evse_io=True, meter=True, ocpp=True))
    st.state("evse_io", "evse.1", EVSE)
    st.state("meter", "meter.1", METER)
    st.state("ocpp", "transaction.1", {"evse": 1, "transaction_id": "tx-1", "authorized": True})
    m = st.samples()
    evse = (("evse", "1"),)
    assert m[("reon_evse_power_watts", evse)] == 11040.0
    assert m[("reon_evse_energy_import_joules_total", evse)] == 1234.5 * 3600
    assert m[("reon_evse_voltage_volts", (("evse", "1"), ("phase", "L2")))] == 231.0
    assert m[("reon_evse_current_amperes", (("evse", "1"), ("phase", "L3")))] == 16.0
    assert m[("reon_evse_connector_status", (("connector", "1"), ("evse", "1"), ("status", "Occupied")))] == 1
    assert m[("reon_evse_connector_status", (("connector", "1"), ("evse", "1"), ("status", "Available")))] == 0
    assert m[("reon_evse_cp_state", (("evse", "1"), ("state", "C")))] == 1
    assert m[("reon_evse_relays_closed", evse)] == 1
    assert m[("reon_evse_offered_current_amperes", evse)] == 16
    assert m[("reon_evse_faults", evse)] == 0
    assert m[("reon_evse_transaction_active", evse)] == 1
    assert m[("reon_meter_up", evse)] == 1
    assert "reon_evse_current_limit_amperes" not in names(m)  # no limit set: absent, not 0


def test_service_that_dies_shows_up_0_and_loses_its_state_and_process_figures() -> None:
    st = Station()
    st.state("bus", "services", liveness(bus=True, evse_io=True, meter=True))
    st.state("evse_io", "evse.1", EVSE)
    st.state("meter", "meter.1", METER)
    st.beat("meter")
    alive = st.samples()
    meter = (("service", "meter"),)
    assert alive[("reon_service_up", meter)] == 1
    assert alive[("reon_service_resident_memory_bytes", meter)] == 50e6 + 2
    assert alive[("reon_service_cpu_seconds_total", meter)] == 3.5
    assert alive[("reon_service_messages_published_total", meter)] == 2  # its state, then the beat
    assert alive[("reon_service_heartbeat_age_seconds", meter)] >= 0

    st.state("bus", "services", liveness(bus=True, evse_io=True, meter=False))
    dead = st.samples()
    assert dead[("reon_service_up", meter)] == 0
    assert dead[("reon_service_restarts_total", meter)] == 2
    assert ("reon_service_resident_memory_bytes", meter) not in dead
    assert ("reon_service_cpu_seconds_total", meter) not in dead
    assert not {"reon_evse_power_watts", "reon_evse_energy_import_joules_total", "reon_meter_up"} & names(dead)
    assert dead[("reon_evse_cp_state", (("evse", "1"), ("state", "C")))] == 1  # evse_io still alive


def test_meter_offline_drops_its_values_instead_of_repeating_the_last_sample() -> None:
    st = Station()
    st.state("bus", "services", liveness(bus=True, meter=True))
    st.state("meter", "meter.1", {**METER, "link": "offline"})  # sample is the last good one: stale
    m = st.samples()
    assert m[("reon_meter_up", (("evse", "1"),))] == 0
    assert not {"reon_evse_power_watts", "reon_evse_energy_import_joules_total", "reon_evse_voltage_volts",
                "reon_evse_current_amperes"} & names(m)


def test_unknown_and_malformed_state_is_ignored() -> None:
    st = Station()
    st.state("bus", "services", {"services": {"meter": "garbage", "evse_io": {"alive": True, "pid": "x"},
                                              "ocpp": {"alive": True, "restarts": -3}}})
    st.state("evse_io", "evse.1", {"connector_status": 7, "cp_state": None, "faults": "rcd",
                                   "offered_current_a": float("nan"), "relays_closed": "yes"})
    st.state("evse_io", "evse.x", {"connector_status": "Available"})
    st.state("ocpp", "csms", {"connected": "yes", "link": {"calls_sent": {"Heartbeat": -1, "7": 2},
                                                          "rtt_s": {"bounds": [0.1], "cumulative_counts": []}}})
    st.state("ocpp", "transactions", ["not", "a", "map"])
    st.state("someone", "new_thing", {"value": 1})
    m = st.samples()
    assert m[("reon_service_up", (("service", "evse_io"),))] == 1
    assert ("reon_service_up", (("service", "meter"),)) not in m
    assert ("reon_service_restarts_total", (("service", "ocpp"),)) not in m
    assert m[("reon_evse_faults", (("evse", "1"),))] == 0
    assert not {"reon_evse_connector_status", "reon_evse_cp_state", "reon_evse_offered_current_amperes",
                "reon_evse_relays_closed", "reon_csms_connected", "reon_csms_call_round_trip_seconds_bucket",
                "reon_transactions_started_total"} & names(m)
    assert m[("reon_csms_calls_sent_total", (("action", "7"),))] == 2
    assert not any("someone" in name or "new_thing" in name for name in names(m))


def test_csms_link_counters_and_round_trip_histogram_from_the_published_call_stats() -> None:
    stats = CallStats()
    for rtt in (0.004, 0.03, 0.03, 2.0):
        stats.sent("Heartbeat")
        stats.answered("Heartbeat", rtt, error=False)
    stats.sent("Authorize")
    stats.answered("Authorize", 0.2, error=True)
    st = Station()
    st.state("bus", "services", liveness(bus=True, ocpp=True))
    st.state("ocpp", "csms", {"connected": True, "registration": "Accepted", "queue_depth": 3, "dead_letters": 1,
                              "link": {**stats.snapshot(), "reconnects": 2, "failed_attempts": 5}})
    st.state("ocpp", "transactions", {"active": 1, "started": 4, "ended": {"EVDisconnected": 3},
                                      "authorizations": {"Accepted": 4, "Blocked": 1}})
    m = st.samples()
    assert m[("reon_csms_connected", ())] == 1
    assert m[("reon_csms_registration_status", (("status", "Accepted"),))] == 1
    assert m[("reon_csms_registration_status", (("status", "Pending"),))] == 0
    assert m[("reon_csms_queue_depth", ())] == 3 and m[("reon_csms_dead_letters", ())] == 1
    assert m[("reon_csms_reconnects_total", ())] == 2 and m[("reon_csms_connect_failures_total", ())] == 5
    assert m[("reon_csms_calls_sent_total", (("action", "Heartbeat"),))] == 4
    assert m[("reon_csms_call_errors_total", (("action", "Heartbeat"),))] == 0  # present at 0, not absent
    assert m[("reon_csms_call_errors_total", (("action", "Authorize"),))] == 1
    bucket = "reon_csms_call_round_trip_seconds_bucket"
    assert m[(bucket, (("le", "0.005"),))] == 1
    assert m[(bucket, (("le", "0.05"),))] == 3
    assert m[(bucket, (("le", "2.5"),))] == 5
    assert m[(bucket, (("le", "+Inf"),))] == 5
    assert m[("reon_csms_call_round_trip_seconds_count", ())] == 5
    assert abs(m[("reon_csms_call_round_trip_seconds_sum", ())] - 2.264) < 1e-9
    assert m[("reon_transactions_started_total", ())] == 4
    assert m[("reon_transactions_ended_total", (("reason", "EVDisconnected"),))] == 3
    assert m[("reon_authorizations_total", (("result", "Blocked"),))] == 1
    assert m[("reon_transactions_active", ())] == 1


def test_station_info_modem_and_firmware_carry_their_labels() -> None:
    st = Station()
    st.state("bus", "services", liveness(bus=True, modem=True, firmware=True))
    st.state("bus", "broker", {"session": "b", "forwarded": 1000, "dropped": {"bad_field": 2}, "cached_topics": 9})
    st.state("modem", "modem", {"link": "ok", "registration": "registered_home", "operator": "Telekom",
                                "access_technology": "LTE", "signal_dbm": -71})
    st.state("firmware", "job", {"version": "0.2.0", "status": "Installed"})
    m = st.samples()
    assert m[("reon_station_info", (("firmware_version", "0.2.0"), ("serial_number", "SN")))] == 1
    assert m[("reon_firmware_update_status", (("status", "Installed"),))] == 1
    assert m[("reon_modem_up", ())] == 1
    assert m[("reon_modem_signal_dbm", ())] == -71
    assert m[("reon_modem_registration", (("status", "registered_home"),))] == 1
    assert m[("reon_modem_operator_info", (("access_technology", "LTE"), ("operator", "Telekom")))] == 1
    assert m[("reon_bus_messages_forwarded_total", ())] == 1000
    assert m[("reon_bus_frames_dropped_total", (("reason", "bad_field"),))] == 2
