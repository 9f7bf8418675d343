"""A whole-station power loss in the middle of a charging session: kill -9 of supervisord and every program at
once, then a fresh `reonctl up`. The CSMS (here in the test process, so it outlives the station) must still get
the transaction whole: one Started, one Ended, seqNo without gaps, energy at the end ≥ at the start."""

import asyncio
import os
import signal

from sim.csms import DevCsms
from station.config import load_config
from tests.e2e.helpers import poll, reonctl, status, wait_status
from tests.stations import free_port, write_station

CARD = "04A1B2C3"


def ok(config, *args: str) -> str:
    result = reonctl(config, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def power_loss(config) -> None:
    """Every station process dies at the same instant, supervisord first so that nothing is restarted."""
    doc = status(config)
    supervisord = int((load_config(config).paths.run_dir / "supervisord.pid").read_text())
    pids = [supervisord] + [s["pid"] for s in doc["services"].values() if s["pid"]]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


async def test_transaction_reaches_the_csms_whole_after_a_power_loss(tmp_path) -> None:
    config = write_station(tmp_path, sim=True)
    station = load_config(config)
    csms = DevCsms(password=station.csms.password, port=free_port())
    await csms.start()
    config.write_text(config.read_text().replace(f'url = "{station.csms.url}"', f'url = "{csms.url}"'))
    try:
        up = await asyncio.to_thread(reonctl, config, "up", "--timeout", "60")
        assert up.returncode == 0, up.stdout + up.stderr
        await asyncio.to_thread(wait_status, config, lambda d: d["csms"]["registration"] == "Accepted")
        await asyncio.to_thread(ok, config, "sim", "plug", "1")
        await asyncio.to_thread(ok, config, "sim", "swipe", "1", CARD)
        await asyncio.to_thread(wait_status, config, lambda d: d["evses"]["1"]["charging_state"] == "Charging"
                                and (d["evses"]["1"]["energy_wh"] or 0) > 0)

        await asyncio.to_thread(power_loss, config)
        up = await asyncio.to_thread(reonctl, config, "up", "--timeout", "60")
        assert up.returncode == 0, up.stdout + up.stderr

        def whole(txs: list[dict]) -> bool:
            return len(txs) == 1 and txs[0]["ended_at"] is not None

        found = await asyncio.to_thread(poll, lambda: csms.transactions(station.station.id), whole,
                                        timeout=60, what="the CSMS's transactions")
        tx = found[0]
        assert tx["events"][0].startswith("Started/") and tx["events"][-1].startswith("Ended/")
        assert tx["missing_seq_nos"] == []
        assert sorted(set(tx["seq_nos"])) == list(range(max(tx["seq_nos"]) + 1))
        assert tx["energy_end_wh"] >= tx["energy_start_wh"]
        # same OS boot here, so the restarted world has no EV: the station sees it gone (after a real reboot the
        # new boot id makes it PowerLoss; tests/services/ocpp_client/transactions/test_tx_restart.py covers that rule)
        assert tx["stopped_reason"] in ("EVDisconnected", "PowerLoss")
    finally:
        await asyncio.to_thread(reonctl, config, "down")
        await csms.stop()
