#!/usr/bin/env python3
"""Expected values of `s2f ridge fit` from scikit-learn, on a small synthetic gene table.

Writes into tests/fixtures/ridge/ (run from the repository root, in a scratch venv with
scikit-learn==1.6.1 and numpy):

  features.tsv   gene_id, gene_name, chrom, tss, n_tss, 12 positive "predicted CAGE" columns
  targets.tsv    gene_id, chrom and 4 expression columns (genes in another order, some missing)
  folds.txt      an `s2f folds` file: 3 sets of chromosomes
  expected.tsv   case, target, key, value

Set-up (the s2f conventions): inner join on gene_id in the features table's order; log1p of
features and targets; genes on chr6 held out; features z-scored with the training genes' mean and
population deviation (sklearn's StandardScaler); Ridge(alpha, fit_intercept=True) per target;
coefficients reported on the log1p features (unscaled): w / sd, b - sum(w / sd * mean).

Cases:
  fixed_A        one alpha A: intercept and coefficients of each target
  kfold5 / folds GridSearchCV over the grid with KFold(5) (no shuffle) or the chromosome folds,
                 scoring neg_mean_squared_error, refit per target: best alpha, the mean CV MSE of
                 each alpha, the refit intercept and coefficients, held-out Pearson per target
  genes          per held-out gene Pearson across targets (targets z-scored across held-out
                 genes, prediction and observation alike), for the kfold5 fit
"""
import os

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import StandardScaler

OUT = "tests/fixtures/ridge"
GRID = [10 ** (-3 + 7 * k / 9) for k in range(10)]


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261203)
    n, p, t = 240, 12, 4
    chroms = np.array([f"chr{1 + (i * 7) % 6}" for i in range(n)])
    latent = rng.normal(size=(n, 3))
    mix = rng.normal(size=(3, p))
    feats = np.exp(latent @ mix * 0.6 + rng.normal(scale=0.4, size=(n, p)) + 1.0)
    feats[:, 5] = 2.0  # a constant column (scale 1 in StandardScaler)
    w_true = rng.normal(size=(p, t))
    y_log = np.log1p(feats) @ w_true * 0.3 + rng.normal(scale=0.5, size=(n, t)) + 3.0
    targets = np.expm1(np.clip(y_log, 0.01, None))
    ids = [f"ENSG{i:05d}" for i in range(n)]
    fnames = [f"CNhs{11000 + j}" for j in range(p)]
    tnames = [f"cell_{k}" for k in range(t)]

    with open(f"{OUT}/features.tsv", "w") as f:
        f.write("\t".join(["gene_id", "gene_name", "chrom", "tss", "n_tss"] + fnames) + "\n")
        for i in range(n):
            vals = [repr(float(v)) for v in feats[i]]
            f.write("\t".join([ids[i], f"G{i}", chroms[i], str(1000 * i), "1"] + vals) + "\n")
    # Targets: reversed order, the last 3 feature genes missing, 2 genes without features.
    keep = list(range(n - 3))[::-1]
    with open(f"{OUT}/targets.tsv", "w") as f:
        f.write("\t".join(["gene_id", "chrom"] + tnames) + "\n")
        for i in keep:
            f.write("\t".join([ids[i], chroms[i]] + [repr(float(v)) for v in targets[i]]) + "\n")
        f.write("\t".join(["ENSGX1", "chr1"] + ["1.0"] * t) + "\n")
        f.write("\t".join(["ENSGX2", "chr2"] + ["2.0"] * t) + "\n")
    sets = [["chr1", "chr4"], ["chr2", "chr5"], ["chr3", "chr6"]]
    with open(f"{OUT}/folds.txt", "w") as f:
        for j, s in enumerate(sets):
            f.write(f"# Set_{j}\n" + "\n".join(s) + "\n")

    rows = list(range(n - 3))  # joined genes, features order
    X = np.log1p(feats[rows])
    Y = np.log1p(targets[rows])
    ch = chroms[rows]
    train = np.array([c != "chr6" for c in ch])
    test = ~train
    scaler = StandardScaler().fit(X[train])
    Z = scaler.transform(X)
    out = []

    def unscale(w, b):
        w0 = w / scaler.scale_
        return w0, b - np.sum(w0 * scaler.mean_)

    def emit_fit(case, k, w, b):
        w0, b0 = unscale(w, b)
        out.append((case, tnames[k], "intercept", b0))
        for j in range(p):
            out.append((case, tnames[k], fnames[j], w0[j]))

    for alpha in [0.5, 100.0]:
        for k in range(t):
            m = Ridge(alpha=alpha).fit(Z[train], Y[train, k])
            emit_fit(f"fixed_{alpha:g}", k, m.coef_, m.intercept_)

    ztr, ytr, chtr = Z[train], Y[train], ch[train]
    set_of = {c: j for j, s in enumerate(sets) for c in s}
    group = np.array([set_of[c] for c in chtr])
    group_splits = [(np.where(group != g)[0], np.where(group == g)[0]) for g in sorted(set(group))]
    preds = {}
    for case, cv in [("kfold5", KFold(5)), ("folds", group_splits)]:
        pred = np.zeros((test.sum(), t))
        for k in range(t):
            gs = GridSearchCV(Ridge(), {"alpha": GRID}, cv=cv, scoring="neg_mean_squared_error")
            gs.fit(ztr, ytr[:, k])
            out.append((case, tnames[k], "best_alpha", gs.best_params_["alpha"]))
            for a, s in zip(GRID, gs.cv_results_["mean_test_score"]):
                out.append((case, tnames[k], f"alpha={a:e}", -s))
            m = gs.best_estimator_
            emit_fit(case, k, m.coef_, m.intercept_)
            pred[:, k] = m.predict(Z[test])
            out.append((case, tnames[k], "test_pearson", np.corrcoef(pred[:, k], Y[test, k])[0, 1]))
        preds[case] = pred
    zs = lambda a: (a - a.mean(0)) / a.std(0)
    zp, zo = zs(preds["kfold5"]), zs(Y[test])
    test_ids = [ids[r] for r, keep_ in zip(rows, test) if keep_]
    for g, a, b in zip(test_ids, zp, zo):
        out.append(("genes", g, "pearson", np.corrcoef(a, b)[0, 1]))

    with open(f"{OUT}/expected.tsv", "w") as f:
        f.write("case\ttarget\tkey\tvalue\n")
        for c, tg, key, v in out:
            f.write(f"{c}\t{tg}\t{key}\t{float(v)!r}\n")


if __name__ == "__main__":
    main()
