"""Aggregation over models: the mean score per sample and gene, top-gene lists, and the
combinations every figure and table compares.

Streams the per-model attribution files one at a time, so memory does not grow with the number
of models. Ties in a top-k list are broken by the canonical gene order. A model's scores are its
first replicate (replicate 0) wherever one explanation per model is meant: the mean over models
averages them, and "a single model" is the first model's (docs/architecture.md).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from txai import io, paths

log = logging.getLogger(__name__)


def model_scores(frame: pd.DataFrame, score: str = "abs_then_mean") -> pd.DataFrame:
    """Scores per (sample, replicate) from one attribution file.

    A file with an `estimate` column holds signed attributions per estimate: they are reduced
    here by the config's score definition. A file in long form (`rank`, `gene`, `score`: the
    per-sample top genes of a large sample set) becomes a dense table, genes outside a sample's
    top genes scoring 0. Otherwise the file already holds scores.
    """
    if "rank" in frame.columns:
        dense = frame.pivot_table(
            index=["sample", "replicate"], columns="gene", values="score", fill_value=0.0,
            sort=False,
        )  # fmt: skip
        return dense.reset_index().rename_axis(columns=None)
    if "estimate" not in frame.columns:
        return frame
    genes = [c for c in frame.columns if c not in ("sample", "replicate", "estimate")]
    values = frame[genes].abs() if score == "abs_then_mean" else frame[genes]
    keys = frame[["sample", "replicate"]]
    grouped = pd.concat([keys, values], axis=1).groupby(["sample", "replicate"], sort=False).mean()
    return (grouped if score == "abs_then_mean" else grouped.abs()).reset_index()


def read_scores(path, score: str, genes: list[str]) -> pd.DataFrame:
    """One model's scores indexed by (sample, replicate), one column per gene in `genes` order
    (the canonical order; long-form files score 0 outside a sample's top genes)."""
    scores = model_scores(io.read_wide(path).frame(), score).set_index(["sample", "replicate"])
    return scores.reindex(columns=genes, fill_value=0.0)


def mean_over_models(paths: list, score: str, genes: list[str]) -> pd.DataFrame:
    """Mean over models of each model's first replicate: `sample`, then one column per gene."""
    total = None
    for path in paths:
        first = read_scores(path, score, genes).xs(0, level="replicate")
        total = first if total is None else total + first.loc[total.index]
    return (total / len(paths)).astype(np.float32).reset_index()


def label(arch: str, explainer: str, aggregated: bool) -> str:
    """A combination's name as in the paper's Figure 3: "MLP DeepLift", "CNN-Agg Saliency"."""
    return f"{arch.upper()}{'-Agg' if aggregated else ''} {explainer}"


def combinations(means: list, singles: list, score: str, genes: list[str]):
    """(arch, explainer, aggregated, samples x genes scores) of every combination: each mean
    over models (aggregate files), then each single model (its attribution file: replicate 0,
    the explanation the mean averages)."""
    for path in means:
        found = paths.parse(path)
        yield (
            found.arch,
            found.explainer,
            True,
            io.read_wide(path).frame().set_index("sample")[genes],
        )
    for path in singles:
        found = paths.parse(path)
        scores = read_scores(path, score, genes).xs(0, level="replicate")
        yield found.arch, found.explainer, False, scores


def top_k(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the k largest per row; ties keep the lower index first."""
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(values, order, axis=1)


def top_table(mean: pd.DataFrame, classes: pd.Series, k: int) -> pd.DataFrame:
    """Per-sample top-k genes in long form: sample, class, rank, gene, score."""
    genes = np.array(mean.columns[1:])
    index, score = top_k(mean[genes].to_numpy(), k)
    n = len(mean)
    return pd.DataFrame(
        {
            "sample": np.repeat(mean["sample"].to_numpy(), index.shape[1]),
            "class": np.repeat(classes.loc[mean["sample"]].to_numpy(), index.shape[1]),
            "rank": np.tile(np.arange(1, index.shape[1] + 1), n),
            "gene": genes[index].ravel(),
            "score": score.ravel(),
        }
    )


def class_top(scores: pd.DataFrame, classes: pd.Series, k: int):
    """Top-k genes of each class by the mean score over its samples: (class names, gene index
    per class x rank, scores). `scores` is indexed by sample, one column per gene."""
    by_class = scores.groupby(classes.loc[scores.index].to_numpy()).mean()
    index, score = top_k(by_class.to_numpy(), k)
    return by_class.index, index, score


def class_table(mean: pd.DataFrame, classes: pd.Series, genes: pd.DataFrame, k: int):
    """Top-k genes of each class by the mean score over its explained samples."""
    gene_ids = list(mean.columns[1:])
    names, index, score = class_top(mean.set_index("sample"), classes, k)
    symbols = genes.set_index("gene")["symbol"].loc[gene_ids].to_numpy()
    rows = [
        {"class": c, "rank": r + 1, "gene": gene_ids[i], "symbol": symbols[i], "score": s}
        for c, idx, sc in zip(names, index, score, strict=True)
        for r, (i, s) in enumerate(zip(idx, sc, strict=True))
    ]
    return pd.DataFrame(rows)


FLAGS = {"ts": "TS", "housekeeping": "HK", "tf": "TF", "tf_cofactor": "TF_cofactor"}


def flag(table: pd.DataFrame, annotation, tests, sheet: pd.DataFrame) -> pd.DataFrame:
    """The top-gene table with TS / HK / TF / TF_cofactor flags (`annotation/genes.parquet`)
    and DE (normal vs cancer in the class's tissue, `differential/tests.parquet`; empty where
    the tissue was not tested)."""
    genes = io.read_table(annotation).set_index("gene")
    for column, name in FLAGS.items():
        table[name] = genes.loc[table["gene"], column].to_numpy()
    tissue = sheet.drop_duplicates("class").set_index("class")["tissue"]
    de = io.read_table(tests).set_index(["tissue", "gene"])["de"]
    keys = list(zip(tissue.loc[table["class"]], table["gene"], strict=True))
    table["DE"] = [de.get(key, pd.NA) for key in keys]
    return table


def run(
    *, attributions: list, samples, genes, score: str, k: int, out_mean, out_top, out_table,
    annotation=None, tests=None,
) -> None:  # fmt: skip
    """Write the mean over models, per-sample top-k (Parquet) and the top-gene table (TSV),
    flagged when the annotation and the normal-vs-cancer tests are given."""
    gene_table = io.read_table(genes)
    mean = mean_over_models(attributions, score, gene_table["gene"].tolist())
    sheet = io.read_table(samples)
    classes = sheet.set_index("sample")["class"]
    io.write_table(mean, out_mean)
    io.write_table(top_table(mean, classes, k), out_top)
    table = class_table(mean, classes, gene_table, k)
    if annotation is not None:
        table = flag(table, annotation, tests, sheet)
    with io.atomic_path(out_table) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    log.info(
        "%d models, %d samples, %d classes", len(attributions), len(mean), table["class"].nunique()
    )
