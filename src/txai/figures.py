"""Figures for people: labelled axes, units, legends; PNG and PDF with fixed metadata."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from txai import io  # noqa: E402


def save(fig: plt.Figure, png, pdf) -> None:
    """Write PNG and PDF atomically, without creation dates, so reruns give the same bytes."""
    with io.atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
    with io.atomic_path(pdf) as tmp:
        fig.savefig(
            tmp, format="pdf", bbox_inches="tight", metadata={"CreationDate": None, "Creator": None}
        )
    plt.close(fig)


def message_figure(message: str, suptitle: str) -> plt.Figure:
    """A figure that only says why there is nothing to draw (text gid "message")."""
    fig, ax = plt.subplots(figsize=(7, 2.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, gid="message")
    fig.suptitle(suptitle, fontsize=12)
    return fig


def confusion(predictions: pd.DataFrame, title: str) -> plt.Figure:
    """Row-normalised confusion matrix of pooled cross-validation predictions."""
    classes = sorted(set(predictions["class"]) | set(predictions["predicted"]))
    table = pd.crosstab(predictions["class"], predictions["predicted"]).reindex(
        index=classes, columns=classes, fill_value=0
    )
    share = 100 * table.to_numpy() / np.maximum(table.to_numpy().sum(axis=1, keepdims=True), 1)
    size = 2.5 + 0.45 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
    for i, j in zip(*np.nonzero(table.to_numpy()), strict=True):
        ax.text(j, i, f"{share[i, j]:.0f}", ha="center", va="center", fontsize=7,
                color="white" if share[i, j] > 60 else "black")  # fmt: skip
    ax.set_xticks(range(len(classes)), classes, rotation=90)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    accuracy = (predictions["class"] == predictions["predicted"]).mean()
    folds = predictions["fold"].nunique()
    ax.set_title(f"{title}\n{folds}-fold cross-validation, accuracy {100 * accuracy:.1f} %")
    fig.colorbar(image, ax=ax, label="Samples of the true class (%)", shrink=0.8)
    return fig


def sanity(table: pd.DataFrame, threshold: float) -> plt.Figure:
    """Similarity of each explainer's scores to the trained model's as layers are randomised
    from the output down (lines), with each layer alone (open markers) and with permuted labels
    (the last point); one column of panels per architecture, rho above, top-k overlap below."""
    archs = [a for a in ("mlp", "cnn") if a in set(table["arch"])]
    fig, axes = plt.subplots(2, len(archs), figsize=(6.5 * len(archs), 8), squeeze=False,
                             layout="constrained")  # fmt: skip
    colours = plt.get_cmap("tab10")
    for col, arch in enumerate(archs):
        rows = table[table["arch"] == arch]
        layers = list(dict.fromkeys(rows.loc[rows["randomisation"] == "cascading", "layer"]))
        ticks = ["trained", *layers, "permuted\nlabels"]
        for row, (metric, name) in enumerate((("rho", "Spearman's rho"),
                                              ("overlap", "Top-100 overlap (genes)"))):  # fmt: skip
            ax = axes[row, col]
            for i, (explainer, lines) in enumerate(rows.groupby("explainer", sort=False)):
                cascade = lines[lines["randomisation"] == "cascading"].sort_values("step")
                full = 1.0 if metric == "rho" else 100.0
                ys = [full, *cascade[metric], lines.loc[lines["randomisation"] == "labels",
                                                        metric].iloc[0]]  # fmt: skip
                verdict = "passes" if lines["passes"].iloc[0] else "fails"
                ax.plot(range(len(ys)), ys, marker="o", color=colours(i), gid=f"{arch}|{explainer}",
                        label=f"{explainer} ({verdict})")  # fmt: skip
                alone = lines[lines["randomisation"] == "independent"].sort_values("step")
                ax.scatter(alone["step"], alone[metric], facecolors="none", color=colours(i))
            if metric == "rho":
                ax.axhline(threshold, color="0.4", linestyle="--", label=f"pass below {threshold}")
            ax.set_xticks(range(len(ticks)), ticks, rotation=30, ha="right")
            ax.set_ylabel(name)
            ax.set_xlabel("Randomised (cascading from the output layer)")
            ax.set_title(f"{arch.upper()}: {name} to the trained model")
        axes[0, col].legend(fontsize=8, title="Explainer (open: one layer alone)",
                            bbox_to_anchor=(0.5, -0.25), loc="upper center", ncols=2)  # fmt: skip
        axes[0, col].text(-0.1, 1.04, "AB"[col], transform=axes[0, col].transAxes, fontsize=15,
                          fontweight="bold")  # fmt: skip
    fig.suptitle("Sanity checks: model-parameter and label randomisation")
    return fig


def run(*, figure: str, tables: dict, threshold: float, title: str, png, pdf) -> None:
    """Draw the sanity figure from `sanity/sanity.parquet` and save PNG and PDF."""
    fig = sanity(io.read_table(tables["sanity"]), threshold)
    fig.text(0.01, 0.0, title, fontsize=8, color="0.4", va="top")
    save(fig, png, pdf)
