"""Simulation curves (Figure 2): reproducibility against the number n of averaged items.

An item is one stored estimate of a sample's attributions (a pseudo-sample, a repeat, a
reference) or one model's scores. A replicate is the score of n items drawn from the pool of M
stored items; the curve compares all C(K, 2) pairs of K replicates at each n
(PAPER-DIGEST.md section 5). With the default score this equals recomputing the explanations.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from txai import aggregate, io, paths, reproducibility
from txai.explainers import TABLE

log = logging.getLogger(__name__)

SCORES = ("abs_then_mean", "mean_then_abs")


def subsets(pool: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """K x n item indices from range(pool), K = max(floor(pool / n), 4).

    The K subsets are disjoint where K * n <= pool; otherwise each is drawn on its own, without
    replacement while n <= pool and with replacement beyond.
    """
    count = max(pool // n, 4)
    if count * n <= pool:
        return rng.permutation(pool)[: count * n].reshape(count, n)
    if n <= pool:
        return rng.permuted(np.tile(np.arange(pool), (count, 1)), axis=1)[:, :n]
    return rng.integers(0, pool, size=(count, n))


def replicate_scores(
    items: np.ndarray, index: np.ndarray, score: str = "abs_then_mean"
) -> np.ndarray:
    """Scores (K x genes) of the replicates whose items (rows of `items`) are the rows of `index`.

    `abs_then_mean` averages |items| over a subset; `mean_then_abs` takes |mean of items|.
    """
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; use one of {', '.join(SCORES)}.")
    items = np.asarray(items, dtype=np.float64)
    if score == "abs_then_mean":
        return np.abs(items)[index].mean(axis=1)
    return np.abs(items[index].mean(axis=1))


def curve(
    items: np.ndarray,
    ns,
    rng: np.random.Generator,
    score: str = "abs_then_mean",
    k: int = 100,
) -> pd.DataFrame:
    """Rho and top-k overlap of every pair of replicates, for each n: `n`, `pair`, `rho`, `overlap`.

    `items` is pool x genes. Replicates follow `subsets`: K = max(floor(M / n), 4) of them,
    disjoint where the pool of M allows, drawn with replacement only when n > M.
    """
    tables = []
    for n in ns:
        scores = replicate_scores(items, subsets(len(items), int(n), rng), score)
        table = reproducibility.compare(scores, reproducibility.all_pairs(len(scores)), k)
        table.insert(0, "n", int(n))
        tables.append(table[["n", "pair", "rho", "overlap"]])
    return pd.concat(tables, ignore_index=True)


# --- The workflow's curves ----------------------------------------------------------------------

CURVES = ("pseudo-samples", "repeats", "references")  # from stored estimates; then "models"


def settings(config: dict) -> dict[str, dict]:
    """The explain settings the estimate curves need: {name: {arch: strategy}}.

    Each keeps its `pool` estimates per model and sample, for the normal test samples of the
    focus tissues (`samples` a class): pseudo-samples are SmoothGrad copies of one repeat;
    repeats each draw their own dropout mask and one reference of the architecture's type
    (`reference`); a reference curve does the same with one reference type, for
    explainers that use references only (see `sources`).
    """
    pool, ref = config["pool"], config["reference"]
    spec = {"split": "test", "tissues": "focus", "status": "normal", "per_class": config["samples"]}
    common = {"keep_estimates": True, "samples": spec, "replicates": 1}

    def each(**strategy):
        return {
            arch: {**common, "references": {"type": ref[arch], "count": 1}, **strategy}
            for arch in ("mlp", "cnn")
        }

    out = {
        "curve_pseudo_samples": each(smoothgrad={"copies": pool, "sd": config["sd"]}),
        "curve_repeats": each(repeats=pool),
    }
    for kind in config["reference_types"]:
        out[f"curve_references_{kind}"] = each(repeats=pool, references={"type": kind, "count": 1})
    return out


def sources(config: dict, arch: str, explainers: list) -> list[tuple]:
    """(curve, reference type, setting, explainer) of every estimate curve of an architecture.

    The reference curve of the architecture's own type is its repeats curve (the same recipe),
    so it is read from there instead of computed twice.
    """
    own = config["reference"][arch]
    out = []
    for explainer in explainers:
        references = TABLE[explainer].references
        kind = own if references else ""
        out.append(("pseudo-samples", kind, "curve_pseudo_samples", explainer))
        out.append(("repeats", kind, "curve_repeats", explainer))
        if references:
            for ref in config["reference_types"]:
                setting = "curve_repeats" if ref == own else f"curve_references_{ref}"
                out.append(("references", ref, setting, explainer))
    return out


def estimate_curve(items: np.ndarray, ns, rng, score: str, k: int) -> pd.DataFrame:
    """One sample's curve from stored estimates: `items` is models x pool x genes (signed).

    At each n every model's replicate averages n of its own estimates (without replacement
    while n <= pool, with replacement beyond); all pairs of models are compared.
    """
    models, pool, ns = *items.shape[:2], np.asarray(list(ns))
    magnitude = np.abs(items) if score == "abs_then_mean" else items
    replicates = np.stack([
        [magnitude[m, rng.choice(pool, n, replace=n > pool)].mean(0) for m in range(models)]
        for n in ns
    ])  # fmt: skip
    if score == "mean_then_abs":
        replicates = np.abs(replicates)
    pairs, rho, shared = reproducibility.within_blocks(replicates, k)
    return pd.DataFrame(
        {"n": np.repeat(ns, len(pairs)), "pair": np.tile(np.arange(len(pairs)), len(ns)),
         "rho": rho.ravel(), "overlap": shared.ravel()}
    )  # fmt: skip


def run(
    *, estimates: list, scores: list, samples, genes, config: dict, score: str, k: int,
    seed: int, out,
) -> None:  # fmt: skip
    """All curves of Figure 2 A-D and S4 in one tidy table: arch, explainer, curve, reference,
    n, sample, tissue, pair, rho, overlap.

    `estimates`: the curve settings' files (attributions/{arch}/{explainer}/{setting}/
    {model}.parquet, with `estimate`); `scores`: every model's files of `config["setting"]`,
    for the aggregation curve.
    """
    gene_ids = io.read_table(genes)["gene"].tolist()
    sheet = io.read_table(samples).set_index("sample")
    normal = set(sheet.index[sheet["status"] == "normal"])
    files = {}
    for path in [*estimates, *scores]:
        files.setdefault(paths.parse(path)[:3], []).append(path)
    tables = []
    for arch in ("mlp", "cnn"):
        explainers = sorted({e for a, e, _ in files if a == arch})
        series = sources(config, arch, explainers)
        series += [("models", "", config["setting"], e) for e in explainers]
        for curve, ref, setting, explainer in series:
            found = sorted(files.get((arch, explainer, setting), []))
            if not found:
                continue
            rng = io.rng(seed, "simulate", arch, explainer, curve, ref)  # the stream's name
            table = (models_curve if curve == "models" else _estimate_series)(
                found, gene_ids, config, score, k, rng, normal
            )
            table.insert(0, "reference", ref)
            table.insert(0, "curve", curve)
            table.insert(0, "explainer", explainer)
            table.insert(0, "arch", arch)
            tables.append(table)
            log.info("%s %s %s %s: %d rows", arch, explainer, curve, ref, len(table))
    curves = pd.concat(tables, ignore_index=True)
    curves.insert(6, "tissue", sheet.loc[curves["sample"], "tissue"].to_numpy())
    io.write_table(curves, out)


def _estimate_series(paths, gene_ids, config, score, k, rng, normal) -> pd.DataFrame:
    """The curve of one (arch, explainer, setting) over its samples (the curve settings explain
    normal samples only), from the models' files."""
    frames = [io.read_wide(p).frame() for p in paths]
    samples = list(dict.fromkeys(frames[0]["sample"]))
    ns = range(1, config["max_n"] + 1)
    tables = []
    for sample in samples:
        items = np.stack([
            f.loc[(f["sample"] == sample) & (f["replicate"] == 0), gene_ids].to_numpy()
            for f in frames
        ])  # fmt: skip
        table = estimate_curve(items, ns, rng, score, k)
        table.insert(1, "sample", sample)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def models_curve(paths, gene_ids, config, score, k, rng, normal) -> pd.DataFrame:
    """The aggregation curve: replicates average n models' scores (`curve`), per sample; the
    `normal` samples among them, as for the other curves, when there are any."""
    first = [aggregate.read_scores(p, score, gene_ids).xs(0, level="replicate") for p in paths]
    samples = [s for s in first[0].index if s in normal] or first[0].index.tolist()
    ns = range(1, min(config["max_models"], len(paths)) + 1)
    tables = []
    for sample in samples:
        items = np.stack([f.loc[sample].to_numpy() for f in first])
        table = curve(items, ns, rng, "abs_then_mean", k)
        table.insert(1, "sample", sample)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)
