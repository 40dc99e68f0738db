#!/usr/bin/env bash
# Genome-wide prediction throughput on the bundled 1 Mb of hg38 chr1: the demo model and the
# Basenji2 human spec (random weights), tract and ORT, against onnxruntime-python looping over
# the same number of windows (pure inference), with peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
G=tests/fixtures/genome/hg38_chr1_1mb.fa.gz
B=target/bench
mkdir -p $B
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
cargo build --release --quiet
S2F=./target/release/s2f
export ORT_DYLIB_PATH=$(ls "$PWD"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n 1)
[ -f $B/basenji2_human/model.onnx ] || $S2F package models/basenji2_human.json --random-seed 1 --out $B/basenji2_human

echo "== demo model (Calderon2019 DRG, 401 bp, 45 tracks), stride 100 bp: 10,000 windows, all 45 bigWigs"
$S2F onehot --fasta $G --window 401 --stride 100 --out $B/demo_windows.npz 2>/dev/null
.venv/bin/python scripts/bench_ort_windows.py models/calderon2019_shallow/model.onnx $B/demo_windows.npz 256
for e in tract ort; do
  rm -rf $B/demo_$e
  /usr/bin/time -f "s2f predict ($e): %e s wall, peak RSS %M KiB" $S2F predict models/calderon2019_shallow --genome $G --stride 100 --batch 256 --engine $e --out $B/demo_$e 2>&1 | grep -E "wall|wrote"
  /usr/bin/time -f "s2f run ($e, inference only): %e s wall, peak RSS %M KiB" $S2F run models/calderon2019_shallow --input $B/demo_windows.npz --out $B/demo_run.npy --batch 256 --engine $e 2>&1 | grep wall
done

echo "== Basenji2 human (random weights, 131,072 bp, 896 x 128-bp bins): 9 windows cover 1 Mb; 10 of 5,313 tracks to bigWig"
$S2F onehot --fasta $G --window 131072 --stride 114688 --out $B/b2_windows.npz 2>/dev/null
.venv/bin/python scripts/bench_ort_windows.py $B/basenji2_human/model.onnx $B/b2_windows.npz 1
for e in ort tract; do
  rm -rf $B/b2_$e
  /usr/bin/time -f "s2f predict ($e): %e s wall, peak RSS %M KiB" $S2F predict $B/basenji2_human --genome $G --batch 1 --engine $e --tracks 0,1,2,3,4,5,6,7,8,9 --out $B/b2_$e 2>&1 | grep -E "wall|windows in"
done
