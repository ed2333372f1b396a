"""Agreement between replicate gene scores: Spearman's rho and top-k overlap (Figures 1-3).

Each row of `values` is one replicate's score per gene (same gene order in every row); `pairs`
names the rows to compare, one pair a row. Everything is vectorised over rows and pairs, so the
thousands of pairs of a simulation curve cost a few array operations.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from txai import aggregate, io, paths

log = logging.getLogger(__name__)


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1..genes) within each row; tied values share the mean of their ranks.

    Equals `scipy.stats.rankdata(values, axis=1)` for finite values.
    """
    values = np.asarray(values)
    rows, genes = values.shape
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    starts = np.ones((rows, genes), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]  # a tie group starts at each new value
    flat = np.flatnonzero(starts)
    size = np.diff(np.append(flat, starts.size))
    mean_rank = flat % genes + (size + 1) / 2
    out = np.empty((rows, genes))
    np.put_along_axis(out, order, np.repeat(mean_rank, size).reshape(rows, genes), axis=1)
    return out


def _pairs(pairs) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.asarray(pairs, dtype=np.intp).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def _paired_products(rows: np.ndarray, pairs) -> np.ndarray:
    """Row-by-row dot products for each pair, from one matrix product over the rows in use
    (all C(K, 2) pairs of K replicates cost K x K products, never pairs x genes copies)."""
    a, b = _pairs(pairs)
    used, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    gram = rows[used] @ rows[used].T
    return gram[inverse[: len(a)], inverse[len(a) :]]


def unit_ranks(values: np.ndarray) -> np.ndarray:
    """Each row's centred ranks scaled to unit length: the dot product of two rows is their
    Spearman's rho (nan for a constant row)."""
    centred = ranks(values)
    centred -= centred.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return centred / np.linalg.norm(centred, axis=1, keepdims=True)


def spearman(values: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Spearman's rho over genes for each pair of rows (P pairs -> P values; nan if constant)."""
    return _paired_products(unit_ranks(values), pairs)


def top_sets(values: np.ndarray, k: int) -> np.ndarray:
    """Boolean rows x genes: True for each row's k highest scores (ties: lower gene index first)."""
    values = np.asarray(values)
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    member = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(member, order, True, axis=1)
    return member


def overlap(values: np.ndarray, pairs: np.ndarray, k: int = 100) -> np.ndarray:
    """Number of genes in the top-k of both rows, for each pair of rows."""
    member = top_sets(values, k).astype(np.float32)  # counts <= k are exact in float32
    return np.rint(_paired_products(member, pairs)).astype(np.int64)


def all_pairs(n: int) -> np.ndarray:
    """The C(n, 2) pairs (i, j) with i < j, in lexicographic order: P x 2 int array."""
    return np.column_stack(np.triu_indices(n, k=1))


def compare(values: np.ndarray, pairs: np.ndarray, k: int = 100) -> pd.DataFrame:
    """One row per pair: `pair` (0..P-1), rows `a` and `b`, Spearman `rho`, top-k `overlap`."""
    a, b = _pairs(pairs)
    return pd.DataFrame(
        {
            "pair": np.arange(len(a)),
            "a": a,
            "b": b,
            "rho": spearman(values, pairs),
            "overlap": overlap(values, pairs, k),
        }
    )


def within_blocks(values: np.ndarray, k: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs of rows within each block of `values` (blocks x rows x genes), every block at
    once: (pairs P x 2, rho blocks x P, overlap blocks x P)."""
    blocks, rows, genes = values.shape
    flat = values.reshape(blocks * rows, genes)
    unit = unit_ranks(flat).reshape(values.shape)
    member = top_sets(flat, k).astype(np.float32).reshape(values.shape)
    pairs = all_pairs(rows)
    a, b = pairs[:, 0], pairs[:, 1]
    rho = (unit @ unit.transpose(0, 2, 1))[:, a, b]
    shared = (member @ member.transpose(0, 2, 1))[:, a, b]
    return pairs, rho, np.rint(shared).astype(np.int64)


# --- Figures 1 and 2 E-F: replicates of the explanation stage -----------------------------------

SETTINGS = ("plain", "optimised", "aggregated")  # aggregated: the optimised scores of model sets


def families(arch: str, models: list[str]) -> dict[str, list[str]]:
    """The model sets compared between models: the MLPs; for the CNN, the models sharing one
    gene order (s01, ...) and the models with their own orders (m01, ...)."""
    own = [m for m in models if m.startswith("m")]
    if arch == "mlp":
        return {"inter-model": own}
    shared = [m for m in models if m.startswith("s")]
    return (
        {"inter-model": shared, "inter-model, other orders": own}
        if shared
        else {"inter-model, other orders": own}
    )


def per_sample(stack: np.ndarray, samples: list[str], k: int) -> pd.DataFrame:
    """All pairs of the replicates in `stack` (replicates x samples x genes), sample by sample:
    `sample`, `pair`, `a`, `b`, `rho`, `overlap`."""
    pairs, rho, shared = within_blocks(stack.transpose(1, 0, 2), k)
    count = len(pairs)
    return pd.DataFrame(
        {"sample": np.repeat(samples, count), "pair": np.tile(np.arange(count), len(samples)),
         "a": np.tile(pairs[:, 0], len(samples)), "b": np.tile(pairs[:, 1], len(samples)),
         "rho": rho.ravel(), "overlap": shared.ravel()}
    )  # fmt: skip


def replicate_rows(
    scores: dict, arch: str, setting: str, replicated: list[str], config: dict
) -> list[tuple[str, np.ndarray]]:
    """(comparison, replicates x samples x genes) for one explainer, architecture and setting.

    `scores[model]`: the model's scores indexed by (sample, replicate), samples in one order.
    Intra-model: the replicates of each replicated model. Inter-model: replicate 0 of the
    first `inter_models` models of each family. Aggregated: the mean of replicate 0 over
    disjoint sets of `aggregate_models` models of each family (at least two sets).
    """
    first = {m: s.xs(0, level="replicate").to_numpy() for m, s in scores.items()}
    out = []
    if setting != "aggregated":
        for model in [m for m in replicated if m in scores]:
            reps = scores[model].index.get_level_values("replicate").unique()
            if len(reps) > 1:
                stack = np.stack([scores[model].xs(r, level="replicate").to_numpy() for r in reps])
                out.append(("intra-model", stack))
    for comparison, models in families(arch, list(scores)).items():
        if setting != "aggregated":
            chosen = models[: config["inter_models"]]
            if len(chosen) > 1:
                out.append((comparison, np.stack([first[m] for m in chosen])))
            continue
        size = config["aggregate_models"]
        sets = [models[i : i + size] for i in range(0, len(models) - size + 1, size)]
        if len(sets) > 1:
            out.append((comparison, np.stack([np.mean([first[m] for m in s], 0) for s in sets])))
    return out


# --- Figure 3: consistency across explainers --------------------------------------------------


def consistency(combos: dict[str, np.ndarray], k: int) -> pd.DataFrame:
    """Mean over samples of the top-k overlap between every two combinations.

    `combos[name]`: samples x genes (the same samples and genes in every entry). Returns a
    square frame (combinations x combinations)."""
    names = list(combos)
    member = np.stack([top_sets(values, k) for values in combos.values()], axis=1)
    member = member.astype(np.float32)  # samples x combinations x genes
    overlaps = np.einsum("scg,sdg->cd", member, member) / member.shape[0]
    return pd.DataFrame(overlaps, index=names, columns=names)


def clusters(matrix: pd.DataFrame, k: int, count: int, groups: dict) -> tuple:
    """Average-linkage clustering on k - overlap: (matrix in dendrogram order, a table of
    combination, order, cluster (1..count), group (the config's names, "" for none))."""
    from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
    from scipy.spatial.distance import squareform

    distance = k - matrix.to_numpy()
    distance = (distance + distance.T) / 2
    np.fill_diagonal(distance, 0)
    tree = linkage(squareform(distance, checks=False), method="average")
    order = leaves_list(tree)
    cut = fcluster(tree, t=min(count, len(matrix)), criterion="maxclust")
    member = {c: name for name, combos in groups.items() for c in combos}
    names = matrix.index[order]
    table = pd.DataFrame(
        {"combination": names, "order": np.arange(len(names)), "cluster": cut[order],
         "group": [member.get(c, "") for c in names]}
    )  # fmt: skip
    return matrix.iloc[order, order], table


def run(
    *, attributions: list, samples, genes, config: dict, score: str, focus_tissues: list,
    replicate_models: list, out_replicates, out_summary, out_consistency, out_clusters,
) -> None:  # fmt: skip
    """Replicate comparisons (Figures 1, 2 E-F, S1) and cross-explainer consistency (Figure 3).

    `attributions`: the plain and optimised files, results/attributions/{arch}/{explainer}/
    {setting}/{model}.parquet.
    """
    gene_ids = io.read_table(genes)["gene"].tolist()
    sheet = io.read_table(samples).set_index("sample")
    groups = {}
    for path in attributions:
        found = paths.parse(path)
        groups.setdefault(found[:2], {}).setdefault(found.setting, {})[found.name] = path
    k = config["top_k"]
    tables, combos = [], {}
    for (arch, explainer), by_setting in groups.items():
        for setting in SETTINGS:
            if setting != "aggregated":  # aggregated reuses the optimised scores
                files = by_setting[setting]
                scores = {m: aggregate.read_scores(p, score, gene_ids) for m, p in files.items()}
                order = scores[next(iter(scores))].xs(0, level="replicate").index
                focus = order[sheet.loc[order, "tissue"].isin(focus_tissues)].tolist()
                scores = {m: s.loc[focus] for m, s in scores.items()}
            rows = replicate_rows(scores, arch, setting, replicate_models, config)
            for comparison, stack in rows:
                table = per_sample(stack, focus, k)
                table.insert(0, "comparison", comparison)
                table.insert(0, "setting", setting)
                table.insert(0, "explainer", explainer)
                table.insert(0, "arch", arch)
                tables.append(table)
            if setting == "aggregated":
                first = {m: s.xs(0, level="replicate").loc[focus] for m, s in scores.items()}
                combos[aggregate.label(arch, explainer, False)] = first[sorted(first)[0]]
                combos[aggregate.label(arch, explainer, True)] = sum(first.values()) / len(first)
            log.info("%s %s %s: %d comparisons", arch, explainer, setting, len(rows))
    replicates = pd.concat(tables, ignore_index=True)
    replicates.insert(4, "tissue", sheet.loc[replicates["sample"], "tissue"].to_numpy())
    replicates.insert(5, "class", sheet.loc[replicates["sample"], "class"].to_numpy())
    replicates.insert(6, "status", sheet.loc[replicates["sample"], "status"].to_numpy())
    io.write_table(replicates, out_replicates)
    summary = replicates.groupby(
        ["arch", "explainer", "setting", "comparison", "tissue", "class", "status"], sort=False
    ).agg(rho_mean=("rho", "mean"), rho_median=("rho", "median"),
          overlap_mean=("overlap", "mean"), overlap_median=("overlap", "median"),
          pairs=("rho", "size"))  # fmt: skip
    with io.atomic_path(out_summary) as tmp:
        summary.reset_index().to_csv(tmp, sep="\t", index=False, float_format="%.4g")
    matrices, memberships = [], []
    for tissue in focus_tissues:
        mask = sheet.loc[next(iter(combos.values())).index, "tissue"].to_numpy() == tissue
        if not mask.any():
            continue
        matrix = consistency({c: v.to_numpy()[mask] for c, v in combos.items()}, k)
        ordered, table = clusters(matrix, k, config["clusters"], config["groups"])
        long = ordered.rename_axis(index="a", columns="b").stack().rename("overlap")
        matrices.append(long.reset_index().assign(tissue=tissue))
        memberships.append(table.assign(tissue=tissue))
    io.write_table(pd.concat(matrices, ignore_index=True), out_consistency)
    with io.atomic_path(out_clusters) as tmp:
        pd.concat(memberships, ignore_index=True).to_csv(tmp, sep="\t", index=False)
