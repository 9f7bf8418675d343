"""Bus benchmark: throughput and latency through reon-bus vs raw pyzmq PUB/SUB vs mosquitto + paho-mqtt.

Each transport runs in the same run: a publisher process, a subscriber process and (for REON and MQTT) the
broker process. Payloads are 200 bytes. Throughput: N messages sent as fast as the publisher can; latency:
1,000 msg/s for 3 s, one-way, CLOCK_MONOTONIC across processes (same machine). Prints figures and ratios.

    python bench/bus.py [--quick]   (--quick: 2,000 messages, 0.5 s of latency, no MQTT: checks it runs)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PAYLOAD = "x" * 200
N_THROUGHPUT = 100_000
RATE = 1000
LAT_SECONDS = 3.0


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


# -- REON bus (real broker, real async BusClient with the full envelope) ------------------------------------
def reon_broker(run_dir: str) -> None:
    from bus.broker import Broker

    Broker(run_dir).run()


def reon_sub(run_dir: str, n: int, mode: str, out: mp.Queue) -> None:
    from bus.client import BusClient

    async def main() -> None:
        client = BusClient(run_dir, "benchsub", strict=False)
        await client.start()
        sub = client.subscribe("benchpub.evt.")
        out.put("ready")
        lat, first, last, count = [], None, 0, 0
        while count < n:
            try:
                _, env = await sub.get(timeout=3)
            except TimeoutError:
                break
            last = time.monotonic_ns()
            first = first or last
            count += 1
            if mode == "lat":
                lat.append((last - env.body["t"]) / 1e6)
        out.put((count, (last - (first or 0)) / 1e9, lat))
        await client.close()

    asyncio.run(main())


def reon_pub(run_dir: str, n: int, mode: str) -> None:
    from bus.client import BusClient

    async def main() -> None:
        client = BusClient(run_dir, "benchpub", strict=False)
        await client.start()
        await asyncio.sleep(0.3)
        t0 = time.monotonic()
        for i in range(n):
            body = {"t": time.monotonic_ns(), "p": PAYLOAD}
            await client.publish_event("x", body)
            if mode == "lat":
                await asyncio.sleep(max(0.0, (i + 1) / RATE - (time.monotonic() - t0)))
        await asyncio.sleep(0.5)
        await client.close()

    asyncio.run(main())


# -- raw pyzmq PUB/SUB --------------------------------------------------------------------------------------
def raw_sub(endpoint: str, n: int, mode: str, out: mp.Queue) -> None:
    import zmq

    sock = zmq.Context().socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, 200_000)
    sock.connect(endpoint)
    sock.setsockopt(zmq.SUBSCRIBE, b"x")
    out.put("ready")
    lat, first, last, count = [], None, 0, 0
    while count < n and sock.poll(3000):
        _, data = sock.recv_multipart()
        last = time.monotonic_ns()
        first = first or last
        count += 1
        if mode == "lat":
            lat.append((last - int(data[:20])) / 1e6)
    out.put((count, (last - (first or 0)) / 1e9, lat))


def raw_pub(endpoint: str, n: int, mode: str) -> None:
    import zmq

    sock = zmq.Context().socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, 200_000)
    sock.bind(endpoint)
    time.sleep(0.5)
    t0 = time.monotonic()
    for i in range(n):
        sock.send_multipart([b"x", b"%020d" % time.monotonic_ns() + PAYLOAD.encode()])
        if mode == "lat":
            time.sleep(max(0.0, (i + 1) / RATE - (time.monotonic() - t0)))
    time.sleep(0.5)


# -- mosquitto + paho-mqtt ----------------------------------------------------------------------------------
def mqtt_sub(port: int, n: int, mode: str, out: mp.Queue) -> None:
    import threading

    import paho.mqtt.client as mqtt

    lat: list[float] = []
    state = {"count": 0, "first": None, "last": 0}
    done = threading.Event()

    def on_message(client, userdata, msg) -> None:
        now = time.monotonic_ns()
        state["first"] = state["first"] or now
        state["last"] = now
        state["count"] += 1
        if mode == "lat":
            lat.append((now - int(msg.payload[:20])) / 1e6)
        if state["count"] >= n:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe("bench/x", qos=0)
    client.loop_start()
    time.sleep(0.3)
    out.put("ready")
    done.wait(60 if mode == "thr" else LAT_SECONDS + 10)
    client.loop_stop()
    out.put((state["count"], (state["last"] - (state["first"] or 0)) / 1e9, lat))


def mqtt_pub(port: int, n: int, mode: str) -> None:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    time.sleep(0.3)
    t0 = time.monotonic()
    for i in range(n):
        client.publish("bench/x", b"%020d" % time.monotonic_ns() + PAYLOAD.encode(), qos=0)
        if mode == "lat":
            time.sleep(max(0.0, (i + 1) / RATE - (time.monotonic() - t0)))
    time.sleep(1.0)
    client.loop_stop()


# -- driver -------------------------------------------------------------------------------------------------
def run_pair(sub_target, pub_target, args: tuple, n: int, mode: str) -> tuple[int, float, list[float]]:
    out: mp.Queue = mp.Queue()
    sub = mp.Process(target=sub_target, args=(*args, n, mode, out))
    sub.start()
    assert out.get(timeout=20) == "ready"
    pub = mp.Process(target=pub_target, args=(*args, n, mode))
    pub.start()
    result = out.get(timeout=180)
    pub.join(30)
    sub.join(10)
    return result


def measure(name: str, sub_target, pub_target, args: tuple) -> dict[str, float]:
    count, elapsed, _ = run_pair(sub_target, pub_target, args, N_THROUGHPUT, "thr")
    _, _, lat = run_pair(sub_target, pub_target, args, int(RATE * LAT_SECONDS), "lat")
    figures = {"msgs_per_s": count / elapsed if elapsed else 0.0, "received": count,
               "p50_ms": statistics.median(lat) if lat else float("nan"),
               "p99_ms": percentile(lat, 99) if lat else float("nan")}
    print(f"{name:<22} {figures['msgs_per_s']:>10,.0f} msg/s  (received {count:,}/{N_THROUGHPUT:,})"
          f"   latency @1000 msg/s p50 {figures['p50_ms']:.3f} ms  p99 {figures['p99_ms']:.3f} ms", flush=True)
    return figures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_mosquitto() -> str | None:
    path = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if path:
        return path
    print("installing mosquitto with apt-get …", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "mosquitto"], check=False, capture_output=True)
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


def main() -> None:
    global N_THROUGHPUT, LAT_SECONDS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, no MQTT: checks the bench runs")
    quick = parser.parse_args().quick
    if quick:
        N_THROUGHPUT, LAT_SECONDS = 2_000, 0.5
    mp.set_start_method("spawn")
    print(f"bus benchmark: {len(PAYLOAD)}-byte payloads, {N_THROUGHPUT:,} messages for throughput, "
          f"{RATE} msg/s × {LAT_SECONDS} s for latency, {os.cpu_count()} cores")
    results = {}
    run_dir = tempfile.mkdtemp(prefix="reon-bench-", dir="/tmp")
    broker = mp.Process(target=reon_broker, args=(run_dir,), daemon=True)
    broker.start()
    time.sleep(0.5)
    results["reon"] = measure("REON bus (via broker)", reon_sub, reon_pub, (run_dir,))
    broker.terminate()
    results["raw"] = measure("raw pyzmq PUB/SUB", raw_sub, raw_pub, (f"ipc://{run_dir}/raw",))
    mosquitto = None if quick else ensure_mosquitto()
    if mosquitto:
        port = free_port()
        conf = Path(run_dir) / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 200000\n")
        proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        results["mqtt"] = measure("mosquitto + paho-mqtt", mqtt_sub, mqtt_pub, (port,))
        proc.terminate()
    else:
        print("mosquitto could not be installed: MQTT comparison skipped")
    reon, raw = results["reon"], results["raw"]
    print(f"\nREON / raw pyzmq throughput: {reon['msgs_per_s'] / raw['msgs_per_s']:.0%} (goal ≥ 50 %)")
    if "mqtt" in results:
        print(f"REON / MQTT throughput: {reon['msgs_per_s'] / results['mqtt']['msgs_per_s']:.2f}× (goal > 1)")
    print(f"REON p99 latency at 1000 msg/s: {reon['p99_ms']:.3f} ms (goal < 1 ms)")
    shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
