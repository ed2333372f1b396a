"""Tests for txai.repro_figures on small synthetic tables: panel letters, labels, legends, and that
the drawn medians and curve means are those of the intended rows (PAPER-DIGEST.md sections 4, 5,
7)."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from txai import repro_figures as rf
from txai.figures import save

EXPLAINERS = ["Saliency", "DeepLift", "IntegratedGradients"]
CLASSES = {"liver": ["liver normal", "liver cancer"], "lung": ["lung cancer"]}
K = 100


@pytest.fixture(scope="module")
def replicates() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for arch, explainer, setting, (tissue, classes) in itertools.product(
        ["cnn", "mlp"], EXPLAINERS, rf.SETTINGS, CLASSES.items()
    ):
        comparisons = list(rf.COMPARISONS)[: 3 if arch == "cnn" else 2]
        for comparison, name, sample, pair in itertools.product(
            comparisons, classes, range(3), range(4)
        ):
            rows.append((arch, explainer, setting, comparison, tissue, name, f"{name} {sample}",
                         pair, rng.uniform(-0.2, 1), int(rng.integers(0, K + 1))))  # fmt: skip
    columns = ["arch", "explainer", "setting", "comparison", "tissue", "class", "sample", "pair"]
    table = pd.DataFrame(rows, columns=[*columns, "rho", "overlap"])
    table.loc[::17, "rho"] = np.nan
    return table


@pytest.fixture(scope="module")
def curves() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for arch, explainer, curve in itertools.product(["cnn", "mlp"], EXPLAINERS, rf.CURVES):
        kinds = ["zero", "normal", "universal"] if curve == "references" else [""]
        if curve == "references" and explainer == "Saliency":
            continue  # Saliency needs no reference
        for kind, n, sample, pair in itertools.product(kinds, [1, 2, 5, 10], range(3), range(3)):
            rho = 1 - 0.5 / n + rng.normal(0, 0.05)
            rows.append((arch, explainer, curve, kind, n, f"s{sample}", pair, rho, int(K * rho)))
    columns = ["arch", "explainer", "curve", "reference", "n", "sample", "pair", "rho", "overlap"]
    return pd.DataFrame(rows, columns=columns)


@pytest.fixture(scope="module")
def consistency() -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = [f"{arch} {e}" for arch in ["MLP-Agg", "CNN-Agg"] for e in EXPLAINERS]
    rng = np.random.default_rng(2)
    values = rng.uniform(0, K, size=(6, 6))
    matrix = pd.DataFrame((values + values.T) / 2, index=labels, columns=labels)
    groups = pd.DataFrame(
        {
            "combination": labels,
            "group": ["III", "II", "II", "", "I", "I"],
            "cluster": [1, 2, 2, 3, 3, 3],
        }  # fmt: skip
    )
    return matrix, groups


def texts(fig: plt.Figure) -> set[str]:
    return {t.get_text() for t in fig.texts + [t for ax in fig.axes for t in ax.texts]}


def letters(fig: plt.Figure) -> set[str]:
    return {t for t in texts(fig) if len(t) == 1 and t.isupper()}


def by_title(fig: plt.Figure, title: str) -> plt.Axes:
    (ax,) = [ax for ax in fig.axes if ax.get_title() == title]
    return ax


def legend_labels(legend) -> set[str]:
    return {t.get_text() for t in legend.get_texts()}


def assert_labelled(fig: plt.Figure) -> None:
    """Every axes with data has a y label, and an x label on it or on an axes sharing its x."""
    for ax in fig.axes:
        if ax.lines or ax.patches or ax.images:
            assert ax.get_ylabel()
            assert any(a.get_xlabel() for a in ax.get_shared_x_axes().get_siblings(ax))


def median_drawn(ax: plt.Axes, gid: str) -> float:
    (line,) = [line for line in ax.lines if line.get_gid() == gid]
    return line.get_ydata()[0]


def test_fig1_panels_and_medians(replicates):
    fig = rf.fig1(replicates, "liver", k=K)
    assert letters(fig) == {"A", "B"}
    assert "liver" in fig.get_suptitle() and "without optimisation" in fig.get_suptitle()
    assert_labelled(fig)
    cnn = by_title(fig, "CNN, liver normal")
    mlp = by_title(fig, "MLP, liver normal")
    assert legend_labels(cnn.get_legend()) == set(rf.COMPARISONS)
    assert legend_labels(mlp.get_legend()) == {"intra-model", "inter-model"}
    chosen = replicates[
        (replicates["setting"] == "plain") & (replicates["class"] == "liver normal")
        & (replicates["arch"] == "cnn") & (replicates["explainer"] == "DeepLift")
        & (replicates["comparison"] == "inter-model")
    ]  # fmt: skip
    assert median_drawn(cnn, "DeepLift|inter-model|rho") == pytest.approx(chosen["rho"].median())
    plt.close(fig)


def test_fig1_without_normal_class_and_missing_arch(replicates):
    fig = rf.fig1(replicates[replicates["arch"] == "mlp"], "lung", k=K)
    assert letters(fig) == {"A"}
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["MLP, lung cancer"]
    plt.close(fig)
    with pytest.raises(ValueError, match="no 'plain'"):
        rf.fig1(replicates, "brain")


def test_figS1_one_row_per_tissue(replicates):
    fig = rf.figS1(replicates, ["liver", "lung"], k=K)
    assert letters(fig) == {"A", "B", "C", "D"}
    assert by_title(fig, "MLP, lung cancer").get_ylabel() == "Spearman's rho"
    assert_labelled(fig)
    plt.close(fig)


def test_figS1_of_many_tissues_letters_every_panel_and_fits_a_png(replicates):
    """14 tissues (a cohort's default focus: every tissue): 28 panels, A to Z, then AA and AB;
    a row per tissue, as tall as Agg can draw at 150 dpi for 80 tissues."""
    liver = replicates[replicates["tissue"] == "liver"]
    names = [f"t{i:02d}" for i in range(14)]
    fig = rf.figS1(pd.concat([liver.assign(tissue=t) for t in names]), names, k=K)
    assert {"A", "Z", "AA", "AB"} <= texts(fig) and "AC" not in texts(fig)
    assert fig.get_size_inches()[1] == 14 * 5.5
    plt.close(fig)
    assert rf.row_height(5.5, 80) * 80 == rf.TALLEST and rf.TALLEST * 150 < 2**16


def test_fig2_all_panels_and_curve_means(curves, replicates):
    fig = rf.fig2(curves, replicates, k=K, tissue="liver")
    assert letters(fig) == set("ABCDEF")
    assert_labelled(fig)
    assert legend_labels(fig.subfigs[0].legends[0]) == set(EXPLAINERS)
    upper = by_title(fig, "MLP: inter-model")
    assert legend_labels(upper.get_legend()) == set(rf.SETTINGS.values())
    models = by_title(fig, "MLP: aggregated models")
    (line,) = [line for line in models.lines if line.get_label() == "DeepLift"]
    chosen = curves[
        (curves["arch"] == "mlp") & (curves["curve"] == "models")
        & (curves["explainer"] == "DeepLift")
    ]  # fmt: skip
    expected = chosen.groupby("n")["rho"].mean()
    np.testing.assert_allclose(line.get_xdata(), expected.index)
    np.testing.assert_allclose(line.get_ydata(), expected.to_numpy())
    zero = by_title(fig, "CNN: references (zero)")  # the paper's best type per arch
    assert {line.get_label() for line in zero.lines} == {"DeepLift", "IntegratedGradients"}
    by_title(fig, "MLP: references (universal)")
    aggregated = replicates[
        (replicates["class"] == "liver normal") & (replicates["setting"] == "aggregated")
        & (replicates["arch"] == "cnn") & (replicates["comparison"] == "inter-model, other orders")
        & (replicates["explainer"] == "Saliency")
    ]  # fmt: skip
    cnn = by_title(fig, "CNN: inter-model, other orders")
    assert median_drawn(cnn, "Saliency|aggregated|rho") == pytest.approx(aggregated["rho"].median())
    plt.close(fig)


def test_fig2_drops_missing_panels(curves, replicates):
    fig = rf.fig2(curves[curves["curve"] != "models"], replicates[replicates["arch"] == "mlp"])
    assert letters(fig) == set("ABCF")
    assert_labelled(fig)
    plt.close(fig)
    fig = rf.fig2(curves.iloc[:0], replicates[replicates["arch"] == "cnn"])
    assert letters(fig) == {"E"}
    assert not any(sub.legends for sub in fig.subfigs)
    plt.close(fig)


def test_fig3_heatmap_groups_and_clusters(consistency):
    matrix, groups = consistency
    fig = rf.fig3(matrix, groups, k=K)
    heatmap = fig.axes[0]
    assert [t.get_text() for t in heatmap.get_yticklabels()] == list(matrix.index)
    assert len(heatmap.texts) == 36
    assert heatmap.texts[1].get_text() == f"{matrix.iloc[0, 1]:.0f}"
    assert any(ax.get_ylabel() == "Top-100 overlap (genes)" for ax in fig.axes)
    assert {"I", "II", "III"} <= {t.get_text() for t in heatmap.child_axes[0].texts}
    assert {t.split(":")[0] for t in legend_labels(fig.legends[0])} == {
        "Group I",
        "Group II",
        "Group III",
    }
    edges = sorted(line.get_ydata()[0] for line in heatmap.lines if line.get_xdata()[0] == 0)
    assert edges == [0.5, 2.5]  # cluster boundaries between rows 0|1 and 2|3
    plt.close(fig)


def test_fig3_large_matrix_has_no_cell_values():
    labels = [f"MLP E{i}" for i in range(31)]
    matrix = pd.DataFrame(np.full((31, 31), 50.0), index=labels, columns=labels)
    groups = pd.DataFrame({"combination": labels, "group": "", "cluster": 0})
    fig = rf.fig3(matrix, groups)
    assert not fig.axes[0].texts and not fig.legends
    plt.close(fig)


def test_figS4_reference_types(curves):
    fig = rf.figS4(curves)
    assert letters(fig) == set("ABCD")  # 2 archs x 2 explainers with references
    assert legend_labels(fig.legends[0]) == {"zero", "normal", "universal"}
    assert_labelled(fig)
    ax = by_title(fig, "CNN: IntegratedGradients")
    (line,) = [line for line in ax.lines if line.get_label() == "normal"]
    chosen = curves[
        (curves["arch"] == "cnn") & (curves["curve"] == "references")
        & (curves["explainer"] == "IntegratedGradients") & (curves["reference"] == "normal")
    ]  # fmt: skip
    np.testing.assert_allclose(line.get_ydata(), chosen.groupby("n")["rho"].mean().to_numpy())
    plt.close(fig)


def test_figures_save_png_and_pdf(tmp_path, replicates, curves, consistency):
    """Drawing is where layout errors show; fig1 and figS1 share fig2's box panels."""
    figures = {
        "fig2": rf.fig2(
            curves[curves["curve"] == "models"], replicates[replicates["arch"] == "mlp"]
        ),
        "fig3": rf.fig3(*consistency),
        "figS4": rf.figS4(curves),
    }
    for name, fig in figures.items():
        save(fig, tmp_path / f"{name}.png", tmp_path / f"{name}.pdf")
        for suffix in ("png", "pdf"):
            assert (tmp_path / f"{name}.{suffix}").stat().st_size > 1024
