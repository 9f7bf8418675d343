"""Random interleavings (hypothesis) of plug, swipe, unplug, EV pause / resume, CSMS link drops, a CSMS that
answers TransactionEvent with CALLERROR for a while, and in-process restarts of ocpp, evse_io or meter — on the
whole in-process station (tx_chaos.py). After each sequence every session is ended and the outbound queue
drained; then, at the CSMS, per transaction: one Started (seqNo 0) and one Ended (last), seqNo 0..n without gap,
received in order, time and energy register never going back along seqNo, energy at the end not below the start.
A seqNo may arrive twice only as the same payload: OCPP delivers at least once, a message whose answer was lost
(link dropped, service stopped mid-CALL) is sent again (the CSMS keeps parsed JSON, so equal payloads stand for
identical bytes). Nothing stays queued, every transaction the station reported reached the CSMS, and a message is
in the dead letters (`dead_letters` command) exactly when the CSMS refused its last copy — after at least
MessageAttempts refusals.

One world per example, built in the test body (no pytest fixture, so no function-scoped-fixture health check to
silence). Reproducible (derandomize) and affordable: a dozen short examples and three explicit ones, no shrinking
(a failure prints its steps; add Phase.shrink locally to shrink it). kill -9 of real processes:
tests/e2e/test_charging_session.py.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from services.ocpp_client.meter_values.sampling import parse_utc
from sim.csms import MessageRecord
from sim.csms.transactions import transactions_from
from tests.services.ocpp_client.tx_chaos import ChaosWorld, Step
from tests.services.ocpp_client.tx_world import SEEDS, energy_of

MESSAGE_ATTEMPTS = 3
# A refusal phase of a few steps may or may not outlast 3 attempts 1 s and 2 s apart: both outcomes occur.
PROPERTY_SEEDS = SEEDS.replace('"OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]" = 0',
                               '"OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]" = 1')
assert f'"OCPPCommCtrlr.MessageAttempts[TransactionEvent]" = {MESSAGE_ATTEMPTS}' in PROPERTY_SEEDS

FIRST_STEP = ("session", 1)  # every example starts with EVSE 1 charging (or being authorized offline)
EVSE = st.sampled_from([1, 1, 2])
WORLD_STEP = st.one_of(
    st.tuples(st.sampled_from(["plug", "swipe", "unplug", "ev_pause", "ev_resume", "session", "session"]), EVSE),
    st.tuples(st.just("wait"), st.integers(2, 5)))  # meter samples of EVSE 1, 0.25 s apart
LINK_STEP = st.sampled_from([("disconnect",), ("connect",), ("callerror_on",), ("callerror_off",)])
RESTART_STEP = st.tuples(st.just("restart"), st.sampled_from(["ocpp", "evse_io", "meter"]),
                         st.none() | st.tuples(st.sampled_from(["plug", "unplug", "swipe"]), EVSE))
STEPS = st.lists(st.one_of(WORLD_STEP, WORLD_STEP, LINK_STEP, RESTART_STEP), min_size=3, max_size=7)  # + FIRST


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          phases=(Phase.explicit, Phase.generate), print_blob=False)
@given(steps=STEPS)
@example(steps=[("callerror_on",), ("wait", 5), ("wait", 5), ("wait", 5), ("wait", 5), ("callerror_off",)])
@example(steps=[("disconnect",), ("wait", 5), ("unplug", 1), ("restart", "ocpp", ("session", 2)), ("connect",)])
@example(steps=[("callerror_on",), ("restart", "evse_io", ("ev_pause", 1)), ("disconnect",), ("ev_resume", 1),
                ("restart", "ocpp", None), ("callerror_off",), ("wait", 3)])
def test_any_interleaving_leaves_every_transaction_whole_at_the_csms(steps: list[Step]) -> None:
    directory = Path(tempfile.mkdtemp(prefix="reon-prop-"))
    try:
        asyncio.run(_example(directory, steps))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def _example(directory: Path, steps: list[Step]) -> None:
    world = ChaosWorld(directory, PROPERTY_SEEDS)
    try:
        await world.start()
        for step in [FIRST_STEP, *steps]:
            await world.step(step)
        drained = await world.settle()
        dead = await world.probe.call("ocpp", "dead_letters", {"limit": 1000})
        records = world.csms.messages(world.station_id, "TransactionEvent")
    finally:
        await world.close()
    assert drained.body["dead_letters"] == dead["count"] == len(dead["dead_letters"])
    calls = [r for r in records if r.kind == "call"]
    received = {r.payload["transactionInfo"]["transactionId"] for r in calls}
    assert world.reported <= received, f"reported by the station, never sent: {world.reported - received}"
    _assert_transactions_whole(calls)
    _assert_dead_letters_are_the_refused(calls, world.refused, dead["dead_letters"])


def _assert_transactions_whole(calls: list[MessageRecord]) -> None:
    """Per transaction: seqNo 0..n received in order, copies of one seqNo identical, Started first, Ended last,
    one EVSE; along seqNo neither the time nor the energy register goes back, and the energy at the end is not
    below the energy at the start."""
    by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in calls:
        by_tx[record.payload["transactionInfo"]["transactionId"]].append(record.payload)
    for transaction_id, events in by_tx.items():
        received = [e["seqNo"] for e in events]
        assert received == sorted(received), (transaction_id, received)
        copies: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            copies[event["seqNo"]].append(event)
        assert sorted(copies) == list(range(len(copies))), (transaction_id, received)
        assert all(c == same[0] for same in copies.values() for c in same), f"{transaction_id}: two payloads, one seqNo"
        ordered = [copies[n][0] for n in sorted(copies)]
        types = [e["eventType"] for e in ordered]
        assert types[0] == "Started" and types[-1] == "Ended", (transaction_id, types)
        assert set(types[1:-1]) <= {"Updated"}, (transaction_id, types)
        assert len({e["evse"]["id"] for e in events if "evse" in e}) == 1, transaction_id
        times = [parse_utc(e["timestamp"]) for e in ordered]
        assert times == sorted(times), (transaction_id, [(e["seqNo"], e["triggerReason"], e["timestamp"])
                                                         for e in ordered])
        energy = [wh for e in ordered for _, wh in energy_of(e)]
        assert energy == sorted(energy), (transaction_id, energy)
    for tx in transactions_from(calls):
        if tx["energy_start_wh"] is not None:
            assert tx["energy_end_wh"] >= tx["energy_start_wh"], tx


def _assert_dead_letters_are_the_refused(calls: list[MessageRecord], refused: list[range],
                                         dead_letters: list[dict[str, Any]]) -> None:
    """A TransactionEvent is a dead letter exactly when the CSMS refused the last copy it received; then it
    refused at least MessageAttempts copies."""
    copies: dict[tuple[str, int], list[bool]] = defaultdict(list)  # (transaction, seqNo) -> refused, per copy
    for record in calls:
        key = (record.payload["transactionInfo"]["transactionId"], record.payload["seqNo"])
        copies[key].append(any(record.index in window for window in refused))
    dead = {}
    for letter in dead_letters:
        assert letter["action"] == "TransactionEvent", letter  # nothing else is refused or can die here
        key = (letter["payload"]["transactionInfo"]["transactionId"], letter["payload"]["seqNo"])
        assert key not in dead, f"{key} died twice"
        dead[key] = letter
    for key, refusals in copies.items():
        assert refusals[-1] == (key in dead), (key, refusals, dead.get(key))
    for key, letter in dead.items():
        assert letter["attempts"] == MESSAGE_ATTEMPTS and "CallError" in letter["error"], letter
        assert sum(copies[key]) >= MESSAGE_ATTEMPTS, (key, copies[key])
