"""The station's OCPP clock against a CSMS with a bad clock (issue 11.3): absurd times refused, logged once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from services.ocpp_client.clock import SANE_UNTIL, StationClock, parse_rfc3339
from tests.services.ocpp_client.service_harness import *  # noqa: F403
from tests.services.ocpp_client.service_harness import calls, mark, wait_call, wait_statuses

NOW_S = datetime(2026, 12, 4, 12, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("csms_time", ["9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2101-01-01T00:00:00Z",
                                       "10000-01-01T00:00:00Z", "not a time"])
def test_a_csms_time_outside_the_sane_window_is_refused(csms_time: str) -> None:
    clock = StationClock(system=lambda: NOW_S)
    assert clock.adjust(csms_time) == 0.0
    assert clock.timestamp() == NOW_S and clock.refused == 1 and not clock.synced


def test_a_sane_csms_time_is_taken() -> None:
    clock = StationClock(system=lambda: NOW_S)
    assert clock.adjust("2026-12-04T12:00:30Z") == pytest.approx(30.0)
    assert clock.now_text() == "2026-12-04T12:00:30.000Z"


def test_the_same_refused_time_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = StationClock(system=lambda: NOW_S)
    with caplog.at_level(logging.WARNING, logger="reon.ocpp.clock"):
        for _ in range(5):
            clock.adjust("9999-12-31T23:59:59Z")
    assert len(caplog.records) == 1 and clock.refused == 5


def test_a_system_clock_beyond_the_calendar_gives_a_time_not_a_crash() -> None:
    clock = StationClock(system=lambda: 1e13)  # year ~318,000
    assert clock.now() == SANE_UNTIL


async def test_a_csms_answering_year_9999_does_not_stop_status_notifications(station, csms, ocpp, evse_io) -> None:
    """Was: once the clock passed 9999-12-31 every timestamp failed and nothing more was sent."""
    csms.set_response("Heartbeat", {"currentTime": "9999-12-31T23:59:59.999Z"})
    since = mark(csms, station)
    await ocpp.boot.heartbeat()
    await wait_call(csms, station, "Heartbeat", since=since)
    await evse_io.publish(1, connector_status="Occupied", charging_state="EVConnected", cp_state="B")
    status = (await wait_statuses(csms, station, count=1, since=since))[0]
    sent_at = parse_rfc3339(status["timestamp"])
    assert sent_at is not None and sent_at.year < 2100
    assert ocpp.clock.refused >= 1
    assert [c.action for c in calls(csms, station, since=since)].count("StatusNotification") == 1
