#!/usr/bin/env python3
"""Benchmark of `s2f serve`: throughput and latency at 1, 8 and 32 concurrent clients, against
direct `s2f run` throughput at the same batch sizes, in one run on one machine.

Each client sends requests of one sequence (binary tensors, tritonclient.http) back to back.
The server runs with dynamic batching (--max-batch 64, --max-delay-ms 5 unless told otherwise)
and, for comparison, with batching off (--max-batch 1). Direct throughput is `s2f run` on
N sequences with --batch equal to the client count (model load excluded by timing two sizes).

  .venv/bin/python scripts/bench_serve.py [--bin target/release/s2f] [--model models/calderon2019_shallow]
      [--engine auto|tract|ort] [--requests 1500] [--clients 1,8,32]

Needs numpy and tritonclient[http] (scripts/requirements-test.txt).
"""

import argparse
import os
import subprocess
import tempfile
import threading
import time

import numpy as np
import tritonclient.http as httpclient


def start(binary, model, engine, extra):
    proc = subprocess.Popen(
        [binary, "serve", model, "--port", "0", "--engine", engine, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    addr = line.strip().split("http://")[-1]
    return proc, addr


def load(addr, name, x, clients, requests):
    per = max(1, requests // clients)
    lat = []
    lock = threading.Lock()
    errors = []

    def worker(k):
        c = httpclient.InferenceServerClient(addr, concurrency=1)
        mine = []
        for i in range(per):
            j = (k * per + i) % len(x)
            inp = httpclient.InferInput("sequence", [1, *x.shape[1:]], "FP32")
            inp.set_data_from_numpy(x[j : j + 1], binary_data=True)
            t0 = time.perf_counter()
            try:
                c.infer(name, [inp])
            except Exception as e:  # noqa: BLE001
                errors.append(str(e))
                return
            mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"errors: {errors[:3]}")
    lat = np.array(lat)
    return len(lat) / wall, np.percentile(lat, 50) * 1e3, np.percentile(lat, 99) * 1e3


def direct(binary, model, engine, x, batch, tmp):
    """Sequences/s of `s2f run --batch B`, model load excluded (difference of two sizes)."""
    times = {}
    for n in (len(x) // 4, len(x)):
        xp, yp = os.path.join(tmp, f"x{n}.npy"), os.path.join(tmp, "y.npy")
        np.save(xp, x[:n])
        t0 = time.perf_counter()
        subprocess.run(
            [binary, "run", model, "--input", xp, "--out", yp, "--engine", engine, "--batch", str(batch)],
            check=True,
            capture_output=True,
        )
        times[n] = time.perf_counter() - t0
    n0, n1 = sorted(times)
    return (n1 - n0) / max(times[n1] - times[n0], 1e-9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/s2f")
    ap.add_argument("--model", default="models/calderon2019_shallow")
    ap.add_argument("--name", default="calderon2019_atac_shallow")
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--max-delay-ms", default="5")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    length = 401
    x = np.zeros((2048, length, 4), dtype=np.float32)
    x[np.arange(2048)[:, None], np.arange(length)[None, :], rng.integers(0, 4, (2048, length))] = 1.0
    clients = [int(c) for c in a.clients.split(",")]
    print(f"model {a.model}, engine {a.engine}, {os.cpu_count()} CPUs, {a.requests} requests of 1 sequence per setting")
    print("| clients | direct `s2f run --batch C` (seq/s) | serve, dynamic batching (seq/s) | ratio | p50 ms | p99 ms "
          "| serve, --max-batch 1 (seq/s) | batching gain |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for c in clients:
            d = direct(a.bin, a.model, a.engine, x, c, tmp)
            proc, addr = start(a.bin, a.model, a.engine, ["--max-batch", "64", "--max-delay-ms", a.max_delay_ms])
            try:
                load(addr, a.name, x, c, min(200, a.requests))  # warm-up
                tp, p50, p99 = load(addr, a.name, x, c, a.requests)
            finally:
                proc.terminate()
                proc.wait()
            proc, addr = start(a.bin, a.model, a.engine, ["--max-batch", "1"])
            try:
                load(addr, a.name, x, c, min(200, a.requests))
                tp1, _, _ = load(addr, a.name, x, c, a.requests)
            finally:
                proc.terminate()
                proc.wait()
            print(f"| {c} | {d:.0f} | {tp:.0f} | {tp / d:.2f} | {p50:.1f} | {p99:.1f} | {tp1:.0f} | {tp / tp1:.2f}× |",
                  flush=True)


if __name__ == "__main__":
    main()
