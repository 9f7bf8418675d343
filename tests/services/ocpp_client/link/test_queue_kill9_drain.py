"""kill -9 in the middle of a drain loses nothing and breaks no order: the queue process is killed while it
sends, restarted on the same ocpp.db, and the receiver holds every message, in queue order, at least once (a
repeat only of what was in flight or delivered but not yet removed)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
N = 400
CHILD = r"""
import asyncio, os, sys
from pathlib import Path
from services.ocpp_client.link.outbound_queue import OutboundQueue
from services.ocpp_client.store import open_store

data_dir, received, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
out = os.open(received, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

async def send(action, payload):
    os.write(out, b"%d\n" % payload["n"])  # the CSMS has it (a write(2): survives our kill -9)
    return {}

async def main():
    queue = OutboundQueue(open_store(data_dir), send, max_attempts=lambda: 3, attempt_interval_s=lambda: 0)
    if mode == "fill":
        for n in range(int(sys.argv[4])):
            await queue.put("DataTransfer", {"vendorId": "REWATT", "n": n}, kind="tx")
        return
    queue.set_open(True)
    runner = asyncio.create_task(queue.run())
    await queue.drained(60)
    print("drained", flush=True)
    runner.cancel()

asyncio.run(main())
"""


def child(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


async def test_kill9_mid_drain_loses_nothing_and_keeps_order(tmp_path) -> None:
    received = tmp_path / "received.txt"
    assert child(str(tmp_path), str(received), "fill", str(N)).wait(60) == 0
    draining = child(str(tmp_path), str(received), "drain")
    while not received.exists() or received.read_text().count("\n") < N // 3:  # a third sent: kill it
        assert draining.poll() is None, "the drain ended before it could be killed"
        await asyncio.sleep(0.005)
    draining.send_signal(signal.SIGKILL)
    draining.wait(10)
    at_kill = received.read_text().count("\n")
    assert at_kill < N
    again = child(str(tmp_path), str(received), "drain")
    assert again.wait(60) == 0 and b"drained" in again.stdout.read()
    got = [int(line) for line in received.read_text().split()]
    assert sorted(set(got)) == list(range(N)), "every message reached the receiver"
    repeats = len(got) - N
    assert 0 <= repeats <= 2
    highest, in_order = -1, []
    for n in got:  # a repeat can only restart from the message that was in flight
        assert n >= highest - 1, f"{n} came after {highest}: out of order"
        if n > highest:
            in_order.append(n)
            highest = n
    assert in_order == list(range(N))
