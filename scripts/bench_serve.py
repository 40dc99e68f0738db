#!/usr/bin/env python3
"""Benchmark of `s2f serve`: throughput and latency at 1, 8 and 32 concurrent clients, against
direct `s2f run` throughput at the same batch sizes, in one run on one machine.

Each client sends requests of one sequence (binary tensors, tritonclient.http) back to back.
The server runs with dynamic batching (--max-batch 64, --max-delay-ms 5 unless told otherwise)
and, for comparison, with batching off (--max-batch 1). Direct throughput is `s2f run` on
N sequences with --batch equal to the client count (model load excluded by timing two sizes).

  .venv/bin/python scripts/bench_serve.py [--bin target/release/s2f] [--model models/calderon2019_shallow]
      [--engine auto|tract|ort] [--requests 1500] [--clients 1,8,32] [--load python|wrk]

--load python (default): tritonclient.http clients in Python threads; on a small machine they
take CPU from the server. --load wrk: the same binary-tensor request sent by wrk (C, one thread
per core; `apt-get install wrk`) for 10 s per setting, which leaves the server the CPU.

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


def load_wrk(addr, name, x, clients, seconds=10):
    """Requests/s and p50/p99 latency (ms) from wrk posting one binary one-sequence request."""
    import json as _json

    payload = x[:1].astype(np.float32).tobytes()
    header = _json.dumps({"inputs": [{"name": "sequence", "shape": [1, *x.shape[1:]], "datatype": "FP32",
                                      "parameters": {"binary_data_size": len(payload)}}],
                          "parameters": {"binary_data_output": True}}).encode()
    with tempfile.TemporaryDirectory() as tmp:
        body_path = os.path.join(tmp, "body.bin")
        with open(body_path, "wb") as f:
            f.write(header + payload)
        lua = os.path.join(tmp, "post.lua")
        with open(lua, "w") as f:
            f.write(f'local f = io.open("{body_path}", "rb"); wrk.body = f:read("*all"); f:close()\n'
                    f'wrk.method = "POST"\n'
                    f'wrk.headers["Inference-Header-Content-Length"] = "{len(header)}"\n'
                    f'wrk.headers["Content-Type"] = "application/octet-stream"\n')
        out = subprocess.run(
            ["wrk", f"-t{min(clients, os.cpu_count() or 1)}", f"-c{clients}", f"-d{seconds}s", "--latency", "-s", lua,
             f"http://{addr}/v2/models/{name}/infer"],
            check=True, capture_output=True, text=True).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")

    def ms(tag):
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == tag:
                v = parts[1]
                scale = 1e-3 if v.endswith("us") else 1e3 if v.endswith("s") and not v.endswith("ms") else 1.0
                return float(v.rstrip("msu")) * scale
        return float("nan")

    rps = next(float(l.split()[1]) for l in out.splitlines() if l.startswith("Requests/sec"))
    return rps, ms("50%"), ms("99%")


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
    ap.add_argument("--load", choices=["python", "wrk"], default="python")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    length = 401
    x = np.zeros((2048, length, 4), dtype=np.float32)
    x[np.arange(2048)[:, None], np.arange(length)[None, :], rng.integers(0, 4, (2048, length))] = 1.0
    clients = [int(c) for c in a.clients.split(",")]
    print(f"model {a.model}, engine {a.engine}, {os.cpu_count()} CPUs, load from {a.load}, requests of 1 sequence")
    run_load = (lambda addr, c: load(addr, a.name, x, c, a.requests)) if a.load == "python" else (
        lambda addr, c: load_wrk(addr, a.name, x, c))
    print("| clients | direct `s2f run --batch C` (seq/s) | serve, dynamic batching (seq/s) | ratio | p50 ms | p99 ms "
          "| serve, --max-batch 1 (seq/s) | batching gain |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for c in clients:
            d = direct(a.bin, a.model, a.engine, x, c, tmp)
            proc, addr = start(a.bin, a.model, a.engine, ["--max-batch", "64", "--max-delay-ms", a.max_delay_ms])
            try:
                load(addr, a.name, x, c, min(200, a.requests))  # warm-up
                tp, p50, p99 = run_load(addr, c)
            finally:
                proc.terminate()
                proc.wait()
            proc, addr = start(a.bin, a.model, a.engine, ["--max-batch", "1"])
            try:
                load(addr, a.name, x, c, min(200, a.requests))
                tp1, _, _ = run_load(addr, c)
            finally:
                proc.terminate()
                proc.wait()
            print(f"| {c} | {d:.0f} | {tp:.0f} | {tp / d:.2f} | {p50:.1f} | {p99:.1f} | {tp1:.0f} | {tp / tp1:.2f}× |",
                  flush=True)


if __name__ == "__main__":
    main()
