#!/usr/bin/env bash
# Basenji2 human (random weights, 131,072 bp) windows/s under tract, ORT (Rust) and
# onnxruntime-python on the same ONNX file, in one run; plus peak memory of `s2f run`.
set -euo pipefail
cd "$(dirname "$0")/.."
PKG=target/bench/basenji2_human
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
cargo build --release --quiet
if [ ! -f "$PKG/model.onnx" ]; then
  ./target/release/s2f package models/basenji2_human.json --random-seed 1 --out "$PKG"
fi
export ORT_DYLIB_PATH=$(ls "$PWD"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n 1)
echo "== onnxruntime python (same ONNX file)"
.venv/bin/python scripts/bench_ort_python.py "$PKG/model.onnx" 10
echo "== s2f engines (criterion)"
S2F_BENCH_PACKAGE="$PKG" cargo bench --bench engines -- --noplot 2>&1 | grep -E "basenji2|time:|thrpt:"
echo "== peak memory of s2f run on 4 windows"
.venv/bin/python - <<'PY'
import numpy as np
rng = np.random.default_rng(1)
np.save("target/bench/x4.npy", np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=(4, 131072))])
PY
for engine in tract ort; do
  /usr/bin/time -f "$engine: peak RSS %M KiB, %e s" ./target/release/s2f run "$PKG" --input target/bench/x4.npy --out target/bench/y4.npy --engine "$engine" --batch 1 2>&1 | grep peak
done
/usr/bin/time -f "onnxruntime-python: peak RSS %M KiB, %e s" .venv/bin/python scripts/bench_ort_python.py "$PKG/model.onnx" 4 2>&1 | grep peak
