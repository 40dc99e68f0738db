"""Pure-inference baseline: onnxruntime's Python API looping over one-hot windows.

usage: bench_ort_windows.py MODEL.onnx WINDOWS.npz BATCH
WINDOWS.npz is what `s2f onehot` writes (seqfeatures (N, L, 4)). Prints windows/s and bp/s.
"""
import sys
import time

import numpy as np
import onnxruntime as ort

model, windows, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = np.load(windows)["seqfeatures"].astype(np.float32)
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
name = sess.get_inputs()[0].name
sess.run(None, {name: x[:batch]})  # warm-up
t = time.perf_counter()
for i in range(0, len(x), batch):
    sess.run(None, {name: x[i : i + batch]})
dt = time.perf_counter() - t
print(f"onnxruntime-python: {len(x)} windows in {dt:.2f} s = {len(x) / dt:.2f} windows/s")
