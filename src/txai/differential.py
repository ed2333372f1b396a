"""Differential expression between a tissue's normal and cancer samples, and the top genes'
relation to it (digest section 6, Figure 5).

DE is a two-sided Mann-Whitney U test per gene on TPM, BH FDR <= 0.001 and a fold change of mean
TPM (not logged) >= 3 in either direction. The test is vectorised over genes: the pooled samples
are ranked once per gene, so a whole genome takes one sort instead of 20,000 scipy calls.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
from scipy.special import ndtr

from txai import io, paths
from txai.aggregate import class_top, label, top_table
from txai.stats import bh

log = logging.getLogger(__name__)

DE_COLUMNS = [
    "gene",
    "u",
    "p",
    "fdr",
    "mean_tpm_normal",
    "mean_tpm_cancer",
    "fold_change",
    "direction",
    "de",
]
CANCER_GENE_COLUMNS = ["gene", "role"]
CANCER_GENE_ROLES = ("oncogene", "tumour suppressor")


def _average_ranks(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks (1-based) down each column of `x` (samples x genes), and each column's tie
    term sum(t^3 - t) over its groups of t equal values (the variance's tie correction)."""
    rows = np.ascontiguousarray(x.T)  # genes x samples: each gene's sort runs on contiguous memory
    genes, n = rows.shape
    order = np.argsort(rows, axis=1)
    ordered = np.take_along_axis(rows, order, axis=1)
    new = np.ones(rows.shape, dtype=bool)
    new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]  # first of a run of equal values
    # Runs of equal values over the flattened matrix; each gene's first value starts one, so no
    # run crosses from one gene into the next.
    starts = np.flatnonzero(new)
    lengths = np.diff(starts, append=genes * n)
    average = starts % n + (lengths + 1) / 2  # 1-based average rank of each run
    ranks = np.empty(rows.shape)
    np.put_along_axis(ranks, order, np.repeat(average, lengths).reshape(genes, n), axis=1)
    t = lengths.astype(float)
    tie_term = np.bincount(starts // n, weights=t**3 - t, minlength=genes)
    return ranks.T, tie_term


def mann_whitney(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Mann-Whitney U test of every gene at once: `a` is n1 x genes, `b` n2 x genes.

    Returns (U of `a`, p) per gene, equal to scipy's `mannwhitneyu(a, b, method="asymptotic",
    use_continuity=True, alternative="two-sided", axis=0)`: normal approximation with tie-corrected
    variance and continuity correction 0.5. A gene whose values are all equal gets p = 1 (scipy
    gives 1 or NaN there, by rounding: no evidence of a difference, and BH needs a number).
    Computed in float64 whatever the input (scipy keeps float32 input in float32). No NaN input.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
        raise ValueError(
            f"mann_whitney needs two non-empty samples x genes arrays with the same genes; got "
            f"shapes {a.shape} and {b.shape}"
        )
    n1, n2 = len(a), len(b)
    n = n1 + n2
    pooled = np.concatenate([a, b], axis=0)
    ranks, tie_term = _average_ranks(pooled)
    u1 = ranks[:n1].sum(axis=0) - n1 * (n1 + 1) / 2
    u = np.maximum(u1, n1 * n2 - u1)
    sd = np.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    constant = (pooled == pooled[0]).all(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (u - n1 * n2 / 2 - 0.5) / sd
    p = np.clip(2 * ndtr(-z), 0.0, 1.0)
    p[constant] = 1.0
    return u1, p


def fold_change(mean_normal: np.ndarray, mean_cancer: np.ndarray) -> np.ndarray:
    """Mean cancer TPM / mean normal TPM; inf where only the normal mean is 0, 1 where both are."""
    mean_normal = np.asarray(mean_normal, dtype=float)
    mean_cancer = np.asarray(mean_cancer, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean_cancer / mean_normal
    return np.where((mean_normal == 0) & (mean_cancer == 0), 1.0, ratio)


def test_pair(
    normal: np.ndarray,
    cancer: np.ndarray,
    genes: list[str],
    fdr: float = 0.001,
    fold: float = 3,
) -> pd.DataFrame:
    """DE of every gene between a tissue's normal and cancer samples (TPM, samples x genes).

    One row per gene, columns `DE_COLUMNS`: `u` is the U of the cancer samples (above
    n_normal * n_cancer / 2 when cancer is higher), `fdr` the BH-adjusted p, `direction` "up",
    "down" or "" for a fold change of exactly 1, and `de` whether fdr <= `fdr` and the fold change
    is at least `fold` either way (cancer/normal >= fold or normal/cancer >= fold).
    """
    normal = np.asarray(normal, dtype=float)
    cancer = np.asarray(cancer, dtype=float)
    if normal.shape[1:] != (len(genes),) or cancer.shape[1:] != (len(genes),):
        raise ValueError(
            f"test_pair: normal {normal.shape} and cancer {cancer.shape} must be samples x "
            f"{len(genes)} genes"
        )
    u, p = mann_whitney(cancer, normal)
    adjusted = bh(p)
    mean_normal = normal.mean(axis=0)
    mean_cancer = cancer.mean(axis=0)
    change = fold_change(mean_normal, mean_cancer)
    with np.errstate(divide="ignore"):
        magnitude = np.where(change >= 1, change, 1 / change)
    direction = np.where(change > 1, "up", np.where(change < 1, "down", ""))
    return pd.DataFrame(
        {
            "gene": list(genes),
            "u": u,
            "p": p,
            "fdr": adjusted,
            "mean_tpm_normal": mean_normal,
            "mean_tpm_cancer": mean_cancer,
            "fold_change": change,
            "direction": direction,
            "de": (adjusted <= fdr) & (magnitude >= fold),
        },
        columns=DE_COLUMNS,
    )


test_pair.__test__ = False  # a library function, not a pytest test


def top_share(top: set[str], de: set[str], universe: list[str]) -> tuple[float, float]:
    """(share of the top genes that are DE, share of the universe that is DE = chance).

    The universe is the genes the models use; NaN for an empty top set or universe.
    """
    universe = set(universe)
    share = len(set(top) & set(de)) / len(top) if top else float("nan")
    chance = len(set(de) & universe) / len(universe) if universe else float("nan")
    return share, chance


def status_split(normal_top: set[str], cancer_top: set[str]) -> dict[str, list[str]]:
    """Top genes found only in the normal tissue, only in its cancer, or in both (Figure 5B)."""
    normal_top, cancer_top = set(normal_top), set(cancer_top)
    return {
        "only normal": sorted(normal_top - cancer_top),
        "only cancer": sorted(cancer_top - normal_top),
        "both": sorted(normal_top & cancer_top),
    }


def shared_top(top: pd.DataFrame, k: int = 100, min_samples: int = 2) -> pd.DataFrame:
    """Genes in the top `k` of at least `min_samples` samples of a class.

    `top` is long form (sample, class, rank, gene, score; rank 1 = best). Returns columns class,
    gene, samples (how many of the class's samples have the gene in their top `k`), sorted by class,
    then samples descending, then gene.
    """
    kept = top.loc[top["rank"] <= k, ["class", "sample", "gene"]].drop_duplicates()
    counts = kept.groupby(["class", "gene"]).size().rename("samples").reset_index()
    counts = counts[counts["samples"] >= min_samples]
    counts = counts.sort_values(["class", "samples", "gene"], ascending=[True, False, True])
    return counts.reset_index(drop=True).astype({"samples": int})


def read_cancer_genes(path: str | os.PathLike) -> pd.DataFrame:
    """Read an OncoKB-style list: columns `gene` (symbol) and `role` ("oncogene", "tumour
    suppressor", or both joined by ";").

    Returns gene, role and the flags `oncogene` and `tumour_suppressor` (bool) for the heatmap.
    """
    table = io.read_user_table(path, dtype=str, keep_default_na=False)
    for column in CANCER_GENE_COLUMNS:
        if column not in table.columns:
            raise io.InputError(
                f"{path}: missing column '{column}'; a cancer gene list needs the columns 'gene' "
                f"and 'role' (found {list(table.columns)})."
            )
    table = table[CANCER_GENE_COLUMNS].apply(lambda c: c.str.strip())
    roles = table["role"].str.split(";").map(lambda parts: [r.strip() for r in parts])
    for i, (gene, parts) in enumerate(zip(table["gene"], roles, strict=True)):
        bad = [r for r in parts if r not in CANCER_GENE_ROLES]
        if not gene or bad:
            what = "an empty gene" if not gene else f"gene '{gene}' has role '{';'.join(parts)}'"
            raise io.InputError(
                f"{path}: row {i + 2}: {what}. Each row needs a gene symbol and a role of "
                f"{' or '.join(repr(r) for r in CANCER_GENE_ROLES)}, or both joined by ';'."
            )
    duplicated = table["gene"][table["gene"].duplicated()]
    if len(duplicated):
        raise io.InputError(
            f"{path}: gene '{duplicated.iloc[0]}' appears more than once. List each gene once, "
            "with both roles joined by ';' if it has both."
        )
    table["oncogene"] = roles.map(lambda parts: "oncogene" in parts).astype(bool)
    table["tumour_suppressor"] = roles.map(lambda parts: "tumour suppressor" in parts).astype(bool)
    return table.reset_index(drop=True)


# --- The workflow's steps -------------------------------------------------------------------------


def run_tests(
    *, expression, samples, genes, config: dict, focus_tissues: list, out_tests, out_truth
) -> None:
    """`differential/tests.parquet`: one row per gene and focus tissue with normal and cancer
    samples (tissue, then DE_COLUMNS; no rows where none has both); for a cohort with planted
    truth, recall and precision of the DE calls per tissue."""
    sample_ids, gene_ids, x = io.read_expression(expression)
    sheet = io.read_table(samples).set_index("sample").loc[sample_ids]
    tpm = np.exp2(x.astype(np.float64)) - 1
    tables = []
    for tissue in focus_tissues:
        rows = sheet["tissue"].to_numpy() == tissue
        normal, cancer = (rows & (sheet["status"] == s).to_numpy() for s in ("normal", "cancer"))
        if not (normal.any() and cancer.any()):
            log.info("%s: not tested, it has no %s samples", tissue,
                     "normal" if not normal.any() else "cancer")  # fmt: skip
            continue
        table = test_pair(tpm[normal], tpm[cancer], gene_ids, config["fdr"], config["fold_change"])
        table.insert(0, "tissue", tissue)
        tables.append(table)
        log.info("%s: %d of %d genes DE", tissue, table["de"].sum(), len(table))
    if not tables:
        log.warning("no focus tissue has normal and cancer samples: nothing to test")
        numbers = {c: float for c in DE_COLUMNS if c not in ("gene", "direction", "de")}
        tables = [pd.DataFrame(columns=["tissue", *DE_COLUMNS]).astype(numbers | {"de": bool})]
    tests = pd.concat(tables, ignore_index=True)
    io.write_table(tests, out_tests)
    annotation = io.read_table(genes).set_index("gene")
    truth = de_truth(tests, annotation, sheet) if "truth_role" in annotation else pd.DataFrame()
    with io.atomic_path(out_truth) as tmp:
        truth.to_csv(tmp, sep="\t", index=False, float_format="%.4g")


def de_truth(tests: pd.DataFrame, annotation: pd.DataFrame, sheet: pd.DataFrame) -> pd.DataFrame:
    """Per tissue: recall of the planted cancer up/down genes among DE genes, and precision:
    DE genes planted to differ between the tissue's normal and cancer classes (cancer up, down
    or only, or markers of one of the two classes)."""
    rows = []
    for tissue, table in tests.groupby("tissue", sort=False):
        classes = set(sheet.loc[sheet["tissue"] == tissue, "class"])
        info = annotation.loc[table["gene"]]
        marks = pd.Series(
            [bool(classes & set(m.split(";"))) for m in info["truth_classes"].fillna("")]
        )
        role = info["truth_role"].to_numpy()
        updown = np.isin(role, ["cancer_up", "cancer_down"]) & marks.to_numpy()
        differing = np.isin(role, ["cancer_up", "cancer_down", "cancer_only", "tissue_enriched",
                                   "group_enriched"]) & marks.to_numpy()  # fmt: skip
        de = table["de"].to_numpy()
        rows.append({"tissue": tissue, "planted_up_down": updown.sum(),
                     "found_de": (de & updown).sum(), "recall": (de & updown).sum() / updown.sum(),
                     "de_genes": de.sum(), "planted_among_de": (de & differing).sum(),
                     "precision": (de & differing).sum() / max(de.sum(), 1)})  # fmt: skip
    return pd.DataFrame(rows)


def class_tops(means: list, sheet: pd.DataFrame, k: int):
    """(arch, explainer, class, its top-k genes by the mean score over its explained samples)
    of every aggregated combination."""
    for path in means:
        arch, explainer = paths.parse(path)[:2]
        scores = io.read_wide(path).frame().set_index("sample")
        names, index, _ = class_top(scores, sheet["class"], k)
        for c, idx in zip(names, index, strict=True):
            yield arch, explainer, c, scores.columns[idx].tolist()


def roles_of(genes, symbols: pd.Series, listed: pd.DataFrame | None) -> list[str]:
    """The cancer-gene role of each gene id, looked up by its symbol (as OncoKB lists them) or
    by the id itself; "" for genes not listed."""
    if listed is None:
        return [""] * len(genes)
    role = listed.set_index("gene")["role"]
    return [role.get(symbols.get(g, g), role.get(g, "")) for g in genes]


def run_top_genes(
    *, means: list, expression, samples, genes, tests, cancer_genes, config: dict, k: int,
    focus_tissues: list, out: dict,
) -> None:  # fmt: skip
    """DE shares of the class top genes (Figure 5A), their normal / cancer split (5B) and the
    shared top genes of each cancer class (5C)."""
    sample_ids, gene_ids, x = io.read_expression(expression)
    sheet = io.read_table(samples).set_index("sample")
    symbols = io.read_table(genes).set_index("gene")["symbol"]
    table = io.read_table(tests)
    de = {t: set(g["gene"][g["de"]]) for t, g in table.groupby("tissue")}
    log2 = pd.DataFrame(x, index=sample_ids, columns=gene_ids)
    shares, splits, tops = [], [], {}
    for arch, explainer, c, genes in class_tops(means, sheet, k):
        combination = label(arch, explainer, True)
        tissue = sheet.loc[sheet["class"] == c, "tissue"].iloc[0]
        status = sheet.loc[sheet["class"] == c, "status"].iloc[0]
        tops[(combination, tissue, status)] = genes
        if tissue in de:
            share, chance = top_share(set(genes), de[tissue], gene_ids)
            shares.append({"arch": arch, "explainer": explainer, "aggregated": True,
                           "tissue": tissue, "class": c, "status": status, "top_k": k,
                           "de_share": share, "chance": chance})  # fmt: skip
    for (combination, tissue, status), genes in tops.items():
        if status != "normal" or combination not in config["split_combinations"]:
            continue
        cancer = tops.get((combination, tissue, "cancer"))
        if cancer is None:
            continue
        for where, members in status_split(set(genes), set(cancer)).items():
            means_by = {s: log2.loc[sheet.index[(sheet["tissue"] == tissue)
                                                & (sheet["status"] == s)], members].mean()
                        for s in ("normal", "cancer")}  # fmt: skip
            splits.append(pd.DataFrame(
                {"combination": combination, "tissue": tissue, "gene": members, "where": where,
                 "log2_normal": means_by["normal"].to_numpy(),
                 "log2_cancer": means_by["cancer"].to_numpy()}
            ))  # fmt: skip
    shared = pd.DataFrame(columns=["class", "gene", "samples", "role"])
    for path in means:
        arch, explainer = paths.parse(path)[:2]
        if label(arch, explainer, True) != config["shared_combination"]:
            continue
        mean = io.read_wide(path).frame()
        cancer = mean[sheet.loc[mean["sample"], "status"].eq("cancer").to_numpy()]
        long = top_table(cancer, sheet["class"], k)
        shared = shared_top(long, k, config["shared_min_samples"])
        listed = read_cancer_genes(cancer_genes) if cancer_genes else None
        shared["role"] = roles_of(shared["gene"], symbols, listed)
    share_columns = ["arch", "explainer", "aggregated", "tissue", "class", "status", "top_k",
                     "de_share", "chance"]  # fmt: skip
    io.write_table(pd.DataFrame(shares, columns=share_columns), out["top_de"])
    split_columns = ["combination", "tissue", "gene", "where", "log2_normal", "log2_cancer"]
    splits = pd.concat(splits, ignore_index=True) if splits else pd.DataFrame(columns=split_columns)
    io.write_table(splits, out["split"])
    io.write_table(shared, out["shared"])
