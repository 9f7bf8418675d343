"""Random session histories (hypothesis): whatever happens, every transaction has exactly one Started (first)
and one Ended (last), seqNo 0..n without gap or repeat, time never runs backwards, and the energy at its
end is not below the energy at its begin — across ocpp_client restarts, evse_io restarts and power losses."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ocpp_client.meter_values.sampling import SamplingSettings, parse_utc
from services.ocpp_client.transactions.model import TX_POINTS, TxSettings
from tests.services.ocpp_client.tx_fixtures import CARD, CARD2, Station

EVSES = st.sampled_from([1, 1, 1, 2])
ACTIONS = st.one_of(
    st.tuples(st.just("session"), EVSES, st.booleans()),
    st.tuples(st.just("plug"), EVSES),
    st.tuples(st.just("unplug"), EVSES),
    st.tuples(st.just("swipe"), EVSES, st.sampled_from([CARD, CARD2]), st.booleans()),
    st.tuples(st.just("draws"), EVSES),
    st.tuples(st.just("pauses"), EVSES),
    st.tuples(st.just("advance"), st.integers(1, 400)),
    st.tuples(st.just("meter"), EVSES, st.integers(0, 900)),
    st.tuples(st.just("bay"), EVSES, st.booleans()),
    st.tuples(st.just("remote_start"), EVSES, st.booleans()),
    st.tuples(st.just("remote_stop"), EVSES),
    st.tuples(st.just("invalid"), EVSES),
    st.tuples(st.just("trigger"), EVSES),
    st.tuples(st.just("reopen")),
    st.tuples(st.just("evse_io_restart")),
    st.tuples(st.just("power_loss")),
)
POINTS = st.frozensets(st.sampled_from(TX_POINTS), min_size=1)
SETTINGS = st.builds(
    TxSettings,
    start_points=POINTS,
    stop_points=POINTS,
    ev_connection_timeout_s=st.sampled_from([0, 60, 300]),
    stop_tx_on_ev_side_disconnect=st.booleans(),
    stop_tx_on_invalid_id=st.booleans(),
    max_energy_on_invalid_id_wh=st.sampled_from([0, 300]),
    authorize_remote_start=st.booleans(),
    sampling=st.builds(SamplingSettings, tx_updated_interval_s=st.sampled_from([0, 60]),
                       tx_ended_interval_s=st.sampled_from([0, 120]), aligned_interval_s=st.sampled_from([0, 300]),
                       aligned_tx_ended_interval_s=st.sampled_from([0, 600])),
)


class Run:
    def __init__(self, path: Path, tx_settings: TxSettings) -> None:
        self.s = Station(path, settings=tx_settings, evses={1: 1, 2: 1})
        self.energy = {1: 0.0, 2: 0.0}
        self.boots = itertools.count(2)

    def do(self, action: tuple[Any, ...]) -> None:
        s, name, args = self.s, action[0], action[1:]
        if name == "session":  # the common case: plug-in and card in either order, the EV draws
            evse, plug_first = args
            if plug_first:
                s.plug(evse)
            s.swipe(CARD, evse)
            s.plug(evse)
            s.ev_draws(evse)
        elif name == "plug":
            s.plug(args[0])
        elif name == "unplug":
            s.unplug(args[0])
        elif name == "swipe":
            evse, token, accepted = args
            s.swipe(token, evse, accepted=accepted, info={"status": "Accepted" if accepted else "Invalid"})
        elif name == "draws":
            s.ev_draws(args[0])
        elif name == "pauses":
            s.ev_pauses(args[0])
        elif name == "advance":
            s.advance(args[0])
            deadline = s.tx.next_deadline()
            assert deadline is None or deadline > s.now  # tick did everything that was due
        elif name == "meter":
            self.energy[args[0]] += args[1]
            s.meter(self.energy[args[0]], args[0])
        elif name == "bay":
            s.apply(s.tx.on_parking_bay(args[0], args[1], s.now))
        elif name == "remote_start":
            self.remote_start(*args)
        elif name == "remote_stop":
            tx_id = s.tx.open_transactions().get(args[0])
            if tx_id:
                s.apply(s.tx.request_stop({"transactionId": tx_id}, s.now)[1])
        elif name == "invalid":
            rec = s.record(args[0])
            if rec.tx is not None and rec.authorized and rec.id_token:
                s.respond(rec.tx.transaction_id, rec.id_token, {"status": "Invalid"})
        elif name == "trigger":
            s.apply(s.tx.trigger_transaction_event(args[0], s.now))
        elif name == "reopen":
            s.reopen()
        elif name == "evse_io_restart":
            s.restart_evse_io()
        elif name == "power_loss":
            s.reopen(boot_id=f"boot-{next(self.boots)}")
            s.now += 30
            s.restart_evse_io()

    def remote_start(self, evse: int, accepted: bool) -> None:
        s = self.s
        result = s.tx.request_start({"idToken": CARD2, "remoteStartId": 1, "evseId": evse}, s.now)
        s.apply(result.output)
        if result.authorize is not None:
            s.apply(s.tx.on_authorization(evse, CARD2, accepted, {"status": "Accepted"} if accepted else None,
                                          s.now))


def check(events: list[dict[str, Any]], run: Run) -> None:
    by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_tx[event["transactionInfo"]["transactionId"]].append(event)
    for tx_id, tx_events in by_tx.items():
        kinds = [e["eventType"] for e in tx_events]
        assert kinds.count("Started") == 1 and kinds[0] == "Started", (tx_id, kinds)
        assert kinds.count("Ended") == 1 and kinds[-1] == "Ended", (tx_id, kinds)
        assert [e["seqNo"] for e in tx_events] == list(range(len(tx_events))), tx_id
        times = [parse_utc(e["timestamp"]) for e in tx_events]
        assert times == sorted(times), tx_id
        begin = [v for v in tx_events[0].get("meterValue", []) if v["sampledValue"][0]["context"] ==
                 "Transaction.Begin"]
        end = [v for v in tx_events[-1].get("meterValue", []) if v["sampledValue"][0]["context"] ==
               "Transaction.End"]
        if begin and end:
            assert end[0]["sampledValue"][0]["value"] >= begin[0]["sampledValue"][0]["value"], tx_id
        status = run.s.tx.get_transaction_status(tx_id, False)
        assert status["ongoingIndicator"] is False, tx_id


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tx_settings=SETTINGS, actions=st.lists(ACTIONS, min_size=4, max_size=60))
def test_random_histories_keep_every_transaction_whole(tx_settings: TxSettings, actions: list) -> None:
    folder = Path(tempfile.mkdtemp(prefix="reon-tx-"))
    try:
        run = Run(folder / "ocpp.db", tx_settings)
        for action in actions:
            run.do(action)
        run.s.apply(run.s.tx.stop_transactions(None, run.s.now))  # whatever is still open ends now
        assert run.s.tx.open_transactions() == {}
        check(run.s.outbox(), run)
        run.s.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
