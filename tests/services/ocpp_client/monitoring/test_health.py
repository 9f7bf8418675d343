"""The REWATT Health document from bus state (the shape of `reonctl status --json`)."""

from __future__ import annotations

from services.ocpp_client.monitoring.glue import HealthSummary


def test_health_summary_has_the_status_sections_from_bus_state() -> None:
    health = HealthSummary({"id": "REON-1"}, [1], lambda: {"url": "wss://csms", "connected": True,
                                                          "registration": "Accepted", "queue_depth": 0,
                                                          "dead_letters": 0, "held_down": False},
                           clock=lambda: 1000.0)
    health.feed("bus.state.services", {"services": {"meter": {"alive": True, "last_heartbeat": 998.0,
                                                              "restarts": 1}}})
    health.feed("evse_io.state.evse.1", {"connector_status": "Faulted", "faults": ["lock_failed"],
                                         "offered_current_a": 16.0})
    health.feed("meter.state.meter.1", {"link": "ok", "model": "SDM630",
                                        "sample": {"energy_import_wh": 12.5, "power_w": 7000, "read_at": 999.0}})
    health.feed("modem.state.modem", ["not", "an", "object"])  # hostile: ignored
    doc = health()
    assert set(doc) == {"station", "services", "csms", "evses", "meters", "modem", "firmware"}
    assert doc["services"]["meter"] == {"alive": True, "restarts": 1, "last_heartbeat_s": 2.0}
    assert doc["csms"]["registration"] == "Accepted" and "held_down" not in doc["csms"]
    assert doc["evses"]["1"]["faults"] == ["lock_failed"] and doc["evses"]["1"]["power_w"] == 7000
    assert doc["meters"]["1"] == {"model": "SDM630", "link": "ok", "energy_wh": 12.5, "age_s": 1.0}
    assert doc["modem"]["link"] is None
