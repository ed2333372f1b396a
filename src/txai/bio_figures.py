"""Biology figures (paper Figures 4, 5, S9, S11) from the overlap, expression-status, differential
expression and shared-gene tables; every function returns a Figure and leaves writing it to
`txai.figures.save`.

A combination is labelled like the paper ("MLP DeepLift", "CNN-Agg Saliency"). Panels whose rows
are missing are left out; the letters stay the paper's. Drawn quantities carry gids so tests can
read them back: box medians "<letter>|<combination>", chance segments "expected|<combination>",
bars "A|<combination>|<tissue>" (Figure 5A) and images "<letter>|<combination>".
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from txai import aggregate, figures  # noqa: E402
from txai.repro_figures import (  # noqa: E402
    _colours,
    _letter,
    _tissue_rows,
    panel_letters,
    row_height,
)

FAMILIES = ("CNN", "CNN-Agg", "MLP", "MLP-Agg")
FAMILY_COLOURS = {name: plt.get_cmap("Set2")(i) for i, name in enumerate(FAMILIES)}
STATUS_COLOURS = {"normal": "tab:blue", "cancer": "tab:red"}
WHERE = ("only normal", "only cancer", "both")
RHO = "Spearman's rho (score vs expression)"
EXPECTED = "Expected by chance (mean)"
PAPER_SECOND_TISSUE = "ovary"  # Figure 4F's right panel
NOTHING_IN_CANCER = (
    "No focus tissue has normal and cancer samples (A, B), and no cancer class has top genes\n"
    "shared by its samples (C): the normal-vs-cancer comparison was skipped."
)


def _with_combination(rows: pd.DataFrame) -> pd.DataFrame:
    labels = [
        aggregate.label(arch, explainer, bool(aggregated))
        for arch, explainer, aggregated in zip(
            rows["arch"], rows["explainer"], rows["aggregated"], strict=True
        )
    ]
    return rows.assign(combination=labels)


def _family(label: str) -> str:
    return label.split(" ", 1)[0]


def _order(labels, groups: dict | None = None) -> list[str]:
    """Combinations grouped CNN, CNN-Agg, MLP, MLP-Agg; within each, members of `groups` first
    (in group order, so a group's bar is unbroken), then explainers in order of appearance."""
    unique = list(dict.fromkeys(labels))
    explainers = list(dict.fromkeys(label.split(" ", 1)[-1] for label in unique))
    family = {name: i for i, name in enumerate(FAMILIES)}
    group = {m: i for i, members in enumerate((groups or {}).values()) for m in members}
    return sorted(
        unique,
        key=lambda label: (
            family.get(_family(label), len(FAMILIES)),
            group.get(label, len(group)),
            explainers.index(label.split(" ", 1)[-1]),
        ),
    )


def _top_k(rows: pd.DataFrame, k: int) -> pd.DataFrame:
    return rows[rows["top_k"] == k] if "top_k" in rows else rows


def _boxes(ax, rows, x, order, value, prefix, hue=None, levels=(None,), colour=None) -> None:
    """One box per `x` value in `order` and `hue` level; the median line's gid is
    "prefix|x" (or "prefix|x|level" with a hue). NaNs are left out."""
    width = 0.8 / len(levels)
    for j, level in enumerate(levels):
        chosen = rows if hue is None else rows[rows[hue] == level]
        for i, name in enumerate(order):
            values = chosen.loc[chosen[x] == name, value].dropna().to_numpy()
            if values.size == 0:
                continue
            parts = ax.boxplot(
                [values], positions=[i - 0.4 + width * (j + 0.5)], widths=0.75 * width,
                patch_artist=True, manage_ticks=False, medianprops={"color": "black"},
                boxprops={"facecolor": colour(name, level)}, flierprops={"markersize": 2},
            )  # fmt: skip
            gid = f"{prefix}|{name}" if hue is None else f"{prefix}|{name}|{level}"
            parts["medians"][0].set_gid(gid)
    ax.set_xticks(range(len(order)), order, rotation=40, ha="right", rotation_mode="anchor")
    ax.set_xlim(-0.5, len(order) - 0.5)


def _expected(ax, rows, x, order, column, span=0.4) -> None:
    """A dashed segment at the mean chance value of each `x` value (gid "expected|x")."""
    for i, name in enumerate(order):
        values = rows.loc[rows[x] == name, column].dropna()
        if not values.empty:
            ax.plot([i - span, i + span], [values.mean()] * 2, ls="--", color="black",
                    lw=1.3, gid=f"expected|{name}")  # fmt: skip


def _mark_groups(ax, order: list[str], groups: dict | None) -> bool:
    """Black bars above the boxes of each group's members (consecutive runs), as in Figure 3."""
    marked = False
    where = ax.get_xaxis_transform()
    for name, members in (groups or {}).items():
        idx = sorted(order.index(m) for m in members if m in order)
        if not idx:
            continue
        breaks = np.flatnonzero(np.diff(idx) > 1)
        for block in np.split(np.array(idx), breaks + 1):
            ax.plot([block[0] - 0.35, block[-1] + 0.35], [1.03, 1.03], transform=where,
                    color="black", lw=4, clip_on=False, solid_capstyle="butt",
                    gid=f"group|{name}")  # fmt: skip
            ax.text((block[0] + block[-1]) / 2, 1.06, name, transform=where, ha="center",
                    va="bottom", fontweight="bold", fontsize=10)  # fmt: skip
        marked = True
    return marked


def _family_handles(order: list[str]) -> list:
    present = dict.fromkeys(_family(label) for label in order)
    return [
        Patch(facecolor=FAMILY_COLOURS.get(f, "0.8"), edgecolor="black", label=f) for f in present
    ]


def _combination_panel(
    ax, rows, value, letter, title, ylabel, groups, expected=None, mark=True, legend=True
):
    """Figure 4 A, D, E, F: a box per combination over samples, coloured by architecture and
    aggregation, chance as dashed segments, groups as black bars."""
    order = _order(rows["combination"], groups)
    _boxes(ax, rows, "combination", order, value, letter,
           colour=lambda name, level: FAMILY_COLOURS.get(_family(name), "0.8"))  # fmt: skip
    handles = _family_handles(order)
    if expected is not None:
        _expected(ax, rows, "combination", order, expected)
        handles.append(Line2D([], [], ls="--", color="black", label=EXPECTED))
    ax.set(xlabel="Combination", ylabel=ylabel)
    ax.set_ylim(bottom=0)
    marked = _mark_groups(ax, order, groups)
    ax.set_title(title, pad=26 if marked else 6)
    if legend:
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    if mark:
        _letter(ax, letter)


def _percent(rows: pd.DataFrame) -> pd.DataFrame:
    """Overlap and chance as % of the top-k genes (columns `percent`, `chance`)."""
    return rows.assign(percent=100 * rows["overlap"] / rows["top_k"],
                       chance=100 * rows["expected"] / rows["top_k"])  # fmt: skip


def _normal_rows(rows: pd.DataFrame) -> pd.DataFrame:
    if "status" in rows and (rows["status"] == "normal").any():
        return rows[rows["status"] == "normal"]
    return rows


def _zscore(values: np.ndarray) -> np.ndarray:
    """Per row (gene): (x - mean) / sd over the columns; 0 where the row is constant."""
    centred = values - values.mean(axis=1, keepdims=True)
    sd = values.std(axis=1, keepdims=True)
    return np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 0)


def _log2_medians(medians: pd.DataFrame, classes: list[str], genes: list[str]) -> pd.DataFrame:
    """log2(median TPM + 1), genes x classes, of the genes and classes found in `medians`."""
    table = medians.set_index("class")
    classes = [c for c in classes if c in table.index]
    genes = [g for g in dict.fromkeys(genes) if g in table.columns]
    return np.log2(table.loc[classes, genes].astype(float).T + 1)


def _class_genes(rows: pd.DataFrame, classes: list[str]) -> dict[str, list[str]]:
    ranked = rows.sort_values("rank", kind="stable")
    return {c: ranked.loc[ranked["class"] == c, "gene"].tolist() for c in classes}


def representative_heatmap(rows: pd.DataFrame, medians: pd.DataFrame, classes: list[str]):
    """Figure 4B data: genes of the classes' top lists, each once under the class whose list it
    first appears in. Returns (z-scored log2 medians genes x classes, class of origin per gene)."""
    genes, origin = [], []
    for name, members in _class_genes(rows, classes).items():
        for gene in members:
            if gene not in genes:
                genes.append(gene)
                origin.append(name)
    values = _log2_medians(medians, classes, genes)
    origin = pd.Series(origin, index=genes).loc[values.index]
    z = pd.DataFrame(_zscore(values.to_numpy()), index=values.index, columns=values.columns)
    return z, origin


def _group_of(label: str, groups: dict | None) -> str:
    names = [name for name, members in (groups or {}).items() if label in members]
    return f"Group {names[0]}: " if names else ""


def _heatmaps(fig, reps, medians, classes, groups, k) -> None:
    """Figure 4B: one heatmap per representative, rows grouped by class of origin."""
    axes = fig.subplots(1, len(reps), squeeze=False)[0]
    tables = {label: representative_heatmap(rows, medians, classes) for label, rows in reps}
    vmax = max([np.abs(z.to_numpy()).max() for z, _ in tables.values() if z.size] + [1.0])
    for ax, (label, (z, origin)) in zip(axes, tables.items(), strict=True):
        image = ax.imshow(z.to_numpy(), aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                          interpolation="nearest")  # fmt: skip
        image.set_gid(f"B|{label}")
        ax.set_xticks(range(z.shape[1]), z.columns, rotation=40, ha="right",
                      rotation_mode="anchor")  # fmt: skip
        codes = origin.to_numpy()
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if codes.size else []
        stops = np.r_[starts[1:], codes.size] if codes.size else []
        for start in starts[1:]:
            ax.axhline(start - 0.5, color="black", lw=1)
        ax.set_yticks([(a + b - 1) / 2 for a, b in zip(starts, stops, strict=True)],
                      [f"{codes[a]}\n({b - a})" for a, b in zip(starts, stops, strict=True)],
                      fontsize=8)  # fmt: skip
        ax.set(xlabel="Focus class (median)", ylabel=f"Top-{k} genes by class of origin")
        ax.set_title(f"{_group_of(label, groups)}{label}\n{len(z)} distinct genes", fontsize=10)
    fig.colorbar(image, ax=axes, shrink=0.8,
                 label="log2(median TPM + 1),\nz-score per gene")  # fmt: skip
    _letter(axes[0], "B")


def class_overlaps(rows: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """Figure 4C data: genes shared between the top lists of every pair of classes."""
    sets = {c: set(genes) for c, genes in _class_genes(rows, classes).items()}
    return pd.DataFrame(
        [[len(sets[a] & sets[b]) for b in classes] for a in classes], index=classes, columns=classes
    )


def _overlap_matrices(fig, reps, classes, groups, k) -> None:
    """Figure 4C: a small matrix of top-k overlaps between classes per representative."""
    axes = fig.subplots(1, len(reps), squeeze=False)[0]
    for ax, (label, rows) in zip(axes, reps, strict=True):
        matrix = class_overlaps(rows, classes)
        values = matrix.to_numpy()
        image = ax.imshow(values, cmap="Reds", vmin=0, vmax=k)
        image.set_gid(f"C|{label}")
        for (i, j), value in np.ndenumerate(values):
            ax.text(j, i, f"{value}", ha="center", va="center", fontsize=9,
                    color="white" if value > 0.6 * k else "black")  # fmt: skip
        ax.set_xticks(range(len(classes)), classes, rotation=40, ha="right",
                      rotation_mode="anchor")  # fmt: skip
        ax.set_yticks(range(len(classes)), classes)
        ax.set(xlabel="Focus class", ylabel="Focus class")
        ax.set_title(f"{_group_of(label, groups)}{label}", fontsize=10)
    fig.colorbar(image, ax=axes, shrink=0.8, label=f"Top-{k} overlap (genes)")
    _letter(axes[0], "C")


def fig4(
    overlaps: pd.DataFrame,
    medians: pd.DataFrame,
    representatives: pd.DataFrame,
    groups: dict[str, list[str]] | None,
    tissue: str,
    second_tissue: str | None = None,
    k: int = 100,
) -> plt.Figure:
    """Figure 4: overlaps of the top-k genes of the tissue's normal samples with its top-k
    expressed genes (A), TS (D) and HK genes (E), and the share of TF genes in `tissue` and
    `second_tissue` (F), one box per combination over samples; expression (B) and overlaps (C)
    of the representatives' top-k genes of the normal focus classes."""
    overlaps = _with_combination(_top_k(overlaps, k))
    rows = _tissue_rows(overlaps, tissue)
    sets = {name: rows[rows["set"] == name] for name in ("top expressed", "TS", "HK")}
    tf = {t: _tissue_rows(overlaps, t) for t in (tissue, second_tissue) if t is not None}
    tf = {t: r[r["set"] == "TF"] for t, r in tf.items()}
    tf = {t: _percent(r) for t, r in tf.items() if not r.empty}
    reps = _normal_rows(representatives)
    reps = reps[reps["rank"] <= k]
    classes = [c for c in dict.fromkeys(reps["class"]) if c in set(medians["class"])]
    reps = [(label, r) for label, r in reps.groupby("combination", sort=False)] if classes else []
    blocks = {
        "A": not sets["top expressed"].empty,
        "B": bool(reps),
        "C": bool(reps),
        "DE": not (sets["TS"].empty and sets["HK"].empty),
        "F": bool(tf),
    }
    heights = {"A": 4.5, "B": 6.5, "C": 3 + 0.3 * len(classes), "DE": 5, "F": 5}
    shown = [name for name, present in blocks.items() if present]
    if not shown:
        raise ValueError(f"no overlap or representative rows to draw Figure 4 for {tissue}")
    n = rows["combination"].nunique() if not rows.empty else 8
    width = max(16, 0.75 * n + 5)  # D and E, and F's two tissues, sit side by side
    fig = plt.figure(layout="constrained", figsize=(width, sum(heights[b] for b in shown)))
    subs = dict(zip(shown, fig.subfigures(len(shown), 1, height_ratios=[heights[b] for b in shown],
                                          squeeze=False)[:, 0], strict=True))  # fmt: skip
    unit = f"Top-{k} overlap (genes)"
    if "A" in subs:
        _combination_panel(subs["A"].subplots(), sets["top expressed"], "overlap", "A",
                           f"Top-{k} contributing vs top-{k} expressed genes, {tissue} (normal)",
                           unit, groups)  # fmt: skip
    if reps:
        _heatmaps(subs["B"], reps, medians, classes, groups, k)
        _overlap_matrices(subs["C"], reps, classes, groups, k)
    if "DE" in subs:
        panels = [(letter, name) for letter, name in (("D", "TS"), ("E", "HK"))
                  if not sets[name].empty]  # fmt: skip
        axes = subs["DE"].subplots(1, len(panels), squeeze=False)[0]
        names = {"TS": "tissue-specific (TS)", "HK": "housekeeping (HK)"}
        for i, (ax, (letter, name)) in enumerate(zip(axes, panels, strict=True)):
            _combination_panel(ax, sets[name], "overlap", letter,
                               f"Overlap with {names[name]} genes, {tissue}", unit, groups,
                               expected="expected", legend=i == len(panels) - 1)  # fmt: skip
    if "F" in subs:
        axes = subs["F"].subplots(1, len(tf), squeeze=False)[0]
        for i, (ax, (name, r)) in enumerate(zip(axes, tf.items(), strict=True)):
            _combination_panel(ax, r, "percent", "F", f"TF-coding genes, {name}",
                               f"Genes (% of top {k})", groups, expected="chance", mark=i == 0,
                               legend=i == len(tf) - 1)  # fmt: skip
    fig.suptitle(f"Top-{k} contributing genes and gene expression in {tissue}", fontsize=14)
    return fig


def _de_bars(ax, rows: pd.DataFrame, k: int) -> None:
    """Figure 5A: mean DE share per combination (x) and tissue (colour), chance per tissue."""
    order = _order(rows["combination"])
    tissues = list(dict.fromkeys(rows["tissue"]))
    colours = _colours(tissues, "tab10")
    width = 0.8 / len(tissues)
    for j, tissue in enumerate(tissues):
        mine = rows[rows["tissue"] == tissue]
        means = mine.groupby("combination")["de_share"].mean()
        for i, label in enumerate(order):
            if label in means:
                (bar,) = ax.bar(i - 0.4 + width * (j + 0.5), 100 * means[label], width * 0.9,
                                color=colours[tissue], edgecolor="black", lw=0.5)  # fmt: skip
                bar.set_gid(f"A|{label}|{tissue}")
        ax.axhline(100 * mine["chance"].mean(), color=colours[tissue], ls="--", lw=1.5,
                   gid=f"chance|{tissue}")  # fmt: skip
    ax.set_xticks(range(len(order)), order, rotation=40, ha="right", rotation_mode="anchor")
    ax.set_xlim(-0.5, len(order) - 0.5)
    ax.set(xlabel="Combination", ylabel=f"DE genes (% of top {k})", ylim=(0, 100))
    ax.set_title(f"Top-{k} genes of normal classes differentially expressed in cancer")
    handles = [Patch(facecolor=colours[t], edgecolor="black", label=t) for t in tissues]
    handles.append(Line2D([], [], ls="--", color="0.3", label="Chance (genome-wide DE share)"))
    ax.legend(handles=handles, title="Tissue", fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1))  # fmt: skip
    _letter(ax, "A")


def _split_boxes(ax, rows: pd.DataFrame, label: str) -> None:
    """Figure 5B: expression in normal and cancer samples of the top genes by where found."""
    wheres = [w for w in WHERE if w in set(rows["where"])]
    wheres += sorted(set(rows["where"]) - set(WHERE))
    long = rows.melt(id_vars=["where"], value_vars=["log2_normal", "log2_cancer"],
                     var_name="status", value_name="log2")  # fmt: skip
    long["status"] = long["status"].str.removeprefix("log2_")
    _boxes(ax, long, "where", wheres, "log2", f"B|{label}", hue="status",
           levels=list(STATUS_COLOURS), colour=lambda _, level: STATUS_COLOURS[level])  # fmt: skip
    counts = rows["where"].value_counts()
    ax.set_xticks(range(len(wheres)), [f"{w}\n(n = {counts[w]})" for w in wheres], rotation=0,
                  ha="center")  # fmt: skip
    ax.set(xlabel="Top genes found in", ylabel="log2(TPM + 1)")
    tissues = ", ".join(dict.fromkeys(rows["tissue"]))
    ax.set_title(f"{label}\n{tissues}", fontsize=10)


def shared_heatmap(shared: pd.DataFrame, medians: pd.DataFrame) -> pd.DataFrame:
    """Figure 5C data: z-scored log2(median TPM + 1) of the shared top genes (rows) across the
    cancer classes of `shared` (columns, in `medians` order), rows ordered by the class where
    they peak, then by their z-score there."""
    classes = [c for c in medians["class"] if c in set(shared["class"])]
    values = _log2_medians(medians, classes, shared["gene"].tolist())
    z = pd.DataFrame(_zscore(values.to_numpy()), index=values.index, columns=values.columns)
    if z.empty:
        return z
    peak = z.to_numpy().argmax(axis=1)
    order = np.lexsort((-z.to_numpy().max(axis=1), peak))
    return z.iloc[order]


def _shared_panel(fig, shared: pd.DataFrame, z: pd.DataFrame, k: int) -> None:
    """Figure 5C: heatmap of the shared top genes, a strip marking oncogenes and suppressors."""
    roles = shared[shared["role"].fillna("") != ""].drop_duplicates("gene").set_index("gene")
    roles = roles["role"].reindex(z.index).fillna("")
    kinds = sorted(set(roles) - {""})
    if kinds:
        strip, ax = fig.subplots(1, 2, sharey=True, width_ratios=[1, 30])
        colours = ["white", *(_colours(kinds, "Dark2")[kind] for kind in kinds)]
        codes = roles.map({"": 0, **{kind: i + 1 for i, kind in enumerate(kinds)}}).to_numpy()
        strip.imshow(codes[:, None], aspect="auto", cmap=ListedColormap(colours),
                     vmin=-0.5, vmax=len(kinds) + 0.5, interpolation="nearest")  # fmt: skip
        strip.set_xticks([])
        strip.set_xlabel("Role")
        strip.set_ylabel(f"Shared top-{k} genes (n = {len(z)})")
        handles = [Patch(facecolor=colours[i + 1], label=kind) for i, kind in enumerate(kinds)]
        fig.legend(handles=handles, title="Known role", loc="outside lower left", fontsize=8,
                   ncols=len(kinds))  # fmt: skip
        first = strip
    else:
        ax = first = fig.subplots()
        ax.set_ylabel(f"Shared top-{k} genes (n = {len(z)})")
    vmax = max(np.abs(z.to_numpy()).max(), 1.0)
    image = ax.imshow(z.to_numpy(), aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                      interpolation="nearest")  # fmt: skip
    image.set_gid("C")
    ax.set_xticks(range(z.shape[1]), z.columns, rotation=60, ha="right", rotation_mode="anchor")
    ax.set_xlabel("Cancer class (median)")
    if len(z) <= 60:
        first.set_yticks(range(len(z)), z.index, fontsize=7)
    else:
        first.set_yticks([])
    ax.tick_params(labelleft=False)
    ax.set_title(f"{len(z)} shared top-{k} contributing genes (in >= 2 samples of a cancer class)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="log2(median TPM + 1),\nz-score per gene")
    _letter(first, "C")


def fig5(
    top_de: pd.DataFrame,
    split: pd.DataFrame,
    shared: pd.DataFrame,
    medians: pd.DataFrame,
    k: int = 100,
) -> plt.Figure:
    """Figure 5: share of the normal classes' top-k genes that are DE between normal and cancer
    per combination and tissue (A, chance dashed), expression in normal and cancer samples of the
    top genes found only in normal, only in cancer, or in both (B, one panel per combination of
    `split`), and the shared top genes of the cancer classes (C); a figure saying why, when
    the cohort has none of these."""
    de = _with_combination(_normal_rows(_top_k(top_de, k)))
    z = shared_heatmap(shared, medians) if not shared.empty else pd.DataFrame()
    combos = list(dict.fromkeys(split["combination"]))
    heights = {"A": 5, "B": 5, "C": 5 + (0.1 * len(z) if len(z) <= 60 else 3)}
    shown = [name for name, present in zip("ABC", (len(de), combos, z.size), strict=True)
             if present]  # fmt: skip
    if not shown:
        return figures.message_figure(NOTHING_IN_CANCER, f"Top-{k} contributing genes in cancer")
    n = de["combination"].nunique() * max(de["tissue"].nunique(), 1) if len(de) else 8
    width = max(14, 0.3 * n + 5, 0.3 * z.shape[1] + 5)
    fig = plt.figure(layout="constrained", figsize=(width, sum(heights[b] for b in shown)))
    subs = dict(zip(shown, fig.subfigures(len(shown), 1, height_ratios=[heights[b] for b in shown],
                                          squeeze=False)[:, 0], strict=True))  # fmt: skip
    if "A" in subs:
        _de_bars(subs["A"].subplots(), de, k)
    if "B" in subs:
        axes = subs["B"].subplots(1, len(combos), squeeze=False, sharey=True)[0]
        for ax, label in zip(axes, combos, strict=True):
            _split_boxes(ax, split[split["combination"] == label], label)
        handles = [Patch(facecolor=c, edgecolor="black", label=f"mean over {s} samples")
                   for s, c in STATUS_COLOURS.items()]  # fmt: skip
        axes[-1].legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        _letter(axes[0], "B")
    if "C" in subs:
        _shared_panel(subs["C"], shared, z, k)
    fig.suptitle(f"Top-{k} contributing genes in cancer", fontsize=14)
    return fig


def figS9(status: pd.DataFrame) -> plt.Figure:
    """Figure S9: Spearman's rho between scores and expression per combination over samples,
    normal and cancer samples side by side, one panel per tissue."""
    rows = _with_combination(status.dropna(subset=["rho"]))
    if rows.empty:
        raise ValueError("no expression-status rows to draw Figure S9 from")
    tissues = list(dict.fromkeys(rows["tissue"]))
    order = _order(rows["combination"])
    levels = [s for s in STATUS_COLOURS if s in set(rows["status"])]
    size = (max(10, 0.55 * len(order) + 4), row_height(4.2, len(tissues)) * len(tissues))
    fig, axes = plt.subplots(len(tissues), 1, squeeze=False, layout="constrained", figsize=size)
    for letter, ax, tissue in zip(panel_letters(), axes[:, 0], tissues, strict=False):
        mine = rows[rows["tissue"] == tissue]
        _boxes(ax, mine, "combination", order, "rho", tissue, hue="status", levels=levels,
               colour=lambda name, level: STATUS_COLOURS[level])  # fmt: skip
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set(title=tissue, xlabel="Combination", ylabel=RHO)
        _letter(ax, letter)
    handles = [Patch(facecolor=STATUS_COLOURS[s], edgecolor="black", label=f"{s} samples")
               for s in levels]  # fmt: skip
    fig.legend(handles=handles, title="Samples", loc="outside right upper")
    fig.suptitle("Correlation between contribution scores and expression per sample")
    return fig


def ts_counts(genes: pd.DataFrame, classes: list[str]) -> pd.Series:
    """Number of TS genes per class (from `ts_classes`), zero for classes without any."""
    rows = genes[genes["ts"].astype(bool)] if "ts" in genes else genes
    names = rows["ts_classes"].fillna("").astype(str).str.split(";").explode().str.strip()
    return names[names != ""].value_counts().reindex(classes, fill_value=0)


def figS11(
    overlaps: pd.DataFrame, genes: pd.DataFrame, medians: pd.DataFrame, k: int = 100
) -> plt.Figure:
    """Figure S11: share of TS genes among the top-k genes of the normal samples of each focus
    tissue for the aggregated combinations (A, chance dashed), and TS genes per class (B, focus
    classes of `overlaps` highlighted)."""
    rows = _top_k(overlaps, k)
    rows = rows[(rows["set"] == "TS") & rows["aggregated"].astype(bool)]
    rows = _with_combination(_normal_rows(rows))
    rows = _percent(rows)
    counts = ts_counts(genes, medians["class"].tolist()).sort_values(ascending=False, kind="stable")
    shown = [name for name, present in zip("AB", (len(rows), len(counts)), strict=True) if present]
    if not shown:
        raise ValueError("no aggregated TS overlap rows and no classes to draw Figure S11 from")
    width = max(10, 0.22 * len(counts) + 3)
    fig, axes = plt.subplots(len(shown), 1, squeeze=False, layout="constrained",
                             figsize=(width, 4.8 * len(shown)))  # fmt: skip
    axes = dict(zip(shown, axes[:, 0], strict=True))
    if "A" in axes:
        ax = axes["A"]
        tissues = list(dict.fromkeys(rows["tissue"]))
        order = _order(rows["combination"])
        colours = _colours(order, "tab10" if len(order) <= 10 else "tab20")
        _boxes(ax, rows, "tissue", tissues, "percent", "A", hue="combination", levels=order,
               colour=lambda name, level: colours[level])  # fmt: skip
        _expected(ax, rows, "tissue", tissues, "chance")
        turn = {"rotation": 0, "ha": "center"} if len(tissues) <= 8 else {
            "rotation": 60, "ha": "right", "rotation_mode": "anchor"}  # fmt: skip
        ax.set_xticks(range(len(tissues)), tissues, **turn)
        ax.set(xlabel="Focus tissue (normal samples)", ylabel=f"TS genes (% of top {k})",
               title=f"Overlap of the top-{k} contributing genes with TS genes")  # fmt: skip
        ax.set_ylim(bottom=0)
        handles = [Patch(facecolor=colours[c], edgecolor="black", label=c) for c in order]
        handles.append(Line2D([], [], ls="--", color="black", label=EXPECTED))
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        _letter(ax, "A")
    if "B" in axes:
        ax = axes["B"]
        focus = set(overlaps["class"])
        colour = ["tab:orange" if c in focus else "0.6" for c in counts.index]
        bars = ax.bar(range(len(counts)), counts.to_numpy(), color=colour, edgecolor="black",
                      lw=0.4)  # fmt: skip
        for bar, name in zip(bars, counts.index, strict=True):
            bar.set_gid(f"B|{name}")
        ax.set_xticks(range(len(counts)), counts.index, rotation=60, ha="right",
                      rotation_mode="anchor", fontsize=8)  # fmt: skip
        ax.set_xlim(-0.6, len(counts) - 0.4)
        ax.set(xlabel="Class", ylabel="TS genes (count)", title="Tissue-specific genes per class")
        handles = [Patch(facecolor="tab:orange", label="focus class"),
                   Patch(facecolor="0.6", label="other class")]  # fmt: skip
        ax.legend(handles=handles, fontsize=8, loc="upper right")
        _letter(ax, "B")
    fig.suptitle("Tissue-specific genes among the top contributing genes")
    return fig


def run(
    *, figure: str, tables: dict, tissues: list[str], k: int, title: str, groups: dict, png, pdf
) -> None:  # fmt: skip
    """Draw one figure from the annotation and differential tables (paths by name) and save PNG
    and PDF. Figure 4 shows the first focus tissue, and in F also ovary (the paper's choice) or
    else the second focus tissue; Figures S9 and S11 show the focus tissues."""
    from txai import figures, io

    read = {name: io.read_table(path) for name, path in tables.items()}
    for name in ("overlaps", "status"):
        if name in read:
            read[name] = read[name][read[name]["tissue"].isin(tissues)]
    first, others = tissues[0], tissues[1:]
    second = PAPER_SECOND_TISSUE if PAPER_SECOND_TISSUE in others else (others or [None])[0]
    if figure == "fig4":
        fig = fig4(read["overlaps"], read["medians"], read["representatives"], groups, first,
                   second, k)  # fmt: skip
    elif figure == "fig5":
        fig = fig5(read["top_de"], read["split"], read["shared"], read["medians"], k)
    elif figure == "figS9":
        fig = figS9(read["status"])
    elif figure == "figS11":
        fig = figS11(read["overlaps"], read["genes"], read["medians"], k)
    else:
        raise ValueError(f"unknown biology figure {figure!r}")
    fig.text(0.01, 0.0, title, fontsize=8, color="0.4", va="top")
    figures.save(fig, png, pdf)
