#!/usr/bin/env bash
# `s2f genes` throughput: TSS windows per second from a model, on the demo model (401 bp, one
# value per window) and on a Basenji2-sized spec (models/basenji2_human.json, random weights,
# 131,072 bp), and what `--from-tracks` saves by reading a genome-wide run's bigWigs instead.
# TSSs are random positions on the first megabase of hg38 chr1 (the fixture).
# Usage: scripts/bench_genes.sh [S2F_BINARY] [N_DEMO_TSS] [N_BASENJI_TSS]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/s2f}
N1=${2:-4000}
N2=${3:-12}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
G=tests/fixtures/genome/hg38_chr1_1mb.fa.gz
tss() {
  python3 -c "
import random
random.seed($2)
print('gene_id\tchrom\ttss\tstrand')
for i in range($1):
    print(f'g{i}\tchr1\t{random.randrange(60000, 990000)}\t+')" >"$3"
}
secs() { python3 -c "print(f'{$2-$1:.2f}')"; }
now() { date +%s.%N; }

tss "$N1" 1 "$W/demo.tsv"
t0=$(now); "$BIN" genes models/calderon2019_shallow --genome $G --tss "$W/demo.tsv" --bins 1 --out "$W/d.parquet" 2>/dev/null; t1=$(now)
echo "demo model: $N1 TSSs in $(secs $t0 $t1) s, $(python3 -c "print(f'{$N1/($t1-$t0):.0f}')") TSS windows/s"
t0=$(now); "$BIN" predict models/calderon2019_shallow --genome $G --stride 100 --out "$W/demo_run" 2>/dev/null; t1=$(now)
echo "demo model: genome-wide run (stride 100) $(secs $t0 $t1) s"
t0=$(now); "$BIN" genes --from-tracks "$W/demo_run" --tss "$W/demo.tsv" --bins 1 --out "$W/d2.parquet" 2>/dev/null; t1=$(now)
echo "demo model: --from-tracks, $N1 TSSs × 45 bigWigs in $(secs $t0 $t1) s"

"$BIN" package models/basenji2_human.json --random-seed 1 --out "$W/b2" 2>/dev/null
tss "$N2" 2 "$W/b2.tsv"
t0=$(now); "$BIN" genes "$W/b2" --genome $G --tss "$W/b2.tsv" --tracks 0,1,2,3 --batch 2 --out "$W/b.parquet" 2>/dev/null; t1=$(now)
echo "Basenji2-sized: $N2 TSSs in $(secs $t0 $t1) s, $(python3 -c "print(f'{$N2/($t1-$t0):.2f}')") TSS windows/s"
t0=$(now); "$BIN" predict "$W/b2" --genome $G --tracks 0,1,2,3 --batch 2 --out "$W/b2_run" 2>/dev/null; t1=$(now)
echo "Basenji2-sized: genome-wide run over 1 Mb $(secs $t0 $t1) s"
t0=$(now); "$BIN" genes --from-tracks "$W/b2_run" --tss "$W/b2.tsv" --out "$W/b2.parquet" 2>/dev/null; t1=$(now)
echo "Basenji2-sized: --from-tracks, $N2 TSSs × 4 bigWigs in $(secs $t0 $t1) s"
