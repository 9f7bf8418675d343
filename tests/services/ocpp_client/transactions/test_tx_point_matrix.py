"""Every TxStartPoint × TxStopPoint value through a whole session, with plug-in first and authorization first.

The session: EV enters the bay, plug-in and authorization (in either order), charging, the driver presents
the card again, the EV is unplugged and leaves the bay. Whatever the configuration, the transaction has
exactly one Started (the first event) and one Ended (the last), seqNo 0..n, and its first/last events are
the ones TxStartPoint / TxStopPoint select.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ocpp_client.transactions.model import (
    AUTHORIZED,
    DATA_SIGNED,
    ENERGY,
    EV_CONNECTED,
    PARKING,
    POWER_PATH,
    TX_POINTS,
)
from tests.services.ocpp_client.tx_fixtures import CARD, Station, seq_nos

START_TRIGGER = {
    "plug_first": {PARKING: "EVDetected", EV_CONNECTED: "CablePluggedIn", AUTHORIZED: "Authorized",
                   POWER_PATH: "Authorized", ENERGY: "ChargingStateChanged", DATA_SIGNED: "ChargingStateChanged"},
    "auth_first": {PARKING: "EVDetected", EV_CONNECTED: "CablePluggedIn", AUTHORIZED: "Authorized",
                   POWER_PATH: "CablePluggedIn", ENERGY: "ChargingStateChanged",
                   DATA_SIGNED: "ChargingStateChanged"},
}
END_TRIGGER = {PARKING: "EVDeparted", EV_CONNECTED: "EVCommunicationLost", AUTHORIZED: "StopAuthorized",
               POWER_PATH: "StopAuthorized", ENERGY: "ChargingStateChanged", DATA_SIGNED: "EVCommunicationLost"}


def run_session(st: Station, order: str) -> None:
    st.meter(500.0)
    st.apply(st.tx.on_parking_bay(1, True, st.now))
    if order == "plug_first":
        st.plug()
        st.swipe()
    else:
        st.swipe()
        st.plug()
    st.ev_draws()
    st.advance(30)
    st.meter(900.0)
    st.advance(30)
    st.swipe()
    st.unplug()
    st.apply(st.tx.on_parking_bay(1, False, st.now))


@pytest.mark.parametrize("order", ["plug_first", "auth_first"])
@pytest.mark.parametrize("stop", TX_POINTS)
@pytest.mark.parametrize("start", TX_POINTS)
def test_every_start_and_stop_point(tmp_path: Path, start: str, stop: str, order: str) -> None:
    st = Station(tmp_path / "ocpp.db")
    st.configure(start_points=frozenset({start}), stop_points=frozenset({stop}))
    run_session(st, order)
    events = st.outbox()
    assert {e["transactionInfo"]["transactionId"] for e in events} == {"tx-1"}
    assert seq_nos(events) == list(range(len(events)))
    assert [e["eventType"] for e in events].count("Started") == 1 == [e["eventType"] for e in events].count("Ended")
    first, last = events[0], events[-1]
    assert first["eventType"] == "Started"
    assert first["triggerReason"] == START_TRIGGER[order][start]
    assert last["eventType"] == "Ended"
    assert last["triggerReason"] == END_TRIGGER[stop]
    assert last["transactionInfo"]["stoppedReason"] == "Local"
    carrying_token = [e for e in events if "idToken" in e]
    assert carrying_token and carrying_token[0]["idToken"] == CARD
    begin = first["meterValue"][0]["sampledValue"][0]
    end = last["meterValue"][-1]["sampledValue"][0]
    assert (begin["context"], end["context"]) == ("Transaction.Begin", "Transaction.End")
    assert end["value"] >= begin["value"]
    assert st.record().tx is None and not st.record().authorized


@pytest.mark.parametrize("order", ["plug_first", "auth_first"])
def test_default_points_ev_connected_and_authorized(tmp_path: Path, order: str) -> None:
    st = Station(tmp_path / "ocpp.db")
    run_session(st, order)
    events = st.outbox()
    first_trigger = "CablePluggedIn" if order == "plug_first" else "Authorized"
    assert (events[0]["eventType"], events[0]["triggerReason"]) == ("Started", first_trigger)
    assert (events[-1]["eventType"], events[-1]["triggerReason"]) == ("Ended", "StopAuthorized")
