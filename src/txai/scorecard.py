"""Ground-truth scorecard: how well each combination's top genes recover the planted markers.

A cohort whose gene annotation carries `truth_role` and `truth_classes` (the demo cohort, or a
user's own simulated one written by `txai.cohort`) knows which genes carry each class's signal.
For every explainer x architecture x (single model, aggregated) combination and every class of
the focus tissues, the class's top-k genes (by the mean score over its explained samples, ties by
gene order, as in `txai.aggregate`) are compared with that class's planted markers: precision and
recall at k, and R-precision (precision at k = the number of markers, which is also the recall
there), so explainers can be compared whatever k is.

The planted markers of a class are the genes whose `truth_classes` names it and whose role puts
class-specific signal into the expression (`MARKER_ROLES`, see `txai.cohort`):
- tissue_enriched: >= 5-fold above every other class in the one class named;
- group_enriched: >= 5-fold in each class of a group (a tissue's normal and cancer classes, or
  a few normal tissues), so a marker of every class of the group;
- module: 2.8-fold up in both classes of one tissue (strongly correlated genes: a model may use
  either of two redundant genes, so their recall is expected to be lower);
- cancer_up / cancer_down: ~4-fold up / down in the cancer of a tissue against its normal class;
  `truth_classes` names only the cancer, so they count as markers of the cancer class (they are
  what separates it from its own tissue's normal class) and not of the normal class;
- cancer_only: expressed in the cancers only, a marker of every cancer class.
Housekeeping, transcription-factor and background genes name no class and are not markers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from txai import aggregate, figures, io  # noqa: E402
from txai.repro_figures import _letter  # noqa: E402

log = logging.getLogger(__name__)

TRUTH_COLUMNS = ("truth_role", "truth_classes")
MARKER_ROLES = (
    "tissue_enriched", "group_enriched", "module", "cancer_up", "cancer_down", "cancer_only",
)  # fmt: skip
COLUMNS = {  # scorecard.parquet: column and dtype
    "combination": str, "arch": str, "explainer": str, "aggregated": bool, "class": str,
    "tissue": str, "status": str, "k": np.int64, "markers": np.int64, "hits": np.int64,
    "precision": np.float64, "recall": np.float64, "r_precision": np.float64,
}  # fmt: skip
FAMILIES = ("CNN", "CNN-Agg", "MLP", "MLP-Agg")  # row blocks of the figure, top to bottom
METRICS = {  # metric: (panel letter, colour-bar label)
    "recall": ("A", "Recall: planted markers among the top-{k} genes / markers"),
    "r_precision": ("B", "R-precision: markers among the top-|markers| genes / markers"),
}


def has_truth(genes: pd.DataFrame) -> bool:
    """True when the gene annotation carries the planted-truth columns."""
    return all(column in genes.columns for column in TRUTH_COLUMNS)


def markers(
    genes: pd.DataFrame, classes: Sequence[str], roles: Sequence[str] = MARKER_ROLES
) -> dict[str, set[str]]:
    """The planted markers of each class: gene ids whose `truth_classes` (';'-separated) names
    the class and whose `truth_role` is one of `roles`. A class no gene names gets an empty set."""
    if not has_truth(genes):
        raise io.InputError(
            f"the gene annotation has no planted truth: columns {list(TRUTH_COLUMNS)} are missing "
            "(only a simulated cohort has them)."
        )
    specific = genes["truth_role"].isin(list(roles)).to_numpy()
    named = genes["truth_classes"].fillna("").astype(str).str.split(";").map(set).to_numpy()
    ids = genes["gene"].to_numpy()
    return {
        c: {g for g, keep, names in zip(ids, specific, named, strict=True) if keep and c in names}
        for c in classes
    }


def scores(top: dict[str, Sequence[str]], markers: dict[str, set[str]], k: int) -> pd.DataFrame:
    """Precision and recall of each class's top-k genes against its planted markers.

    `top[class]` ranks genes best first and holds at least max(k, |markers|) of them (the
    R-precision looks at the top |markers|). One row per class of `top`, in its order: class, k,
    markers, hits (markers among the top k), precision = hits / k, recall = hits / markers and
    r_precision = markers among the top |markers| / markers. Recall and R-precision are NaN for a
    class without markers.
    """
    rows = []
    for c, ranked in top.items():
        planted = markers.get(c, set())
        n = len(planted)
        if len(ranked) < max(k, n):
            raise ValueError(
                f"class {c!r}: {len(ranked)} ranked genes; precision at k = {k} and R-precision "
                f"over {n} markers need at least {max(k, n)}"
            )
        hits = len(planted.intersection(ranked[:k]))
        r_hits = len(planted.intersection(ranked[:n]))
        rows.append({"class": c, "k": k, "markers": n, "hits": hits, "precision": hits / k,
                     "recall": hits / n if n else np.nan,
                     "r_precision": r_hits / n if n else np.nan})  # fmt: skip
    columns = ["class", "k", "markers", "hits", "precision", "recall", "r_precision"]
    return pd.DataFrame(rows, columns=columns).astype({c: COLUMNS[c] for c in columns})


def focus_classes(sheet: pd.DataFrame, focus_tissues: Sequence[str]) -> pd.DataFrame:
    """class, tissue, status of the focus tissues' classes: tissues in the given order, each
    tissue's normal classes before its cancers."""
    classes = sheet.drop_duplicates("class")[["class", "tissue", "status"]]
    classes = classes[classes["tissue"].isin(list(focus_tissues))]
    order = {t: i for i, t in enumerate(focus_tissues)}
    key = classes["tissue"].map(order) * 2 + (classes["status"] != "normal")
    return classes.assign(_key=key).sort_values(["_key", "class"]).drop(columns="_key")


def empty() -> pd.DataFrame:
    """The scorecard with no rows (a cohort without planted truth)."""
    return pd.DataFrame({c: pd.Series(dtype=t if t is not str else object)
                         for c, t in COLUMNS.items()})  # fmt: skip


def scorecard(
    combos, sheet: pd.DataFrame, gene_table: pd.DataFrame, focus_tissues: Sequence[str], k: int
) -> pd.DataFrame:
    """One row per (combination, focus class) from (arch, explainer, aggregated, scores)
    tuples; `sheet` is indexed by sample (class, tissue, status)."""
    gene_ids = gene_table["gene"].tolist()
    classes = focus_classes(sheet.reset_index(), focus_tissues).set_index("class")
    planted = markers(gene_table, classes.index.tolist())
    k = min(k, len(gene_ids))
    depth = max([k, *map(len, planted.values())])
    tables = []
    for arch, explainer, aggregated, values in combos:
        values = values[sheet.loc[values.index, "tissue"].isin(list(focus_tissues)).to_numpy()]
        names, index, _ = aggregate.class_top(values, sheet["class"], depth)
        ranked = {c: [gene_ids[i] for i in idx] for c, idx in zip(names, index, strict=True)}
        ranked = {c: ranked[c] for c in classes.index if c in ranked}  # the figure's order
        table = scores(ranked, planted, k)
        table.insert(0, "combination", aggregate.label(arch, explainer, aggregated))
        table.insert(1, "arch", arch)
        table.insert(2, "explainer", explainer)
        table.insert(3, "aggregated", aggregated)
        table.insert(5, "tissue", classes.loc[table["class"], "tissue"].to_numpy())
        table.insert(6, "status", classes.loc[table["class"], "status"].to_numpy())
        tables.append(table)
    if not tables:
        return empty()
    return pd.concat(tables, ignore_index=True)[list(COLUMNS)]


def _row_order(table: pd.DataFrame) -> list[str]:
    """Combinations grouped CNN, CNN-Agg, MLP, MLP-Agg; explainers in order of appearance."""
    labels = list(dict.fromkeys(table["combination"]))
    explainers = list(dict.fromkeys(table["explainer"]))
    family = {name: i for i, name in enumerate(FAMILIES)}
    explainer_of = dict(zip(table["combination"], table["explainer"], strict=False))
    return sorted(labels, key=lambda x: (family.get(x.split(" ", 1)[0], len(FAMILIES)),
                                         explainers.index(explainer_of[x])))  # fmt: skip


def figure(table: pd.DataFrame, k: int, n_genes: int, title: str) -> plt.Figure:
    """Heatmaps of recall (A) and R-precision (B): combinations x focus classes, values written
    in the cells. Images carry the gid "<letter>|<metric>"; row and column order follow the
    tick labels (rows: combinations, columns: classes)."""
    rows = _row_order(table)
    classes = list(dict.fromkeys(table["class"]))
    counts = table.drop_duplicates("class").set_index("class")["markers"]
    fig, axes = plt.subplots(
        1, 2, figsize=(4 + 1.5 * len(classes), 2.5 + 0.32 * len(rows)), layout="constrained"
    )
    chance = {
        "recall": f"chance: recall = k / genes = {k / n_genes:.3f}",
        "r_precision": f"chance: R-precision = markers / genes (<= {counts.max() / n_genes:.3f})",
    }
    for ax, (metric, (letter, name)) in zip(axes, METRICS.items(), strict=True):
        grid = table.set_index(["combination", "class"])[metric].unstack()
        grid = grid.reindex(index=rows, columns=classes)
        values = grid.to_numpy(dtype=float)
        image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        image.set_gid(f"{letter}|{metric}")
        for i, j in np.ndindex(values.shape):
            value = values[i, j]
            text = "-" if np.isnan(value) else f"{value:.2f}"
            colour = "black" if not np.isnan(value) and value > 0.6 else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
        ax.set_xticks(range(len(classes)), [f"{c}\n({counts[c]} markers)" for c in classes],
                      rotation=40, ha="right", rotation_mode="anchor", fontsize=8)  # fmt: skip
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        families = [r.split(" ", 1)[0] for r in rows]
        for i in range(1, len(rows)):
            if families[i] != families[i - 1]:
                ax.axhline(i - 0.5, color="white", lw=2.5)
        ax.set_xlabel(f"Focus class (planted markers)\n{chance[metric]}")
        ax.set_ylabel("Combination (architecture, single model or -Agg, explainer)")
        ax.set_title(name.format(k=k), fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.8, label=metric.replace("_", "-").capitalize())
        _letter(ax, letter)
    fig.suptitle(f"Recovery of the planted markers by the class top genes: {title}", fontsize=12)
    return fig


NO_TRUTH = (
    f"No planted truth is available: the gene annotation has no {' / '.join(TRUTH_COLUMNS)} "
    "columns\n(a real cohort), so the top genes cannot be scored against known markers."
)


def run(
    *, means: list, singles: list, samples, genes, focus_tissues: list, k: int, out_table,
    out_png, out_pdf, title: str, score: str = "abs_then_mean",
) -> None:  # fmt: skip
    """`report/scorecard.parquet` (one row per combination and focus class, columns `COLUMNS`)
    and its figure (PNG and PDF). A cohort without truth columns gets an empty table and a
    figure saying so. `score` reduces single-model files that still hold signed estimates."""
    gene_table = io.read_table(genes)
    heading = f"Recovery of the planted markers: {title}"
    if not has_truth(gene_table):
        io.write_table(empty(), out_table)
        figures.save(figures.message_figure(NO_TRUTH, heading), out_png, out_pdf)
        log.info("no planted truth in %s: empty scorecard", genes)
        return
    sheet = io.read_table(samples).set_index("sample")
    gene_ids = gene_table["gene"].tolist()
    combos = aggregate.combinations(means, singles, score, gene_ids)
    table = scorecard(combos, sheet, gene_table, focus_tissues, k)
    io.write_table(table, out_table)
    if table.empty:
        fig = figures.message_figure("No explained samples of the focus tissues to score.", heading)
    else:
        fig = figure(table, min(k, len(gene_ids)), len(gene_ids), title)
    figures.save(fig, out_png, out_pdf)
    log.info(
        "%d combinations x %d focus classes: mean recall %.3f, mean R-precision %.3f",
        table["combination"].nunique(), table["class"].nunique(), table["recall"].mean(),
        table["r_precision"].mean(),
    )  # fmt: skip
