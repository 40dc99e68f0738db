#!/usr/bin/env bash
# Variant scoring speed against its bound (2 forward passes per single-ALT variant), measured in
# the same run on the same machine, and peak memory for VCFs of N and 10·N variants.
# Usage: scripts/bench_variants.sh [S2F_BINARY] [N_VARIANTS] [MODEL] [ENGINES] [MEMORY]
#   MODEL defaults to the demo model; ENGINES to "ort tract"; MEMORY=0 skips the peak-memory runs.
#   (needs .venv for ORT and numpy)
set -euo pipefail
BIN=${1:-target/release/s2f}
N=${2:-2000}
PY=${S2F_PYTHON:-.venv/bin/python}
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -1)}
GENOME=tests/fixtures/genome/hg38_chr1_1mb.fa.gz
MODEL=${3:-models/calderon2019_shallow}
ENGINES=${4:-ort tract}
MEMORY=${5:-1}
L=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1] + '/model.json'))['input']['length'])" "$MODEL")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$PY" - "$GENOME" "$W" "$N" "$L" <<'PY'
import gzip, sys, numpy as np
genome, out, n, L = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
seq = "".join(l.strip() for l in gzip.open(genome, "rt") if not l.startswith(">")).upper()
rng = np.random.default_rng(0)
ok = [i for i in range(1000, len(seq) - 1000, 7) if seq[i] in "ACGT" and "N" not in seq[i - 250:i + 250]]
for m, name in [(n, "small"), (10 * n, "large")]:
    with open(f"{out}/{name}.vcf", "w") as f:
        f.write("##fileformat=VCFv4.2\n")
        for j, i in enumerate(sorted(rng.choice(ok, m, replace=m > len(ok)))):
            alt = "ACGT"[("ACGT".index(seq[i]) + 1 + j % 3) % 4]
            f.write(f"chr1\t{i + 1}\tv{j}\t{seq[i]}\t{alt}\n")
# The forward-pass reference: 2·n windows of the model's length.
# Windows of L bp around random positions (N-padded at the chromosome's ends), one-hot.
pad = "N" * L
padded = pad + seq + pad
lut = np.zeros(256, np.int64) + 4
for j, c in enumerate(b"ACGT"):
    lut[c] = j
eye = np.vstack([np.eye(4, dtype=np.float32), np.zeros((1, 4), np.float32)])
x = np.zeros((2 * n, L, 4), np.float32)
for k, i in enumerate(rng.choice(ok, 2 * n)):
    s0 = i + L - (L // 2 - 1)
    x[k] = eye[lut[np.frombuffer(padded[s0:s0 + L].encode(), np.uint8)]]
np.save(f"{out}/x.npy", x)
PY
for engine in $ENGINES; do
  t0=$(date +%s.%N)
  "$BIN" run "$MODEL" --input "$W/x.npy" --out "$W/y.npy" --batch "${BATCH:-64}" --engine $engine 2>/dev/null
  t1=$(date +%s.%N)
  "$BIN" variants "$MODEL" --genome "$GENOME" --vcf "$W/small.vcf" --batch "${BATCH:-64}" --engine $engine --out "$W/v_$engine" 2>/dev/null
  t2=$(date +%s.%N)
  "$PY" -c "
fwd=$t1-$t0; var=$t2-$t1; n=$N
bound=n/(fwd)  # variants/s if each variant cost exactly 2 forward passes (2n windows in fwd s)
print(f'$engine: forward {2*n/fwd:.3g} windows/s -> bound {bound:.3g} variants/s; variants {n/var:.3g}/s = {n/var/bound:.2f} of the bound')
"
done
[ "$MEMORY" = 1 ] || exit 0
for name in small large; do
  /usr/bin/time -f "$name VCF: peak RSS %M KiB, %e s" "$BIN" variants "$MODEL" --genome "$GENOME" --vcf "$W/$name.vcf" \
    --batch 64 --engine ort --out "$W/mem_$name" 2>&1 >/dev/null | grep "peak RSS"
done
