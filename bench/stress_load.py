"""The loads of `bench/evse_timing.py --stress`, each in a spawned process of its own (not a bench by itself):

- `FirmwareLoad`: sim/file_server.py over HTTPS in one process, a firmware image downloaded again and again by
  services/firmware/download.py (streamed to disk, hashed on the way, as the firmware service runs it) in another;
- `DrainLoad`: the whole ocpp service (OcppService) in a process, fed the TransactionEvent backlog of
  bench/ocpp_queue.py while its CSMS link is held down, then `go`: it drains to the CSMS (a process too).
  It has a bus of its own (its own reon-bus, an evse_io stand-in): on the timed station's bus the bench's
  plug cycles would become live transactions of their own, and the queue would never be empty;
- `BusLoad`: a bus client that publishes 200-byte events at a fixed rate and subscribes to them, so every
  message goes publisher → broker → subscriber.
Each load runs at the priority its program has on a station (station/programs.py: the downloader as reon-firmware,
the drain as reon-ocpp, the bus client as a normal service); the file server stands for a remote machine (nice
19). `priorities=False` runs everything at normal priority, for comparison.
The spawned processes re-import this module only: keep its work inside functions.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from station.scheduling import NORMAL, REMOTE, Scheduling, apply  # noqa: E402

CTX = mp.get_context("spawn")
PAYLOAD = "x" * 200


def _quiet() -> None:
    """A load process prints nothing onto the bench's figures."""
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115


# -- (a) firmware download -----------------------------------------------------------------------------------
def _file_server(files: str, pki_dir: str, ready: Any, stop: Any, scheduling: Scheduling) -> None:
    apply(scheduling)
    from sim.file_server import FileServer
    from tests.pki import make_pki, server_tls_context

    Path(pki_dir).mkdir(exist_ok=True)
    server = FileServer(Path(files), tls=server_tls_context(make_pki(Path(pki_dir)))).start()
    ready.put(server.port)
    stop.wait()
    server.stop()


def _downloader(url: str, ca: str, dest: str, max_bytes: int, stop: Any, counts: Any,
                scheduling: Scheduling) -> None:
    apply(scheduling)
    from services.firmware.download import Download, DownloadError

    while not stop.is_set():
        for suffix in ("", ".part", ".part.json"):
            Path(dest + suffix).unlink(missing_ok=True)
        try:
            Download(url, Path(dest), max_bytes=max_bytes, ca_file=ca).run()
        except DownloadError:
            if stop.is_set():  # the server stopped under us
                return
            raise
        with counts.get_lock():
            counts.value += 1


class FirmwareLoad:
    """A `size_mb` image downloaded over HTTPS on loopback, over and over, until `stop()`."""

    def __init__(self, work: Path, size_mb: int, priorities: bool = True) -> None:
        self.work = work
        self.priorities = priorities
        (work / "files").mkdir(parents=True)
        with open(work / "files" / "image.raucb", "wb") as f:
            for _ in range(size_mb):
                f.write(os.urandom(1024 * 1024))
        self.size_mb = size_mb
        self.stop_event = CTX.Event()
        self.downloads = CTX.Value("i", 0)
        self.processes: list[Any] = []

    def start(self) -> FirmwareLoad:
        from station.programs import declared_scheduling

        firmware = declared_scheduling("firmware") if self.priorities else NORMAL
        ports = CTX.Queue()
        server = CTX.Process(target=_file_server, daemon=True,
                             args=(str(self.work / "files"), str(self.work / "pki"), ports, self.stop_event,
                                   REMOTE if self.priorities else NORMAL))
        server.start()
        port = ports.get(timeout=30)
        url = f"https://127.0.0.1:{port}/image.raucb"
        downloader = CTX.Process(target=_downloader, daemon=True, args=(
            url, str(self.work / "pki" / "ca.pem"), str(self.work / "image.raucb"), self.size_mb * 2 << 20,
            self.stop_event, self.downloads, firmware))
        downloader.start()
        self.processes = [server, downloader]
        return self

    def stop(self) -> int:
        """Stop; the number of whole downloads done."""
        self.stop_event.set()
        for process in self.processes:
            process.join(30)
            if process.is_alive():
                process.terminate()
                process.join(5)
        return self.downloads.value


# -- (b) outbound queue drain --------------------------------------------------------------------------------
def _drain(config_path: str, n_events: int, filled: Any, go: Any, out: Any, log_path: str) -> None:
    import logging

    from station.logs import setup_logging

    setup_logging("ocpp")
    logging.getLogger().handlers[0].setStream(open(log_path, "w"))  # noqa: SIM115
    asyncio.run(_drain_async(config_path, n_events, filled, go, out))


async def _drain_async(config_path: str, n_events: int, filled: Any, go: Any, out: Any) -> None:
    from bench.evse_timing import spawn
    from bench.ocpp_queue import backlog
    from bus.harness import Probe, remove_run_dir
    from bus.runtime import running
    from services.ocpp_client.service import OcppService
    from services.ocpp_client.transactions.event_queue import QUEUE_KIND
    from station.config import load_config
    from station.programs import scheduling_of
    from tests.services.ocpp_client.service_harness import EvseIoStandIn

    config = load_config(Path(config_path))
    apply(scheduling_of("ocpp", config))  # the service in this process, as reon-ocpp runs it
    events = backlog(n_events)
    broker = spawn("bus.broker", Path(config_path))
    probe = Probe(config.paths.run_dir)
    try:
        await probe.start(wait_s=10)
        stand_in = await EvseIoStandIn(config).start()
        async with running(OcppService, config) as service:
            assert isinstance(service, OcppService)
            await probe.wait_for("ocpp.state.csms", lambda e: e.body["registration"] == "Accepted"
                                 and e.body["queue_depth"] == 0, 60)
            await probe.call("ocpp", "disconnect", {})
            for event in events:
                meta = {"transaction_id": event["transactionInfo"]["transactionId"], "seq_no": event["seqNo"],
                        "event_type": event["eventType"]}
                await service.queue.put("TransactionEvent", event, kind=QUEUE_KIND, meta=meta,
                                        droppable=event["eventType"] == "Updated")
                await asyncio.sleep(0)  # the service's other tasks run between two puts, as in life
            filled.set()
            await asyncio.get_running_loop().run_in_executor(None, go.wait)
            started = time.monotonic()
            await probe.call("ocpp", "connect", {})
            drained = await service.queue.drained(600)
            out.put({"drained": drained, "elapsed_s": time.monotonic() - started})
        await stand_in.close()
    finally:
        await probe.close()
        broker.terminate()
        broker.wait(5)
        remove_run_dir(config.paths.run_dir)


class DrainLoad:
    """reon-ocpp's service with `n_events` TransactionEvents queued offline; `go()` connects and drains."""

    def __init__(self, config_path: Path, n_events: int) -> None:
        self.filled, self.go_event, self.out = CTX.Event(), CTX.Event(), CTX.Queue()
        self.process = CTX.Process(target=_drain, daemon=True, args=(
            str(config_path), n_events, self.filled, self.go_event, self.out,
            str(config_path.parent / "drain.log")))
        self.result: dict[str, Any] | None = None

    def start(self) -> DrainLoad:
        self.process.start()
        return self

    async def wait_filled(self, timeout_s: float = 300) -> None:
        if not await asyncio.to_thread(self.filled.wait, timeout_s):
            raise RuntimeError("the drain process did not queue its backlog in time")

    def go(self) -> None:
        self.go_event.set()

    def done(self) -> bool:
        if self.result is None and not self.out.empty():
            self.result = self.out.get()
        return self.result is not None

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


# -- (c) bus traffic -----------------------------------------------------------------------------------------
def _bus_load(run_dir: str, rate: int, stop: Any, counts: Any) -> None:
    apply(NORMAL)  # a service like any other (not the bench process's real-time policy)
    _quiet()
    asyncio.run(_bus_load_async(run_dir, rate, stop, counts))


async def _bus_load_async(run_dir: str, rate: int, stop: Any, counts: Any) -> None:
    from bus.client import BusClient

    client = BusClient(run_dir, "benchload", strict=False)
    await client.start()
    sub = client.subscribe("benchload.evt.")
    received = 0

    async def count() -> None:
        nonlocal received
        async for _ in sub:
            received += 1

    counter = asyncio.create_task(count())
    sent, t0 = 0, time.monotonic()
    while not stop.is_set():
        for _ in range(100):
            sent += 1
            await client.publish_event("load", {"n": sent, "p": PAYLOAD})
            await asyncio.sleep(max(0.0, sent / rate - (time.monotonic() - t0)))
    await asyncio.sleep(0.2)
    counter.cancel()
    counts[0], counts[1], counts[2] = sent, received, time.monotonic() - t0
    await client.close()


class BusLoad:
    """`rate` events/s of 200 bytes through the broker to one subscriber, until `stop()`."""

    def __init__(self, run_dir: Path, rate: int) -> None:
        self.stop_event = CTX.Event()
        self.counts = CTX.Array("d", 3)
        self.rate = rate
        self.process = CTX.Process(target=_bus_load, daemon=True,
                                   args=(str(run_dir), rate, self.stop_event, self.counts))

    def start(self) -> BusLoad:
        self.process.start()
        return self

    def stop(self) -> tuple[int, int, float]:
        """Stop; (sent, received, seconds it published)."""
        self.stop_event.set()
        self.process.join(10)
        return int(self.counts[0]), int(self.counts[1]), self.counts[2]


# -- the anchor: the machine's own pty delivery under the same load -----------------------------------------
def _pty_round_trips(scheduling: Scheduling, period_s: float, ready: Any, stop: Any, out: Any) -> None:
    """One byte out through a raw pty and echoed back by a second thread, every `period_s`, until `stop`."""
    import pty
    import threading
    import tty

    apply(scheduling)
    master, slave = pty.openpty()
    tty.setraw(slave)

    def echo() -> None:
        while (byte := os.read(slave, 1)) != b"q":
            os.write(slave, byte)

    echoing = threading.Thread(target=echo, daemon=True)
    echoing.start()
    times: list[float] = []
    ready.set()
    while not stop.is_set():
        t0 = time.monotonic()
        os.write(master, b"x")
        os.read(master, 1)
        times.append(time.monotonic() - t0)
        time.sleep(period_s)
    os.write(master, b"q")
    echoing.join(5)
    out.put(times)


class PtyRoundTrips:
    """A process at the given priority timing 1-byte round trips through a pty (two threads, no REON code):
    the floor the serial path of any program has on this machine under the same load."""

    def __init__(self, scheduling: Scheduling, period_s: float = 0.005) -> None:
        self.ready, self.stop_event, self.out = CTX.Event(), CTX.Event(), CTX.Queue()
        self.process = CTX.Process(target=_pty_round_trips, daemon=True,
                                   args=(scheduling, period_s, self.ready, self.stop_event, self.out))

    def start(self) -> PtyRoundTrips:
        """Start; returns once it is timing."""
        self.process.start()
        if not self.ready.wait(30):
            raise RuntimeError("the pty anchor did not start")
        return self

    def stop(self) -> list[float]:
        """Stop; the round trips in seconds."""
        self.stop_event.set()
        times = self.out.get(timeout=10)
        self.process.join(5)
        return times
