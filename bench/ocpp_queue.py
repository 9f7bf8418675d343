"""Outbound queue benchmark (issue 6): an offline backlog drained after reconnect, the durable commit cost per
message, and the time from a CP state change on the wire to its TransactionEvent at the CSMS.

Every part runs reon-bus (the broker) and the development CSMS (sim.csms.DevCsms, log level WARNING) in processes
of their own; the CSMS stamps each frame with time.time() on receipt and answers the bench over a pipe.
1+2. The whole ocpp service (OcppService: gate, offline rewrite, on_delivered into the auth cache, state
     publishing, INFO log lines written to a file as under supervisord) runs in the bench process, beside a
     stand-in for evse_io. `disconnect` over the bus; N TransactionEvents (transactions of one Started, Updated
     with 8 sampled values, one Ended) go through `service.queue.put`, each committed to ocpp.db (WAL,
     synchronous=FULL) and timed; `connect`; the time until the CSMS has every one of them.
3. reon-evse-io, reon-meter and reon-ocpp each in a process of their own, as under supervisord; the simulated
   hardware (sim.world.World: MCU board, RFID reader, Modbus meter on ptys) in the bench process. Cycles of
   plug → swipe → Charging → EV pause → unplug; latency from the board's CLOCK_MONOTONIC stamp of CP A→B and B→A
   on the wire to the TransactionEvent Started / Ended received by the CSMS (monotonic → wall clock in the bench).
Prints figures (not a test).

    python bench/ocpp_queue.py [--events 10000] [--cycles 100] [--dwell-s 0.25] [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from typing import Any  # noqa: E402

import psutil  # noqa: E402

from bench.csms_process import AtCsms, CsmsProcess  # noqa: E402
from bench.evse_timing import figures, spawn  # noqa: E402
from bus.harness import Probe, remove_run_dir  # noqa: E402
from bus.runtime import running  # noqa: E402
from services.ocpp_client.link.payload_schema import request_violation  # noqa: E402
from services.ocpp_client.meter_values import sampling as mv  # noqa: E402
from services.ocpp_client.service import OcppService  # noqa: E402
from services.ocpp_client.transactions.event_queue import QUEUE_KIND  # noqa: E402
from services.ocpp_client.transactions.events import (  # noqa: E402
    ENDED,
    STARTED,
    UPDATED,
    transaction_event,
    with_offline,
)
from sim.mcu_board_state import BoardState  # noqa: E402
from sim.world import World  # noqa: E402
from station.config import StationConfig, load_config  # noqa: E402
from station.logs import setup_logging  # noqa: E402
from tests.services.ocpp_client.service_harness import EvseIoStandIn  # noqa: E402
from tests.stations import write_station  # noqa: E402

TOKEN = {"idToken": "04A1B2C3", "type": "ISO14443"}
EVENTS_PER_TRANSACTION = 100
UPDATED_MEASURANDS = (mv.ENERGY, mv.POWER, mv.CURRENT, mv.VOLTAGE)


@contextlib.asynccontextmanager
async def base(config_path: Path, *, bare: bool = False) -> AsyncIterator[tuple[StationConfig, Probe, CsmsProcess,
                                                                                Any]]:
    """reon-bus and the CSMS (the development one, or the bare websockets + json one) in their own processes,
    a probe on the bus."""
    config = load_config(config_path)
    broker = spawn("bus.broker", config_path)
    csms = CsmsProcess(config, bare=bare)
    probe = Probe(config.paths.run_dir)
    try:
        await csms.start()
        await probe.start(wait_s=10)
        yield config, probe, csms, broker
    finally:
        await probe.close()
        csms.stop()
        broker.terminate()
        broker.wait(5)
        remove_run_dir(config.paths.run_dir)


async def booted(probe: Probe) -> None:
    await probe.wait_for("ocpp.state.csms", lambda e: e.body["registration"] == "Accepted"
                         and e.body["queue_depth"] == 0, 30)


def cpu_s(process: Any) -> float:
    times = psutil.Process(process.pid).cpu_times()
    return times.user + times.system


# -- parts 1 and 2: the offline backlog ---------------------------------------------------------------------
def sample(energy_wh: float, at: float) -> dict[str, Any]:
    """A meter sample as reon-meter publishes it (3 phases at 16 A)."""
    return {"energy_import_wh": energy_wh, "power_w": 11040.0, "current_a_per_phase": [16.0, 16.0, 16.0],
            "voltage_v_per_phase": [230.1, 229.8, 230.4], "read_at": at}


def backlog(n_events: int) -> list[dict[str, Any]]:
    """TransactionEvent payloads: transactions of Started, Updated (Authorized with the token, Charging,
    MeterValuePeriodic with 8 sampled values), Ended; each passes our 2.0.1 schema check."""
    events: list[dict[str, Any]] = []
    at = time.time() - n_events * 60.0
    while len(events) < n_events:
        tx = str(uuid.uuid4())
        energy_wh = 1_000_000.0
        length = min(EVENTS_PER_TRANSACTION, n_events - len(events))
        for seq in range(length):
            at += 60.0
            energy_wh += 184.0
            common: dict[str, Any] = {"at": at, "seq_no": seq, "transaction_id": tx}
            if seq == 0:
                event = transaction_event(event_type=STARTED, trigger_reason="CablePluggedIn", evse_id=1,
                                          connector_id=1, charging_state="EVConnected", meter_values=[
                                              mv.meter_value(sample(energy_wh, at), [mv.ENERGY],
                                                             mv.TRANSACTION_BEGIN)], **common)
            elif seq == length - 1:
                event = transaction_event(event_type=ENDED, trigger_reason="EVCommunicationLost",
                                          stopped_reason="EVDisconnected", charging_state="Idle",
                                          meter_values=[mv.meter_value(sample(energy_wh, at), [mv.ENERGY],
                                                                       mv.TRANSACTION_END)], **common)
            elif seq == 1:
                event = transaction_event(event_type=UPDATED, trigger_reason="Authorized", id_token=TOKEN,
                                          charging_state="EVConnected", **common)
            elif seq == 2:
                event = transaction_event(event_type=UPDATED, trigger_reason="ChargingStateChanged",
                                          charging_state="Charging", **common)
            else:
                event = transaction_event(event_type=UPDATED, trigger_reason="MeterValuePeriodic", meter_values=[
                    mv.meter_value(sample(energy_wh, at), UPDATED_MEASURANDS, mv.SAMPLE_PERIODIC)], **common)
            violation = request_violation("TransactionEvent", event)
            assert violation is None, violation
            events.append(event)
    return events


PLAIN_CALLS = 1000


async def offline_backlog(config_path: Path, n_events: int, bare: bool) -> None:
    events = backlog(n_events)
    async with base(config_path, bare=bare) as (config, probe, csms, broker):
        stand_in = await EvseIoStandIn(config).start()
        try:
            async with running(OcppService, config) as service:
                assert isinstance(service, OcppService)
                await booted(probe)
                await probe.call("ocpp", "disconnect", {})
                assert not service.gate.connected
                queue = service.queue
                put_s, depth_before = [], queue.depth
                for event in events:
                    event_type = event["eventType"]
                    meta = {"transaction_id": event["transactionInfo"]["transactionId"], "seq_no": event["seqNo"],
                            "event_type": event_type}
                    started = time.perf_counter()
                    await queue.put("TransactionEvent", event, kind=QUEUE_KIND, meta=meta,
                                    droppable=event_type == UPDATED)
                    put_s.append(time.perf_counter() - started)
                    await asyncio.sleep(0)  # the service's other tasks run between two puts, as in life
                queued = queue.depth - depth_before
                since = await csms.mark()
                cpu = (time.process_time(), csms.cpu_s(), cpu_s(broker))
                connect_at = time.time()
                await probe.call("ocpp", "connect", {})
                received, drained = await asyncio.gather(
                    csms.events(since, n_events, timeout_s=600), queue.drained(600))
                drained_at = time.time()
                station_cpu = time.process_time() - cpu[0]
                csms_cpu, broker_cpu = csms.cpu_s() - cpu[1], cpu_s(broker) - cpu[2]
                dead = queue.dead_letter_count
                meter_values = {"evseId": 1, "meterValue": [mv.meter_value(sample(1000.0, time.time()),
                                                                          UPDATED_MEASURANDS, mv.SAMPLE_PERIODIC)]}
                plain_cpu = time.process_time()
                for _ in range(PLAIN_CALLS):  # the same station, plain MeterValues CALLs, not queued
                    await service.gate.rpc.call("MeterValues", meter_values)
                plain_cpu = (time.process_time() - plain_cpu) / PLAIN_CALLS
                direct_cpu = await direct_events(service, events[:PLAIN_CALLS]) if bare else None
        finally:
            await stand_in.close()
    counterpart = "bare websockets + json CSMS (answers only)" if bare else "development CSMS (sim.csms)"
    print(f"1{'a' if bare else 'b'}. against the {counterpart}:")
    report_backlog(config, events, put_s, queued, dead, received, drained, connect_at, drained_at,
                   (station_cpu, csms_cpu, broker_cpu), plain_cpu, direct_cpu)


async def direct_events(service: OcppService, events: list[dict[str, Any]]) -> float:
    """Station CPU seconds per TransactionEvent CALL of the backlog's payloads sent directly, not queued (what the
    drain costs beyond the queue's own work)."""
    payloads = [with_offline(event, True) for event in events]
    cpu = time.process_time()
    for payload in payloads:
        await service.gate.rpc.call("TransactionEvent", payload)
    return (time.process_time() - cpu) / len(payloads)


def report_backlog(config: StationConfig, events: list[dict[str, Any]], put_s: list[float], queued: int, dead: int,
                   received: list[AtCsms], drained: bool, connect_at: float, drained_at: float,
                   cpu: tuple[float, float, float], plain_cpu_s: float, direct_cpu_s: float | None) -> None:
    n = len(events)
    sent = [(e["transactionInfo"]["transactionId"], e["seqNo"]) for e in events]
    got = [(r.transaction_id, r.seq_no) for r in received]
    first, last = received[0].time, received[-1].time
    print(f"   offline backlog: {n:,} TransactionEvents ({n // EVENTS_PER_TRANSACTION} transactions of "
          f"{EVENTS_PER_TRANSACTION}: Started, Updated ×{EVENTS_PER_TRANSACTION - 2} with 8 sampled values in "
          "most, Ended) queued while the CSMS link was held down")
    print("   the whole ocpp service in the bench process; reon-bus and the CSMS each in their own"
          " process")
    print(f"   queued {queued:,}, dead letters {dead}, received by the CSMS {len(received):,}: "
          f"{'in queue order' if got == sent else 'OUT OF ORDER'}, "
          f"{'every one offline: true' if all(r.offline for r in received) else 'offline flag MISSING'}, "
          f"queue {'empty' if drained else 'NOT EMPTY'} on the station")
    print(f"   delivery rate: {(n - 1) / (last - first):,.0f} events/s (first → last at the CSMS, "
          f"{last - first:.2f} s; goal ≥ 1,000 events/s against the bare CSMS)")
    print(f"   drain: `connect` → first at the CSMS {first - connect_at:.2f} s; → last at the CSMS "
          f"{last - connect_at:.2f} s; → queue empty on the station {drained_at - connect_at:.2f} s")
    station_cpu, csms_cpu, broker_cpu = cpu
    print(f"   CPU per event over the drain: station (bench process) {station_cpu / n * 1e6:,.0f} µs, "
          f"CSMS {csms_cpu / n * 1e6:,.0f} µs, broker {broker_cpu / n * 1e6:,.0f} µs")
    print(f"   station CPU per plain MeterValues CALL (same station, {PLAIN_CALLS} calls): {plain_cpu_s * 1e6:,.0f} µs;"
          f" drained event / plain CALL: {station_cpu / n / plain_cpu_s:.2f}× (goal ≤ 1.5×)")
    if direct_cpu_s is not None:
        print(f"   station CPU per TransactionEvent CALL of the same payloads sent directly (not queued): "
              f"{direct_cpu_s * 1e6:,.0f} µs: the queue's own work {(station_cpu / n - direct_cpu_s) * 1e6:,.0f} µs"
              " per drained event")
    disk = data_disk(config.paths.data_dir)
    tail = len(put_s) // 10
    print(f"   durable commit per put (BEGIN IMMEDIATE … COMMIT on ocpp.db, WAL, synchronous=FULL; {disk}), "
          f"n={len(put_s):,}:")
    print(f"   {figures('all puts', put_s)}")
    print(f"   {figures(f'first {tail:,} (depth < {tail:,})', put_s[:tail])}")
    print(f"   {figures(f'last {tail:,} (depth ≥ {len(put_s) - tail:,})', put_s[-tail:])}")


def data_disk(path: Path) -> str:
    """The file system the data dir is on, e.g. 'ext4 on /dev/vda'."""
    resolved = str(path.resolve())
    parts = [p for p in psutil.disk_partitions(all=True) if resolved.startswith(p.mountpoint)]
    best = max(parts, key=lambda p: len(p.mountpoint), default=None)
    return f"{best.fstype} on {best.device}" if best else "unknown file system"


# -- part 3: CP state change on the wire → TransactionEvent at the CSMS --------------------------------------
async def cp_to_csms(config_path: Path, n: int, dwell_s: float) -> None:
    plug_s: list[float] = []
    unplug_s: list[float] = []
    triggers: set[str] = set()
    async with base(config_path) as (config, probe, csms, _broker):
        world = World(config)
        await world.start()
        services = [spawn(f"services.{name}.service", config_path) for name in ("evse_io", "meter", "ocpp_client")]
        started_at = time.monotonic()
        try:
            await probe.wait_for("evse_io.state.evse.1", lambda e: e.body["link_up"], 30)
            await probe.wait_for("meter.state.meter.1", lambda e: e.body["sample"] is not None, 30)
            await booted(probe)
            evse = world.evses[1]
            for cycle in range(n):
                await asyncio.sleep(dwell_s)  # the next driver comes later than at once
                since = await csms.mark()
                evse.plug()
                plug_s.append(await _latency(csms, since, "Started", evse.board.state, triggers))
                evse.swipe(f"04B1{cycle:04X}")  # a new card each time: evse_io drops a repeat within 2 s
                await csms.events(since, charging_state="Charging")
                since = await csms.mark()
                evse.ev_pause()
                await csms.events(since, charging_state="SuspendedEV")
                await asyncio.sleep(dwell_s)
                since = await csms.mark()
                evse.unplug()
                unplug_s.append(await _latency(csms, since, "Ended", evse.board.state, triggers))
            await asyncio.sleep(dwell_s)  # the last StatusNotification (Available) answered before reon-ocpp stops
        finally:
            elapsed = time.monotonic() - started_at
            for process in reversed(services):  # reon-ocpp first: the CSMS is not told of the others stopping
                process.terminate()
                process.wait(5)
            await world.stop()
    print(f"2. CP state change on the MCU wire → TransactionEvent received by the CSMS, {n} cycles of plug → swipe"
          f" → Charging → EV pause → unplug in {elapsed:.1f} s; reon-evse-io, reon-meter, reon-ocpp, reon-bus and"
          " the CSMS each in their own process, the simulated hardware (ptys) in the bench process")
    print(f"   {figures('CP A→B → TransactionEvent Started', plug_s)}")
    print(f"   {figures('CP B→A → TransactionEvent Ended', unplug_s)}")
    print(f"   (event/triggerReason seen: {', '.join(sorted(triggers))}; default TxStartPoint/TxStopPoint "
          "EVConnected,Authorized)")


async def _latency(csms: CsmsProcess, since: int, event_type: str, board: BoardState, triggers: set[str]) -> float:
    """Seconds from the board's monotonic stamp of its last CP state change on the wire to the CSMS's receipt of
    the next TransactionEvent of that type (its time.time(), on this machine's one clock)."""
    reported_at = board.reported_at["cp_state"]
    wall_offset_s = time.time() - time.monotonic()
    event = (await csms.events(since, event_type=event_type))[0]
    triggers.add(f"{event.event_type}/{event.trigger_reason}")
    return event.time - (reported_at + wall_offset_s)


def station_file(directory: Path) -> Path:
    """A one-EVSE sim station without a modem (no reon-modem process; BootNotification without a modem field)."""
    directory.mkdir()
    path = write_station(directory, sim=True, evses=1)
    path.write_text(path.read_text().replace("[modem]\nenabled = true", "[modem]\nenabled = false"))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="TransactionEvents in the backlog")
    parser.add_argument("--cycles", type=int, default=100, help="plug/charge/unplug cycles (default 100)")
    parser.add_argument("--dwell-s", type=float, default=0.25, help="pause before each plug and unplug (0.25 s)")
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the bench runs, in seconds")
    args = parser.parse_args()
    if args.quick:
        args.events, args.cycles, args.dwell_s = 200, 2, 0.05
    with tempfile.TemporaryDirectory(prefix="reon-bench-") as tmp:
        setup_logging("ocpp")  # INFO, as a service process logs; into a file, not onto the figures
        log_file = open(Path(tmp) / "bench.log", "w")  # noqa: SIM115
        logging.getLogger().handlers[0].setStream(log_file)
        try:
            asyncio.run(offline_backlog(station_file(Path(tmp) / "bare"), args.events, bare=True))
            asyncio.run(offline_backlog(station_file(Path(tmp) / "backlog"), args.events, bare=False))
            asyncio.run(cp_to_csms(station_file(Path(tmp) / "cycles"), args.cycles, args.dwell_s))
        finally:
            log_file.close()


if __name__ == "__main__":
    main()
