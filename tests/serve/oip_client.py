"""Checks a running `s2f serve` with tritonclient.http, the Triton HTTP client.

Run by tests/serve.rs against a server it started on a free loopback port. Exits non-zero, with
the reason, at the first failed check.

  checks: metadata, health, infer (JSON and binary) and the DNA-string inputs equal `s2f run`
          bit for bit; every class of bad request gets its 4xx with a JSON error; 8 client
          threads x 25 requests of mixed sizes, with bad requests arriving meanwhile, all get
          exact answers and the server joined requests into batches (metrics).
  drain:  a large request is in flight when SIGTERM arrives; its answer is still exact.
"""

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import tritonclient.http as httpclient

BASES = "ACGT"


def fail(msg):
    print(f"FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def onehot(seqs, n_value):
    """One-hot (N, L, 4) float32 as `s2f onehot` writes it: N (any case) = n_value everywhere."""
    out = np.full((len(seqs), len(seqs[0]), 4), 0.0, dtype=np.float32)
    for i, s in enumerate(seqs):
        for j, b in enumerate(s.upper()):
            if b in BASES:
                out[i, j, BASES.index(b)] = 1.0
            else:
                out[i, j, :] = n_value
    return out


def s2f_run(binary, model, x, tmp):
    """`s2f run` on x, batch 1, tract: the reference for every check."""
    xp, yp = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
    np.save(xp, x)
    subprocess.run(
        [binary, "run", model, "--input", xp, "--out", yp, "--engine", "tract", "--batch", "1"],
        check=True,
        capture_output=True,
    )
    return np.load(yp)


def same_bits(got, want, what):
    got = np.asarray(got, dtype=np.float32)
    check(got.size == want.size, f"{what}: {got.shape} values, expected {want.shape}")
    g, w = got.reshape(-1).view(np.uint32), want.reshape(-1).astype(np.float32).view(np.uint32)
    bad = np.flatnonzero(g != w)
    check(bad.size == 0, f"{what}: {bad.size} values differ from s2f run (first at {bad[:3]})")


def http(url, method="GET", body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def random_seqs(rng, n, length, alphabet="ACGT"):
    return ["".join(rng.choice(list(alphabet), size=length)) for _ in range(n)]


def metric(text, name, labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^(\w+)(\{[^}]*\})?\s+(\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def checks(a):
    base = f"http://{a.url}"
    client = httpclient.InferenceServerClient(a.url)
    check(client.is_server_live(), "server not live")
    check(client.is_server_ready(), "server not ready")
    check(client.is_model_ready(a.name), "model not ready")
    check(client.get_server_metadata()["name"] == "s2f", "server metadata")
    meta = client.get_model_metadata(a.name)
    spec = json.load(open(os.path.join(a.model, "model.json")))
    length, n_value = spec["input"]["length"], spec["input"]["n_value"]
    check(meta["inputs"] == [{"name": "sequence", "datatype": "FP32", "shape": [-1, length, 4]}], f"inputs {meta}")
    out = meta["outputs"][0]["name"]
    out_shape = meta["outputs"][0]["shape"]
    check(out_shape[0] == -1 and all(d > 0 for d in out_shape[1:]), f"output shape {out_shape}")

    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        # A pool of sequences with their expected outputs; requests take subsets of it.
        pool_seqs = random_seqs(rng, 40, length)
        pool_seqs[3] = pool_seqs[3][:100] + "N" * 20 + pool_seqs[3][120:]
        pool_seqs[5] = pool_seqs[5].lower()
        pool_x = onehot(pool_seqs, n_value)
        pool_y = s2f_run(a.bin, a.model, pool_x, tmp).reshape((40,) + tuple(out_shape[1:]))

    idx = np.array([0, 3, 5, 9, 11, 17, 30])
    x, want = pool_x[idx], pool_y[idx]
    for binary in (True, False):
        inp = httpclient.InferInput("sequence", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        r = client.infer(a.name, [inp], outputs=[httpclient.InferRequestedOutput(out, binary_data=binary)])
        same_bits(r.as_numpy(out), want, f"infer (binary={binary})")
        check(list(r.as_numpy(out).shape) == [len(idx)] + out_shape[1:], "response shape")
    # Every output when none is named.
    inp = httpclient.InferInput("sequence", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    same_bits(client.infer(a.name, [inp]).as_numpy(out), want, "infer without requested outputs")

    strings = [pool_seqs[i] for i in idx]
    for binary in (True, False):
        inp = httpclient.InferInput("sequence", [len(strings)], "BYTES")
        inp.set_data_from_numpy(np.array([s.encode() for s in strings], dtype=np.object_), binary_data=binary)
        r = client.infer(a.name, [inp], outputs=[httpclient.InferRequestedOutput(out, binary_data=binary)])
        same_bits(r.as_numpy(out), want, f"DNA strings as BYTES (binary={binary})")
    status, body, _ = http(
        f"{base}/s2f/models/{a.name}/sequences", "POST", json.dumps({"sequences": strings}).encode()
    )
    check(status == 200, f"sequences route: {status} {body[:200]}")
    got = json.loads(body)["outputs"][0]
    check(got["name"] == out and got["shape"] == [len(idx)] + out_shape[1:], f"sequences route output {got['shape']}")
    same_bits(np.array(got["data"], dtype=np.float32), want, "sequences route")

    bad_requests(a, base, x, length)
    load(a, pool_x, pool_y, out, base)


def infer_body(inputs, outputs=None):
    return json.dumps({"inputs": inputs, **({"outputs": outputs} if outputs else {})}).encode()


def bad_requests(a, base, x, length):
    url = f"{base}/v2/models/{a.name}/infer"
    one = x[:1]
    flat = one.reshape(-1).tolist()
    nan = one.copy()
    nan[0, 7, 2] = np.nan
    nan_bytes = nan.tobytes()
    binary_json = json.dumps(
        {"inputs": [{"name": "sequence", "shape": [1, length, 4], "datatype": "FP32",
                     "parameters": {"binary_data_size": len(nan_bytes)}}]}
    ).encode()
    cases = [
        ("malformed JSON", url, b'{"inputs": [', {}, 400, "malformed"),
        ("unknown model", f"{base}/v2/models/nope/infer", infer_body([]), {}, 404, "unknown model"),
        ("unknown version", f"{base}/v2/models/{a.name}/versions/7/infer", infer_body([]), {}, 404, "version"),
        ("wrong datatype", url, infer_body([{"name": "sequence", "shape": [1, length, 4], "datatype": "INT32",
                                             "data": [0] * (length * 4)}]), {}, 400, "INT32"),
        ("wrong shape", url, infer_body([{"name": "sequence", "shape": [1, length - 1, 4], "datatype": "FP32",
                                          "data": flat[:-4]}]), {}, 400, "does not fit"),
        ("element count", url, infer_body([{"name": "sequence", "shape": [1, length, 4], "datatype": "FP32",
                                            "data": flat[:10]}]), {}, 400, "elements"),
        ("unknown input", url, infer_body([{"name": "seq", "shape": [1, length, 4], "datatype": "FP32",
                                            "data": flat}]), {}, 400, "no input"),
        ("missing input", url, infer_body([]), {}, 400, "missing"),
        ("unknown output", url, infer_body([{"name": "sequence", "shape": [1, length, 4], "datatype": "FP32",
                                             "data": flat}], [{"name": "nope"}]), {}, 400, "no output"),
        ("NaN in binary data", url, binary_json + nan_bytes,
         {"Inference-Header-Content-Length": str(len(binary_json))}, 400, "not finite"),
        ("value beyond FP32", url, infer_body([{"name": "sequence", "shape": [1, length, 4], "datatype": "FP32",
                                                "data": [1e39] + flat[1:]}]), {}, 400, "finite"),
        ("not one-hot", url, infer_body([{"name": "sequence", "shape": [1, length, 4], "datatype": "FP32",
                                          "data": [0.5] + flat[1:]}]), {}, 400, "one-hot"),
        ("truncated binary payload", url, binary_json + nan_bytes[:-100],
         {"Inference-Header-Content-Length": str(len(binary_json))}, 400, "truncated"),
        ("header length beyond body", url, binary_json,
         {"Inference-Header-Content-Length": str(len(binary_json) + 5)}, 400, "holds only"),
        ("oversized body", url, b" " * (a.max_body_mb * 2 ** 20 + 10), {}, 413, "--max-body-mb"),
        ("too many sequences", url, json.dumps({"inputs": [{"name": "sequence", "shape": [a.max_sequences + 1],
                                                "datatype": "BYTES", "data": ["A" * length] * (a.max_sequences + 1)}]}).encode(),
         {}, 413, "--max-sequences"),
        ("DNA of the wrong length", f"{base}/s2f/models/{a.name}/sequences",
         json.dumps({"sequences": ["ACGT" * 10]}).encode(), {}, 400, "bp"),
        ("DNA with another letter", f"{base}/s2f/models/{a.name}/sequences",
         json.dumps({"sequences": ["A" * 17 + "X" + "A" * (length - 18)]}).encode(), {}, 400, "position 17"),
        ("no sequences", f"{base}/s2f/models/{a.name}/sequences", b'{"sequences": []}', {}, 400, "no sequences"),
    ]
    for what, u, body, headers, status, needle in cases:
        got, text, _ = http(u, "POST", body, headers)
        check(got == status, f"{what}: status {got}, expected {status}: {text[:300]}")
        try:
            err = json.loads(text)["error"]
        except Exception:
            fail(f"{what}: the answer is not a JSON error: {text[:300]}")
        check(needle in err, f"{what}: {needle!r} not in {err!r}")
    got, text, _ = http(f"{base}/v2/no/such/path")
    check(got == 404 and "error" in json.loads(text), f"unknown path: {got}")
    return len(cases)


def load(a, pool_x, pool_y, out, base):
    """8 threads x 25 requests of 1-8 sequences, and a thread sending bad requests meanwhile."""
    before = urllib.request.urlopen(f"{base}/metrics").read().decode()
    errors = []
    stop = threading.Event()

    def worker(seed):
        rnd = random.Random(seed)
        c = httpclient.InferenceServerClient(a.url)
        for _ in range(25):
            idx = [rnd.randrange(len(pool_x)) for _ in range(rnd.randint(1, 8))]
            inp = httpclient.InferInput("sequence", [len(idx), *pool_x.shape[1:]], "FP32")
            inp.set_data_from_numpy(pool_x[idx], binary_data=rnd.random() < 0.7)
            try:
                r = c.infer(a.name, [inp], outputs=[httpclient.InferRequestedOutput(out, binary_data=True)])
                got = r.as_numpy(out).astype(np.float32)
                if not np.array_equal(got.view(np.uint32), pool_y[idx].astype(np.float32).view(np.uint32)):
                    errors.append(f"thread {seed}: wrong answer for {idx}")
            except Exception as e:  # noqa: BLE001 — every failure is reported
                errors.append(f"thread {seed}: {e}")

    def nuisance():
        bodies = [b"{", infer_body([{"name": "sequence", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}])]
        k = 0
        while not stop.is_set():
            got, _, _ = http(f"{base}/v2/models/{a.name}/infer", "POST", bodies[k % 2])
            if got != 400:
                errors.append(f"bad request answered {got}")
            k += 1

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    bad = threading.Thread(target=nuisance)
    bad.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    bad.join()
    check(not errors, f"{len(errors)} errors under load, e.g. {errors[:3]}")
    after = urllib.request.urlopen(f"{base}/metrics").read().decode()
    lab = {"model": a.name}
    ok = metric(after, "s2f_requests_total", {**lab, "endpoint": "infer", "status": "200"}) - metric(
        before, "s2f_requests_total", {**lab, "endpoint": "infer", "status": "200"})
    runs = metric(after, "s2f_batch_size_count", lab) - metric(before, "s2f_batch_size_count", lab)
    check(ok == 200, f"metrics count {ok} successful infer requests under load, expected 200")
    check(0 < runs < ok, f"{runs} engine runs for {ok} requests: no requests were batched together")
    bad = metric(after, "s2f_requests_total", {**lab, "endpoint": "infer", "status": "400"})
    check(bad > 0, "metrics count no 400s")
    print(f"load: {int(ok)} requests in {int(runs)} engine runs")


def drain(a):
    """A large request in flight when SIGTERM arrives still gets its exact answer."""
    spec = json.load(open(os.path.join(a.model, "model.json")))
    length, n_value = spec["input"]["length"], spec["input"]["n_value"]
    out = httpclient.InferenceServerClient(a.url).get_model_metadata(a.name)["outputs"][0]["name"]
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as tmp:
        pool = onehot(random_seqs(rng, 16, length), n_value)
        want = s2f_run(a.bin, a.model, pool, tmp)
    idx = np.arange(a.drain_sequences) % len(pool)
    x = pool[idx]
    result = {}

    def call():
        # tritonclient's clients run on gevent: one per thread.
        client = httpclient.InferenceServerClient(a.url, network_timeout=300.0, connection_timeout=300.0)
        inp = httpclient.InferInput("sequence", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        try:
            result["y"] = client.infer(a.name, [inp]).as_numpy(out)
        except Exception as e:  # noqa: BLE001
            result["error"] = e

    t = threading.Thread(target=call)
    t.start()
    # Wait until the request is in the engine (its batch appears in the queue metrics).
    deadline = time.time() + 60
    while time.time() < deadline:
        m = urllib.request.urlopen(f"http://{a.url}/metrics").read().decode()
        if metric(m, "s2f_queue_seconds_count", {"model": a.name}) >= 1:
            break
        time.sleep(0.01)
    os.kill(a.pid, signal.SIGTERM)
    t.join()
    check("error" not in result, f"request in flight at SIGTERM failed: {result.get('error')}")
    same_bits(result["y"], want[idx], "request in flight at SIGTERM")
    print("drain: the request in flight was answered")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["checks", "drain"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--max-body-mb", type=int, default=1)
    ap.add_argument("--max-sequences", type=int, default=64)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--drain-sequences", type=int, default=2000)
    a = ap.parse_args()
    checks(a) if a.mode == "checks" else drain(a)
    print("ok")


if __name__ == "__main__":
    main()
