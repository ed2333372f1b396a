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
