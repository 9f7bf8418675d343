"""A charging session on the whole simulated station under supervisord, with kill -9 of a service mid-session:
the development CSMS still sees one transaction, Started..Ended, seqNo without gaps — whichever of ocpp,
evse_io, meter or the broker was killed."""

import json
import os
import signal

import pytest

from tests.e2e.helpers import poll, reonctl, wait_status
from tests.stations import write_station

CARD = "04A1B2C3"
BLOCKED = "0BADCAFE"


def _ok(config, *args: str) -> str:
    result = reonctl(config, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def wait_transactions(config, condition, timeout: float = 30) -> list[dict]:
    """`reonctl csms transactions --json` once condition holds."""
    return poll(lambda: json.loads(_ok(config, "csms", "transactions", "--json")), condition, timeout=timeout,
                what="the CSMS's transactions")


@pytest.mark.parametrize("victim", ["ocpp", "evse_io", "meter", "bus"])
def test_session_survives_kill_9_of_a_service_and_reaches_the_csms_whole(tmp_path, victim: str) -> None:
    config = write_station(tmp_path, sim=True)
    try:
        _ok(config, "up", "--timeout", "60")
        wait_status(config, lambda d: d["csms"]["registration"] == "Accepted"
                    and d["evses"]["1"]["connector_status"] == "Available")
        assert "Blocked" in _ok(config, "csms", "token", BLOCKED, "Blocked")
        _ok(config, "sim", "plug", "1")
        _ok(config, "sim", "swipe", "1", BLOCKED)  # refused: its authorization never reaches a TransactionEvent
        _ok(config, "sim", "swipe", "1", CARD)
        doc = wait_status(config, lambda d: d["evses"]["1"]["charging_state"] == "Charging"
                          and d["evses"]["1"]["transaction_id"] is not None)
        transaction_id = doc["evses"]["1"]["transaction_id"]
        victim_pid = doc["services"][victim]["pid"]

        os.kill(victim_pid, signal.SIGKILL)
        wait_status(config, lambda d: d["services"][victim]["pid"] not in (None, victim_pid)
                    and all(s["alive"] for s in d["services"].values())
                    and d["csms"]["registration"] == "Accepted"
                    and d["evses"]["1"]["transaction_id"] == transaction_id
                    and d["evses"]["1"]["charging_state"] == "Charging")
        _ok(config, "sim", "unplug", "1")

        found = wait_transactions(config, lambda txs: any(tx["ended_at"] for tx in txs))
        assert len(found) == 1
        tx = found[0]
        assert tx["transaction_id"] == transaction_id and tx["id_token"] == CARD
        assert tx["events"][0].startswith("Started/") and tx["events"][-1].startswith("Ended/")
        assert tx["complete"] and tx["missing_seq_nos"] == []
        assert sorted(set(tx["seq_nos"])) == list(range(max(tx["seq_nos"]) + 1))
        assert tx["energy_end_wh"] >= tx["energy_start_wh"]
        assert tx["stopped_reason"] == "EVDisconnected"
        listing = _ok(config, "csms", "transactions")
        assert transaction_id in listing and "ongoing" not in listing
    finally:
        reonctl(config, "down")
