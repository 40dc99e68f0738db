#!/usr/bin/env python3
"""A planted regulatory task in real sequence, to check that `s2f train` converges with its defaults.

Windows of 401 bp are cut, without overlap, from real hg38 (and hg19) sequence; 0–3 motif sites are
planted in each (a GATA site AGATAAGG and an E-box CACGTG with flanks, either strand, anywhere but
the edges); the targets are three tracks that a convolutional model has to learn from those sites
and from the real sequence around them:

    gata  = 1.0·n_gata + 0.3·(GC fraction − 0.4)·10 + noise
    ebox  = 1.5·n_ebox·(1 if a GATA site lies within 60 bp of it, else 0.4) + noise   (cooperativity)
    mixed = log1p(n_gata + 2·n_ebox) + noise

noise is normal with σ = 0.15. Writes OUT/onehot.npz (seqfeatures (N, 401, 4), genenames),
OUT/targets.csv (`# name,gata,ebox,mixed`) and OUT/split.txt (every 10th window valid, the next
test, the rest train). Different from the task in tests/train.rs (other motifs, GC and spacing
terms, Gaussian noise, non-overlapping windows from two genomes).

usage: planted_task.py GENOME_DIR OUT [--seed 7]
"""
import argparse
import gzip
import os

import numpy as np

GATA = "AGATAAGG"
EBOX = "GCCACGTGAC"
LEN = 401


def read_fasta(path):
    opener = gzip.open if path.endswith(".gz") else open
    seqs, name, parts = {}, None, []
    with opener(path, "rt") as f:
        for line in f:
            line = line.strip()
            if line.startswith(">"):
                if name:
                    seqs[name] = "".join(parts)
                name, parts = line[1:].split()[0], []
            else:
                parts.append(line.upper())
    if name:
        seqs[name] = "".join(parts)
    return seqs


def rc(s):
    return s[::-1].translate(str.maketrans("ACGT", "TGCA"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("genome_dir")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    windows = []
    for fa in ("hg38_chr1_1mb.fa.gz", "gata4_hg19.fa"):
        for chrom, seq in read_fasta(os.path.join(a.genome_dir, fa)).items():
            for start in range(0, len(seq) - LEN + 1, LEN):
                w = seq[start : start + LEN]
                if set(w) <= set("ACGT"):
                    windows.append((f"{fa.split('_')[0]}:{chrom}:{start}-{start + LEN}", w))
    names, x, rows = [], np.zeros((len(windows), LEN, 4), np.float32), []
    lut = {c: i for i, c in enumerate("ACGT")}
    for k, (name, w) in enumerate(windows):
        w = list(w)
        sites = []
        for _ in range(rng.integers(0, 4)):
            motif = GATA if rng.random() < 0.5 else EBOX
            at = int(rng.integers(20, LEN - 20 - len(motif)))
            if any(abs(at - s) < 12 for s, _ in sites):
                continue
            w[at : at + len(motif)] = motif if rng.random() < 0.5 else rc(motif)
            sites.append((at, motif))
        w = "".join(w)
        gata = [s for s, m in sites if m == GATA]
        ebox = [s for s, m in sites if m == EBOX]
        gc = (w.count("G") + w.count("C")) / LEN
        coop = sum(1.0 if any(abs(e - g) <= 60 for g in gata) else 0.4 for e in ebox)
        noise = rng.normal(0, 0.15, 3)
        rows.append(
            (
                len(gata) + 3.0 * (gc - 0.4) + noise[0],
                1.5 * coop + noise[1],
                np.log1p(len(gata) + 2 * len(ebox)) + noise[2],
            )
        )
        for i, c in enumerate(w):
            x[k, i, lut[c]] = 1.0
        names.append(name)
    os.makedirs(a.out, exist_ok=True)
    np.savez(os.path.join(a.out, "onehot.npz"), seqfeatures=x, genenames=np.array(names))
    with open(os.path.join(a.out, "targets.csv"), "w") as f:
        f.write("# name,gata,ebox,mixed\n")
        for n, r in zip(names, rows):
            f.write(f"{n},{r[0]:.6f},{r[1]:.6f},{r[2]:.6f}\n")
    with open(os.path.join(a.out, "split.txt"), "w") as f:
        for i, n in enumerate(names):
            f.write(f"{n} {['valid', 'test'][i % 10] if i % 10 < 2 else 'train'}\n")
    print(f"{len(names)} windows -> {a.out}")


if __name__ == "__main__":
    main()
