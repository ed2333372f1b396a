"""Reproducibility figures (paper Figures 1-3, S1, S4) from the replicate, curve and consistency
tables; every function returns a Figure and leaves writing it to `txai.figures.save`.

Panels whose rows are missing are left out. Box medians carry the gid "explainer|level|metric"
and curve lines the explainer (or reference type) as label, so tests can read back what was drawn.
"""

from __future__ import annotations

import itertools
from string import ascii_uppercase

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

ARCHS = {"cnn": "CNN", "mlp": "MLP"}
COMPARISONS = {c: c for c in ("intra-model", "inter-model", "inter-model, other orders")}
SETTINGS = {
    "plain": "without optimisation",
    "optimised": "optimised",
    "aggregated": "optimised + aggregated",
}
CURVES = {  # curve: (panel letter, title, x-axis label)
    "pseudo-samples": ("A", "pseudo-samples (SmoothGrad)", "Number of averaged estimates n"),
    "repeats": ("B", "simple repeats", "Number of averaged estimates n"),
    "references": ("C", "references", "Number of references n"),
    "models": ("D", "aggregated models", "Number of aggregated models n"),
}
BOXES = (  # Figure 2 E and F: (letter, arch, comparison)
    ("E", "cnn", "inter-model, other orders"),
    ("F", "mlp", "inter-model"),
)
REFERENCES = ("zero", "normal", "universal", "specific")
PAPER_REFERENCE = {"cnn": "zero", "mlp": "universal"}  # the best types in the paper (Figure 2C)
LEGEND_TITLES = {"comparison": "Replicates compared", "setting": "Setting"}
RHO = "Spearman's rho"
TALLEST = 400  # inches: a figure of a row per tissue stays under Agg's 65,536 pixels at 150 dpi


def panel_letters():
    """A, B, ..., Z, then AA, AB, ...: a letter for every panel of a figure of many tissues."""
    for size in itertools.count(1):
        for letters in itertools.product(ascii_uppercase, repeat=size):
            yield "".join(letters)


def row_height(inches: float, rows: int) -> float:
    """The height of one of `rows` rows of panels: `inches`, less where the figure would be
    taller than `TALLEST`."""
    return min(inches, TALLEST / rows)


def _letter(ax: plt.Axes, letter: str) -> None:
    ax.text(-0.12, 1.02, letter, transform=ax.transAxes, fontsize=15, fontweight="bold",
            ha="right", va="bottom")  # fmt: skip


def _colours(names, cmap: str = "tab10") -> dict:
    palette = plt.get_cmap(cmap)
    return {name: palette(i % palette.N) for i, name in enumerate(names)}


def _boxes(ax: plt.Axes, rows: pd.DataFrame, hue: str, colours: dict, metric: str) -> None:
    """One box per explainer (x, in order of appearance) and `hue` level, NaNs left out."""
    explainers = list(dict.fromkeys(rows["explainer"]))
    levels = [level for level in colours if level in set(rows[hue])]
    width = 0.8 / len(levels)
    for j, level in enumerate(levels):
        for i, explainer in enumerate(explainers):
            chosen = (rows["explainer"] == explainer) & (rows[hue] == level)
            values = rows.loc[chosen, metric].dropna().to_numpy()
            if values.size == 0:
                continue
            parts = ax.boxplot(
                [values], positions=[i - 0.4 + width * (j + 0.5)], widths=0.85 * width,
                patch_artist=True, manage_ticks=False, boxprops={"facecolor": colours[level]},
                medianprops={"color": "black"}, flierprops={"markersize": 2},
            )  # fmt: skip
            parts["medians"][0].set_gid(f"{explainer}|{level}|{metric}")
    ax.set_xticks(range(len(explainers)), explainers, rotation=30, ha="right")
    ax.set_xlim(-0.5, len(explainers) - 0.5)


def _box_panel(fig, spec, rows, hue, labels, title, letter, k) -> None:
    """Rho (upper) and top-k overlap (lower) boxes per explainer, one colour per `hue` level."""
    upper, lower = spec.subgridspec(2, 1).subplots(sharex=True)
    colours = {level: plt.get_cmap("Set2")(i) for i, level in enumerate(labels)}
    _boxes(upper, rows, hue, colours, "rho")
    _boxes(lower, rows, hue, colours, "overlap")
    upper.set(title=title, ylabel=RHO)
    upper.tick_params(labelbottom=False)
    lower.set(ylabel=f"Top-{k} overlap (genes)", xlabel="Explainer", ylim=(-0.03 * k, 1.03 * k))
    present = [level for level in labels if level in set(rows[hue])]
    handles = [Patch(facecolor=colours[lv], edgecolor="black", label=labels[lv]) for lv in present]
    upper.legend(handles=handles, title=LEGEND_TITLES[hue], fontsize=8, title_fontsize=8,
                 loc="upper left", bbox_to_anchor=(1.01, 1))  # fmt: skip
    _letter(upper, letter)


def _tissue_rows(replicates: pd.DataFrame, tissue: str) -> pd.DataFrame:
    """The tissue's rows, of its normal classes if it has any (the paper shows normal samples)."""
    rows = replicates[replicates["tissue"] == tissue]
    if "status" in rows:
        normal = rows["status"] == "normal"
    else:
        normal = rows["class"].str.endswith("normal")
    return rows[normal] if normal.any() else rows


def figS1(
    replicates: pd.DataFrame, tissues: list[str], k: int = 100, title: str = ""
) -> plt.Figure:
    """Figure S1: the Figure 1 layout with a row of CNN and MLP panels per tissue."""
    plain = replicates[replicates["setting"] == "plain"]
    tables = {tissue: _tissue_rows(plain, tissue) for tissue in tissues}
    tables = {tissue: rows for tissue, rows in tables.items() if not rows.empty}
    if not tables:
        raise ValueError(f"no 'plain' replicate rows for tissues {tissues}")
    ncols = max(rows["arch"].nunique() for rows in tables.values())
    height = row_height(5.5, len(tables)) * len(tables)
    fig = plt.figure(layout="constrained", figsize=(7 * ncols, height))
    grid = fig.add_gridspec(len(tables), ncols)
    letters = panel_letters()
    for row, rows in enumerate(tables.values()):
        classes = ", ".join(sorted(set(rows["class"])))
        for col, arch in enumerate(sorted(set(rows["arch"]))):  # "cnn" before "mlp", as in paper
            name = f"{ARCHS.get(arch, arch)}, {classes}"
            _box_panel(fig, grid[row, col], rows[rows["arch"] == arch], "comparison", COMPARISONS,
                       name, next(letters), k)  # fmt: skip
    fig.suptitle(title or f"Reproducibility without optimisation: {', '.join(tables)}")
    return fig


def fig1(replicates: pd.DataFrame, tissue: str, k: int = 100) -> plt.Figure:
    """Figure 1: rho and top-k overlap of replicates without optimisation, CNN (A) and MLP (B)."""
    return figS1(replicates, [tissue], k, f"Reproducibility without optimisation in {tissue}")


def _mean_rho(ax: plt.Axes, rows: pd.DataFrame, by: str, colours: dict) -> None:
    """One line per `by` value: mean rho over samples and pairs against n."""
    for name, lines in rows.groupby(by, sort=False):
        mean = lines.groupby("n")["rho"].mean()
        ax.plot(mean.index, mean.to_numpy(), color=colours[name], label=name, lw=1.5)


def _reference(rows: pd.DataFrame, arch: str, choice: dict) -> str:
    """The reference type drawn in Figure 2C: the chosen one if present, else the first present."""
    present = sorted(set(rows["reference"]))
    return choice[arch] if choice.get(arch) in present else present[0]


def _curve_panels(fig, curves: pd.DataFrame, shown: list[str], choice: dict) -> None:
    """Figure 2 A-D: a column per curve, CNN above MLP, one line per explainer, legend below."""
    archs = sorted(set(curves["arch"]))
    grid = fig.add_gridspec(len(archs), len(shown))
    colours = _colours(dict.fromkeys(curves["explainer"]))
    drawn = {}
    for col, curve in enumerate(shown):
        letter, title, xlabel = CURVES[curve]
        for row, arch in enumerate(archs):
            rows = curves[(curves["curve"] == curve) & (curves["arch"] == arch)]
            if rows.empty:
                continue
            if curve == "references":
                kind = _reference(rows, arch, choice)
                rows = rows[rows["reference"] == kind]
                title = f"references ({kind})"
            ax = fig.add_subplot(grid[row, col])
            _mean_rho(ax, rows, "explainer", colours)
            ax.set(title=f"{ARCHS.get(arch, arch)}: {title}", xlabel=xlabel, ylabel=RHO)
            drawn.update(dict.fromkeys(rows["explainer"]))
            if letter:
                _letter(ax, letter)
                letter = ""
    handles = [Line2D([], [], color=colours[name], label=name) for name in drawn]
    fig.legend(handles=handles, title="Explainer (mean over samples and pairs)",
               loc="outside lower center", ncols=min(len(handles), 8), fontsize=9)  # fmt: skip


def fig2(
    curves: pd.DataFrame,
    replicates: pd.DataFrame,
    k: int = 100,
    tissue: str | None = None,
    references: dict[str, str] | None = None,
) -> plt.Figure:
    """Figure 2: mean rho against n for the four strategies, CNN above MLP (A-D), and inter-model
    rho and top-k overlap without optimisation, optimised, and optimised + aggregated (E CNN with
    other gene orders, F MLP). `tissue` restricts E-F to that tissue's normal classes (as in
    Figure 1); `references` picks the reference type of panel C per arch (default: the paper's
    zero for CNN, universal for MLP)."""
    shown = [curve for curve in CURVES if curve in set(curves["curve"])]
    if tissue is not None:
        replicates = _tissue_rows(replicates, tissue)
    boxes = []
    for letter, arch, comparison in BOXES:
        rows = replicates[(replicates["arch"] == arch) & (replicates["comparison"] == comparison)]
        if not rows.empty:
            boxes.append((letter, arch, comparison, rows))
    if not shown and not boxes:
        raise ValueError("no curves and no replicate rows to draw Figure 2 from")
    fig = plt.figure(layout="constrained", figsize=(4.2 * max(len(shown), 2 * len(boxes)), 13))
    heights = [3.5 * curves["arch"].nunique()] * bool(shown) + [5] * bool(boxes)
    blocks = fig.subfigures(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]
    if shown:
        _curve_panels(blocks[0], curves, shown, {**PAPER_REFERENCE, **(references or {})})
    if boxes:
        grid = blocks[-1].add_gridspec(1, len(boxes))
    for col, (letter, arch, comparison, rows) in enumerate(boxes):
        name = f"{ARCHS.get(arch, arch)}: {comparison}"
        _box_panel(blocks[-1], grid[0, col], rows, "setting", SETTINGS, name, letter, k)
    fig.suptitle("Optimisation of explainer reproducibility" + (f" in {tissue}" if tissue else ""))
    return fig


def fig3(consistency: pd.DataFrame, groups: pd.DataFrame, k: int = 100) -> plt.Figure:
    """Figure 3: mean top-k overlap between combinations (matrix order kept), cluster boundaries
    as lines, groups I-III as black bars beside the rows, explained in the legend."""
    labels = list(consistency.index)
    values = consistency.loc[labels, labels].to_numpy(dtype=float)
    info = groups.set_index("combination").reindex(labels)
    n = len(labels)
    size = 3 + 0.3 * n
    fig, ax = plt.subplots(figsize=(size + 3, size + 2), layout="constrained")
    image = ax.imshow(values, cmap="Reds", vmin=0, vmax=k)
    ax.set_xticks(range(n), labels, rotation=90)
    ax.set_yticks(range(n), labels)
    ax.set(xlabel="Combination", ylabel="Combination")
    if n <= 30:
        for i, j in zip(*np.nonzero(np.isfinite(values)), strict=True):
            ax.text(j, i, f"{values[i, j]:.0f}", ha="center", va="center", fontsize=6,
                    color="white" if values[i, j] > 0.6 * k else "black")  # fmt: skip
    clusters = info["cluster"].to_numpy()
    for edge in np.flatnonzero(clusters[1:] != clusters[:-1]) + 0.5:
        ax.axhline(edge, color="black", lw=1.2)
        ax.axvline(edge, color="black", lw=1.2)
    bar = ax.inset_axes((1.01, 0, 0.04, 1), ylim=(n - 0.5, -0.5), xlim=(0, 1))
    bar.axis("off")
    group = info["group"].fillna("").to_numpy()
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    for start, stop in zip(starts, np.r_[starts[1:], n], strict=True):
        if group[start]:
            bar.plot([0.3, 0.3], [start - 0.4, stop - 0.6], color="black", lw=4)
            bar.text(0.7, (start + stop - 1) / 2, group[start], va="center", fontweight="bold")
    fig.colorbar(image, ax=ax, label=f"Top-{k} overlap (genes)", shrink=0.6, pad=0.06)
    members = groups[groups["group"].fillna("") != ""].groupby("group")["combination"]
    handles = [
        Line2D([], [], color="black", lw=4, label=f"Group {name}: {', '.join(names)}")
        for name, names in members
    ]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", fontsize=8, frameon=False)
    ax.set_title(f"Overlap of the top-{k} contributing genes across explainers")
    return fig


def figS4(curves: pd.DataFrame) -> plt.Figure:
    """Figure S4: mean rho against the number of references n, one line per reference type, one
    panel per architecture (rows) and explainer (columns)."""
    rows = curves[curves["curve"] == "references"]
    if rows.empty:
        raise ValueError("no 'references' curve rows to draw Figure S4 from")
    archs = sorted(set(rows["arch"]))
    present = set(rows["reference"])
    kinds = [r for r in REFERENCES if r in present] + sorted(present - set(REFERENCES))
    colours = _colours(kinds, "Dark2")
    ncols = max(rows.loc[rows["arch"] == arch, "explainer"].nunique() for arch in archs)
    fig, axes = plt.subplots(len(archs), ncols, squeeze=False, layout="constrained",
                             figsize=(4 * ncols + 1.5, 3.3 * len(archs)))  # fmt: skip
    letters = panel_letters()
    for row, arch in enumerate(archs):
        mine = rows[rows["arch"] == arch]
        explainers = list(dict.fromkeys(mine["explainer"]))
        for col, ax in enumerate(axes[row]):
            if col >= len(explainers):
                ax.remove()
                continue
            _mean_rho(ax, mine[mine["explainer"] == explainers[col]], "reference", colours)
            ax.set(title=f"{ARCHS.get(arch, arch)}: {explainers[col]}", ylabel=RHO,
                   xlabel="Number of references n")  # fmt: skip
            _letter(ax, next(letters))
    handles = [Line2D([], [], color=colours[kind], label=kind) for kind in kinds]
    fig.legend(handles=handles, title="Reference type", loc="outside right upper")
    fig.suptitle("Reproducibility by reference type (mean over samples and pairs)")
    return fig


def run(
    *, figure: str, tables: dict, tissues: list[str], k: int, title: str, png, pdf
) -> None:  # fmt: skip
    """Draw one figure from the reproducibility tables (paths by name) and save PNG and PDF.

    The paper's figures show its first focus tissue (liver); Figure S1 shows the others.
    """
    from txai import figures, io

    read = {name: io.read_table(path) for name, path in tables.items() if name != "clusters"}
    first = tissues[0]
    if "curves" in read:
        read["curves"] = read["curves"][read["curves"]["tissue"] == first]
    if figure == "fig1":
        fig = fig1(read["replicates"], first, k)
    elif figure == "figS1":
        fig = figS1(read["replicates"], tissues[1:] or tissues, k)
    elif figure == "fig2":
        fig = fig2(read["curves"], read["replicates"], k, tissue=first)
    elif figure == "figS4":
        fig = figS4(read["curves"])
    else:
        long = read["consistency"]
        square = long[long["tissue"] == first].pivot(index="a", columns="b", values="overlap")
        groups = pd.read_csv(tables["clusters"], sep="\t", keep_default_na=False)
        groups = groups[groups["tissue"] == first]
        order = groups.sort_values("order")["combination"].tolist()
        fig = fig3(square.loc[order, order], groups, k)
    fig.text(0.01, 0.0, title, fontsize=8, color="0.4", va="top")
    figures.save(fig, png, pdf)
