#!/usr/bin/env bash
# The README's main command (demo model, first megabase of hg38 chr1, stride 100 = 10,000
# windows) under each engine setting, in one run on one machine: tract on one thread (the
# default before `--engine auto` and `--threads`), tract on every core, ONNX Runtime, and the
# default (`auto`). Prints wall seconds and windows/s; the bigWigs of all runs must agree.
# Usage: scripts/bench_demo.sh [S2F_BINARY]   (needs .venv with onnxruntime for the ORT runs)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/s2f}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
run() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" predict models/calderon2019_shallow --genome tests/fixtures/genome/hg38_chr1_1mb.fa.gz \
    --stride 100 --out "$W/$name" "$@" 2>"$W/$name.log"
  t1=$(date +%s.%N)
  python3 -c "t=$t1-$t0; print(f'$name: {t:.1f} s, {10000/t:.0f} windows/s')"
}
run tract_1_thread --engine tract --threads 1
run tract_all_cores --engine tract
run ort --engine ort
run auto
grep -h "engine auto" "$W/auto.log" || true
cmp "$W/tract_1_thread/t0000.bw" "$W/tract_all_cores/t0000.bw" && echo "tract: 1 thread and all cores give identical bigWigs"
