"""`reonctl status` on a broker whose cached state is larger than one bus frame (issue 11 item 1): it reads the
snapshot page by page, and the broker stays up."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from bus.client import BusClient
from bus.harness import BrokerThread, Probe
from reonctl import live
from reonctl.main import cli
from station.config import load_config
from tests.stations import write_station

BIG = "y" * 200_000


async def test_status_pages_through_a_cache_of_two_200kB_states_and_the_broker_survives(tmp_path) -> None:
    config = load_config(write_station(tmp_path))
    broker = BrokerThread(config.paths.run_dir, max_topic_bytes=256 * 1024).start()
    pub = BusClient(config.paths.run_dir, "big", strict=False)
    probe = Probe(config.paths.run_dir)
    try:
        await pub.start()
        await probe.start()
        await pub.publish_state("one", {"blob": BIG})
        await pub.publish_state("two", {"blob": BIG})
        await probe.wait_for("big.state.two", timeout=5)
        result = await asyncio.to_thread(CliRunner().invoke, cli, ["--config", str(config.path), "status", "--json"])
        assert json.loads(result.output)["station"]["id"]  # the whole document, though nothing else runs
        cache = await asyncio.to_thread(live.snapshot, config, "big.")
        assert cache is not None and set(cache) == {"big.state.one", "big.state.two"}
        assert cache["big.state.two"]["body"] == {"blob": BIG}
        assert broker.thread.is_alive()
        assert (await probe.call("bus", "snapshot", {"prefix": "bus."}))["state"]  # and it still answers
    finally:
        await pub.close()
        await probe.close()
        broker.stop()
