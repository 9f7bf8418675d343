"""The broker's bounds (issue 11 items 1–2): a snapshot larger than a bus frame is paged, never fatal; the
last-value cache keeps to its per-topic limit and total budget, refusals logged once per topic and counted."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.client import BusClient
from bus.harness import BrokerThread, Probe

BIG = "x" * 200_000  # one 200 kB state body: under the 256 kB frame limit, two of them are over it


@pytest.fixture
def roomy_broker(run_dir: Path) -> Iterator[BrokerThread]:
    """A broker whose cache takes 200 kB states, with an 8 MB budget."""
    thread = BrokerThread(run_dir, heartbeat_s=0.2, max_topic_bytes=256 * 1024,
                          cache_budget_bytes=8 * 1024 * 1024).start()
    yield thread
    thread.stop()


async def snapshot_pages(probe: Probe, prefix: str) -> tuple[dict, int]:
    state, pages, after = {}, 0, ""
    while after is not None:
        result = await probe.call("bus", "snapshot", {"prefix": prefix, "after": after}, deadline_s=3)
        state.update(result["state"])
        pages += 1
        after = result["next"]
    return state, pages


async def published_and_processed(probe: Probe, pub: BusClient) -> dict:
    """Publish a small marker after everything else; once it is through, the broker has handled the rest."""
    await pub.publish_state("marker", {"done": True})
    await probe.wait_for(f"{pub.src}.state.marker", timeout=30)
    return (await probe.call("bus", "snapshot", {"prefix": "none."}))["broker"]


async def test_snapshot_of_two_200kB_states_is_paged_and_the_broker_keeps_answering(run_dir, roomy_broker) -> None:
    probe = Probe(run_dir)
    await probe.start()
    pub = BusClient(run_dir, "big", strict=False)
    await pub.start()
    await pub.publish_state("one", {"blob": BIG})
    await pub.publish_state("two", {"blob": BIG})
    await published_and_processed(probe, pub)
    state, pages = await snapshot_pages(probe, "big.")
    assert pages >= 2
    assert state["big.state.one"]["body"] == {"blob": BIG} and state["big.state.two"]["body"] == {"blob": BIG}
    fresh = Probe(run_dir, "fresh")  # the broker is still up, its cache whole
    await fresh.start()
    _, env = await fresh.wait_for("big.state.two", timeout=5)
    assert env.body == {"blob": BIG}
    for client in (fresh, pub, probe):
        await client.close()


async def test_a_state_over_the_per_topic_limit_is_forwarded_not_cached_and_logged_once(
        run_dir, broker, probe, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="bus.broker")
    live = probe.subscribe("big.state.one")
    pub = BusClient(run_dir, "big", strict=False)
    await pub.start()
    await pub.publish_state("one", {"v": 1})  # small: cached
    await pub.publish_state("one", {"blob": BIG})  # over the 64 kB default: forwarded, the old value dropped
    await pub.publish_state("one", {"blob": BIG})
    counters = await published_and_processed(probe, pub)
    bodies = [(await live.get(timeout=5))[1].body for _ in range(3)]
    assert bodies[1:] == [{"blob": BIG}, {"blob": BIG}]
    assert counters["cache_refused"] == 2
    snapshot = await probe.call("bus", "snapshot", {"prefix": "big."})
    assert "big.state.one" not in snapshot["state"], "a late reader must not get the stale value as the latest"
    refusals = [r for r in caplog.records if "not cached" in r.getMessage()]
    assert len(refusals) == 1
    assert (await probe.call("bus", "snapshot", {}))["broker"]["cache_refused"] == 2
    await pub.close()


async def test_a_thousand_200kB_topics_keep_the_cache_within_its_budget(run_dir, roomy_broker) -> None:
    probe = Probe(run_dir)
    await probe.start()
    pub = BusClient(run_dir, "flood", strict=False)
    await pub.start()
    for i in range(1000):
        await pub.publish_state(f"t{i}", {"blob": BIG})
    counters = await published_and_processed(probe, pub)
    assert counters["cache_bytes"] <= 8 * 1024 * 1024
    assert counters["cache_refused"] >= 900  # about 40 fit the budget, the rest are refused (each re-publish too)
    assert counters["cached_topics"] < 60
    state, pages = await snapshot_pages(probe, "flood.")  # and the whole cache still reads, page by page
    assert len(state) > 30 and "flood.state.marker" in state and pages > 1
    await pub.close()
    await probe.close()
