"""Firmware download benchmark: a 64 MB image from the HTTPS file server (sim/file_server.py) on loopback,
downloaded and its ECDSA P-256 / SHA-256 signature checked by services/firmware in a child process (peak RSS
sampled with psutil), beside `curl` + `openssl dgst -verify` on the same file in the same run.

After one uncounted warm-up round of each, prints per round and the median: throughput (image MB / wall
time of download + verify), the child's peak RSS growth over its RSS before the download, and the ratio to
curl + openssl. Goals: ≥ 80 % of their throughput, RSS growth < 20 MB.
Usage: `python bench/firmware.py [--size-mb 64] [--rounds 3] [--quick]`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SAMPLE_S = 0.002


def child(url: str, dest: str, ca: str, cert_file: str, signature_b64: str, max_mb: int) -> None:
    """The downloader as the service runs it: Download (streamed, hashed on the way) + signature check."""
    from cryptography import x509

    from services.firmware.download import Download
    from services.firmware.signature import verify_signature

    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    result = Download(url, Path(dest), max_bytes=max_mb * 1024 * 1024, ca_file=ca).run()
    ok = verify_signature(cert, signature_b64, result.sha256)
    print(json.dumps({"elapsed_s": time.perf_counter() - started, "ok": ok, "bytes": result.size_bytes}), flush=True)


class PeakRss:
    """Samples a process's RSS every 2 ms in a thread; `peak` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.base = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(SAMPLE_S)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak - self.base


def run_ours(url: str, dest: Path, ca: str, cert_file: Path, signature_b64: str, size_mb: int) -> tuple[float, int]:
    for path in (dest, dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.json")):
        path.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, __file__, "--child", url, str(dest), ca, str(cert_file), signature_b64,
                             str(size_mb * 2)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout and proc.stdin
    assert proc.stdout.readline().strip() == "ready"
    rss = PeakRss(proc.pid)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    result = json.loads(proc.stdout.readline())
    growth = rss.stop()
    proc.wait()
    if not result["ok"]:
        raise SystemExit("the signature did not verify")
    return result["elapsed_s"], growth


def run_curl(url: str, out: Path, ca: str, pub: Path, sig_der: Path) -> tuple[float, int]:
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    curl = subprocess.Popen(["curl", "-s", "--fail", "--cacert", ca, "-o", str(out), url])
    rss = PeakRss(curl.pid)
    curl.wait()
    growth = rss.stop()
    verify = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", str(sig_der),
                             str(out)], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if curl.returncode or "Verified OK" not in verify.stdout:
        raise SystemExit(f"curl/openssl failed: {curl.returncode} {verify.stdout} {verify.stderr}")
    return elapsed, growth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the bench runs, in seconds")
    args = parser.parse_args()
    if args.quick:
        args.size_mb, args.rounds = 2, 1

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from sim.file_server import FileServer
    from tests.pki import make_pki, server_tls_context
    from tests.services.firmware.signing import make_root, make_signer

    work = Path(tempfile.mkdtemp(prefix="reon-fw-bench-"))
    pki = make_pki(work)
    (work / "files").mkdir()
    image = work / "files" / "reon-9.9.9.raucb"
    with open(image, "wb") as f:
        for _ in range(args.size_mb):
            f.write(os.urandom(1024 * 1024))
    signer = make_signer(make_root())
    signature = signer.key.sign(image.read_bytes(), ec.ECDSA(hashes.SHA256()))
    (work / "sig.der").write_bytes(signature)
    (work / "signer.pem").write_text(signer.chain_pem)
    (work / "pub.pem").write_bytes(signer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    server = FileServer(work / "files", tls=server_tls_context(pki)).start()
    url = server.url(image.name)
    size_mb = image.stat().st_size / 1e6
    print(f"image {size_mb:.1f} MB over HTTPS on loopback, ECDSA P-256 signature; {args.rounds} rounds")
    ours, theirs = [], []
    try:
        run_ours(url, work / "ours.img", pki.ca, work / "signer.pem", base64.b64encode(signature).decode(),
                 args.size_mb)  # warm-up (page cache, server thread), not counted
        run_curl(url, work / "curl.img", pki.ca, work / "pub.pem", work / "sig.der")
        for n in range(1, args.rounds + 1):
            elapsed, growth = run_ours(url, work / "ours.img", pki.ca, work / "signer.pem",
                                       base64.b64encode(signature).decode(), args.size_mb)
            ours.append((elapsed, growth))
            c_elapsed, c_growth = run_curl(url, work / "curl.img", pki.ca, work / "pub.pem", work / "sig.der")
            theirs.append((c_elapsed, c_growth))
            print(f"round {n}: REON {size_mb / elapsed:7.1f} MB/s  RSS +{growth / 1e6:5.1f} MB   |   "
                  f"curl+openssl {size_mb / c_elapsed:7.1f} MB/s  (curl RSS +{c_growth / 1e6:5.1f} MB)"
                  f"   ratio {c_elapsed / elapsed:4.0%}")
    finally:
        server.stop()
    ours_s, theirs_s = statistics.median(e for e, _ in ours), statistics.median(e for e, _ in theirs)
    growth_mb = max(g for _, g in ours) / 1e6
    ratio = theirs_s / ours_s
    paired = statistics.median(t / o for (o, _), (t, _) in zip(ours, theirs, strict=True))
    print(f"median: REON {size_mb / ours_s:.1f} MB/s, curl+openssl {size_mb / theirs_s:.1f} MB/s,"
          f" ratio {ratio:.0%} (median of the per-round ratios {paired:.0%}; goal ≥ 80 %);"
          f" peak RSS growth {growth_mb:.1f} MB (goal < 20 MB)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7], int(sys.argv[7]))
    else:
        main()
