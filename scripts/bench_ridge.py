#!/usr/bin/env python3
"""Benchmark: `s2f ridge fit` against scikit-learn on FT_S2A's problem size.

25,861 genes x 357 features (predicted CAGE) -> 37 targets (cell types), 5 folds x 10 alphas,
per-target alpha. Synthetic data with the same shapes (positive, correlated features; log1p).

scikit-learn is timed two ways on the same z-scored log1p matrix:
  - GridSearchCV(Ridge(), 10 alphas, cv=KFold(5), neg MSE) per target: the same computation
    as s2f (per-target alpha by 5-fold CV), 37 x 50 fits;
  - RidgeCV(alphas, cv=KFold(5)) on all targets at once: one shared alpha (less than s2f does).

Usage (a venv with scikit-learn==1.6.1, numpy, pyarrow):
  python scripts/bench_ridge.py --s2f target/release/s2f [--genes 25861 --features 357 --targets 37]
"""
import argparse
import os
import subprocess
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import StandardScaler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--s2f", default="target/release/s2f")
    ap.add_argument("--genes", type=int, default=25861)
    ap.add_argument("--features", type=int, default=357)
    ap.add_argument("--targets", type=int, default=37)
    ap.add_argument("--skip-grid", action="store_true", help="skip the per-target GridSearchCV (slow)")
    a = ap.parse_args()
    rng = np.random.default_rng(1)
    n, p, t = a.genes, a.features, a.targets
    latent = rng.normal(size=(n, 20))
    feats = np.exp(latent @ rng.normal(size=(20, p)) * 0.3 + rng.normal(scale=0.5, size=(n, p)))
    y = np.log1p(feats) @ rng.normal(size=(p, t)) * 0.05 + rng.normal(size=(n, t)) + 5
    targets = np.expm1(np.clip(y, 0, None))
    ids = [f"G{i}" for i in range(n)]
    alphas = [10 ** (-3 + 7 * k / 9) for k in range(10)]
    with tempfile.TemporaryDirectory() as d:
        fcols = {"gene_id": ids} | {f"CNhs{j}": feats[:, j] for j in range(p)}
        tcols = {"gene_id": ids} | {f"cell{k}": targets[:, k] for k in range(t)}
        pq.write_table(pa.table(fcols), f"{d}/f.parquet")
        pq.write_table(pa.table(tcols), f"{d}/t.parquet")
        cmd = [a.s2f, "ridge", "fit", "--features", f"{d}/f.parquet", "--targets", f"{d}/t.parquet",
               "--log1p-features", "--log1p-targets", "--cv", "5", "--out", f"{d}/out"]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        s2f_total = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        fitted = [l for l in r.stderr.splitlines() if "fitted in" in l]
        print(f"s2f ridge fit: {s2f_total:.2f} s wall in all (read, fit, write, plots); {fitted[-1].split('INFO')[-1].strip() if fitted else ''}")

    X = StandardScaler().fit_transform(np.log1p(feats))
    Y = np.log1p(targets)
    t0 = time.perf_counter()
    RidgeCV(alphas=alphas, cv=KFold(5), scoring="neg_mean_squared_error").fit(X, Y)
    print(f"scikit-learn RidgeCV(cv=KFold(5)), one alpha for all targets: {time.perf_counter() - t0:.2f} s")
    if not a.skip_grid:
        t0 = time.perf_counter()
        for k in range(t):
            GridSearchCV(Ridge(), {"alpha": alphas}, cv=KFold(5), scoring="neg_mean_squared_error").fit(X, Y[:, k])
        print(f"scikit-learn GridSearchCV per target ({t} x 50 fits): {time.perf_counter() - t0:.2f} s")
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, cores {os.cpu_count()}")


if __name__ == "__main__":
    main()
