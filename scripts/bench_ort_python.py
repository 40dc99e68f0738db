"""Times onnxruntime's Python API on an s2f ONNX file: the tool a user would pick instead.

usage: bench_ort_python.py MODEL.onnx [REPEATS]
Prints windows/s for batch-1 calls on a random one-hot window, default session options.
"""
import sys
import time

import numpy as np
import onnxruntime as ort

path = sys.argv[1]
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
inp = sess.get_inputs()[0]
length = inp.shape[1]
rng = np.random.default_rng(42)
x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=length)][None]
sess.run(None, {inp.name: x})  # warm-up
times = []
for _ in range(repeats):
    t = time.perf_counter()
    sess.run(None, {inp.name: x})
    times.append(time.perf_counter() - t)
med = float(np.median(times))
mean = float(np.mean(times))
print(f"onnxruntime-python {ort.__version__}: median {med * 1000:.1f} ms/window, mean {mean * 1000:.1f} ms, {1 / mean:.3f} windows/s (n={repeats})")
