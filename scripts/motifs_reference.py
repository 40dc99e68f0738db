#!/usr/bin/env python3
"""Expected Tomtom results from memelite, for tests/motifs.rs.

Runs memelite's tomtom (Euclidean column distance, both strands, every offset: memelite has no
minimum overlap) on a subset of the JASPAR database -- every 25th motif, 41 queries -- against
all 1,019 motifs, and writes per query its own p-value and its two best other targets with their
p-values. `s2f motifs compare --dist ed --min-overlap 1` is checked against this table.

    python3 -m venv /tmp/memevenv && /tmp/memevenv/bin/pip install memelite==0.5.0
    /tmp/memevenv/bin/python scripts/motifs_reference.py \\
        motifs/JASPAR2026_CORE_vertebrates.meme tests/fixtures/motifs/memelite_jaspar_subset.tsv

memelite's defaults are used (100 score bins, 1,000 median bins, target columns hashed into
100 bins per letter). Also prints memelite's time for all motifs against all motifs.
"""

import sys
import time

import numpy
import memelite
from memelite.io import read_meme
from memelite.tomtom import tomtom

STEP = 25


def main(db_path, out_path):
    motifs = read_meme(db_path)
    ids = [key.split()[0] for key in motifs]
    pwms = [numpy.asarray(m, dtype="float64") for m in motifs.values()]
    subset = list(range(0, len(pwms), STEP))

    tomtom(pwms[:2], pwms)  # compile
    t0 = time.time()
    tomtom(pwms, pwms)
    print(f"memelite {memelite.__version__}: {len(pwms)} x {len(pwms)} in {time.time() - t0:.2f} s", file=sys.stderr)

    p, _scores, offsets, overlaps, strands = tomtom([pwms[i] for i in subset], pwms)
    with open(out_path, "w") as out:
        out.write(f"# memelite {memelite.__version__} tomtom (defaults) on {db_path.split('/')[-1]}: every {STEP}th motif\n")
        out.write("# against all motifs; written by scripts/motifs_reference.py\n")
        out.write("query\tself_p\tbest\tbest_p\tbest_offset\tbest_overlap\tbest_strand\tsecond\tsecond_p\n")
        for row, qi in enumerate(subset):
            order = [j for j in numpy.argsort(p[row], kind="stable") if j != qi]
            b, s = order[0], order[1]
            strand = "-" if strands[row, b] == 1 else "+"
            out.write(
                f"{ids[qi]}\t{p[row, qi]:.6e}\t{ids[b]}\t{p[row, b]:.6e}\t{int(offsets[row, b])}\t"
                f"{int(overlaps[row, b])}\t{strand}\t{ids[s]}\t{p[row, s]:.6e}\n"
            )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
