"""Tests for txai.bio_figures on small synthetic tables: panel letters, labels, legends, and that
the drawn medians, bars and heatmaps are those of the intended rows (PAPER-DIGEST.md sections 6,
7)."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from txai import bio_figures as bf
from txai.figures import save
from txai.io import write_table

K = 5
EXPLAINERS = ["DeepLift", "Saliency", "IntegratedGradients"]
CLASSES = pd.DataFrame(
    [
        ("normal_liver", "liver", "normal"),
        ("normal_lung", "lung", "normal"),
        ("normal_ovary", "ovary", "normal"),
        ("cancer_liver", "liver", "cancer"),
        ("cancer_lung", "lung", "cancer"),
    ],
    columns=["class", "tissue", "status"],
)
GENES = [f"G{i:02d}" for i in range(30)]
SETS = ["top expressed", "TS", "HK", "TF", "TF cofactor"]
GROUPS = {
    "I": ["CNN-Agg DeepLift", "CNN-Agg Saliency"],
    "II": ["MLP-Agg DeepLift", "MLP-Agg IntegratedGradients"],
    "III": ["MLP-Agg Saliency"],
}
REPRESENTATIVES = ["CNN-Agg DeepLift", "MLP-Agg DeepLift", "MLP-Agg Saliency"]
COMBOS = list(itertools.product(["cnn", "mlp"], EXPLAINERS, [False, True]))


@pytest.fixture(scope="module")
def overlaps() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for (arch, explainer, aggregated), cls, sample, name in itertools.product(
        COMBOS, CLASSES.itertuples(index=False), range(3), SETS
    ):
        for top_k in (K, 10):  # rows of another k must be ignored
            overlap = int(rng.integers(0, top_k + 1))
            rows.append((arch, explainer, aggregated, f"{cls[0]} {sample}", *cls, name, top_k,
                         overlap, rng.uniform(0, 2), rng.uniform()))  # fmt: skip
    columns = ["arch", "explainer", "aggregated", "sample", "class", "tissue", "status", "set"]
    return pd.DataFrame(rows, columns=[*columns, "top_k", "overlap", "expected", "p"])


@pytest.fixture(scope="module")
def status() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = [
        (arch, explainer, aggregated, f"{cls[0]} {sample}", *cls, rng.uniform(-0.2, 1))
        for (arch, explainer, aggregated), cls, sample in itertools.product(
            COMBOS, CLASSES.itertuples(index=False), range(4)
        )
    ]
    columns = ["arch", "explainer", "aggregated", "sample", "class", "tissue", "status", "rho"]
    return pd.DataFrame(rows, columns=columns)


@pytest.fixture(scope="module")
def medians() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    classes = [*CLASSES["class"], "normal_brain"]
    values = rng.lognormal(1, 2, size=(len(classes), len(GENES)))
    values[:, 0] = 3.0  # a constant gene: z-score 0
    return pd.concat([pd.DataFrame({"class": classes}), pd.DataFrame(values, columns=GENES)],
                     axis=1)  # fmt: skip


@pytest.fixture(scope="module")
def representatives() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for label, cls in itertools.product(REPRESENTATIVES, CLASSES.itertuples(index=False)):
        pool = GENES[:12] if label == "MLP-Agg Saliency" else GENES
        for rank, gene in enumerate(rng.choice(pool, size=K + 2, replace=False), start=1):
            rows.append((label, *cls, rank, gene))  # ranks K+1, K+2 must be ignored
    return pd.DataFrame(rows, columns=["combination", "class", "tissue", "status", "rank", "gene"])


@pytest.fixture(scope="module")
def genes() -> pd.DataFrame:
    ts_classes = ["normal_liver", "normal_liver;normal_lung", "", "cancer_lung", "normal_brain"]
    rows = []
    for i, gene in enumerate(GENES):
        classes = ts_classes[i % len(ts_classes)]
        rows.append((gene, f"SYM{i}", "Tissue-Enriched" if classes else "", classes,
                     bool(classes), i % 7 == 0, i % 4 == 0, i % 9 == 0))  # fmt: skip
    columns = ["gene", "symbol", "ts_category", "ts_classes", "ts", "housekeeping", "tf"]
    return pd.DataFrame(rows, columns=[*columns, "tf_cofactor"])


@pytest.fixture(scope="module")
def top_de() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    chance = {"liver": 0.2, "lung": 0.3}
    rows = [
        (arch, explainer, aggregated, *cls[1:], cls[0], top_k, rng.uniform(), chance[cls[1]])
        for (arch, explainer, aggregated), cls, top_k in itertools.product(
            COMBOS, CLASSES[CLASSES["tissue"] != "ovary"].itertuples(index=False), (K, 10)
        )
    ]
    columns = ["arch", "explainer", "aggregated", "tissue", "status", "class", "top_k"]
    return pd.DataFrame(rows, columns=[*columns, "de_share", "chance"])


@pytest.fixture(scope="module")
def split() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = [
        (label, tissue, gene, rng.choice(bf.WHERE), rng.uniform(0, 10), rng.uniform(0, 10))
        for label, tissue, gene in itertools.product(
            ["MLP-Agg DeepLift", "MLP-Agg Saliency"], ["liver", "lung"], GENES[:8]
        )
    ]
    columns = ["combination", "tissue", "gene", "where", "log2_normal", "log2_cancer"]
    return pd.DataFrame(rows, columns=columns)


@pytest.fixture(scope="module")
def shared() -> pd.DataFrame:
    roles = {"G03": "oncogene", "G07": "tumour suppressor"}
    rows = [
        (cls, gene, 2 + i, roles.get(gene, ""))
        for cls, genes in (("cancer_liver", GENES[:10]), ("cancer_lung", GENES[5:15]))
        for i, gene in enumerate(genes)
    ]
    return pd.DataFrame(rows, columns=["class", "gene", "samples", "role"])


def texts(fig) -> list:
    figs = [fig, *fig.subfigs, *(sub for parent in fig.subfigs for sub in parent.subfigs)]
    return [t for f in figs for t in f.texts] + [t for ax in fig.axes for t in ax.texts]


def letters(fig) -> set[str]:
    """Panel letters: one bold capital in the large font (group names such as "I" are smaller)."""
    return {
        t.get_text()
        for t in texts(fig)
        if len(t.get_text()) == 1 and t.get_text().isupper() and t.get_fontsize() >= 15
    }


def by_title(fig, start: str, exact: bool = False) -> plt.Axes:
    (ax,) = [
        ax
        for ax in fig.axes
        if (ax.get_title() == start if exact else ax.get_title().startswith(start))
    ]
    return ax


def assert_labelled(fig) -> None:
    """Every axes with data (colour bars aside) has an x and a y label, on it or on an axes
    sharing that axis."""
    for ax in fig.axes:
        if (ax.lines or ax.patches or ax.images) and not hasattr(ax, "_colorbar"):
            assert any(a.get_ylabel() for a in ax.get_shared_y_axes().get_siblings(ax))
            assert any(a.get_xlabel() for a in ax.get_shared_x_axes().get_siblings(ax))


def drawn(ax: plt.Axes, gid: str):
    (artist,) = [a for a in [*ax.lines, *ax.patches, *ax.images] if a.get_gid() == gid]
    return artist


def chosen(table, **where) -> pd.DataFrame:
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= (table[column] == value).to_numpy()
    return table[mask]


def test_fig4_all_panels_and_values(overlaps, medians, representatives):
    fig = bf.fig4(overlaps, medians, representatives, GROUPS, "liver", "ovary", k=K)
    assert letters(fig) == set("ABCDEF")
    assert_labelled(fig)
    a = by_title(fig, "Top-5 contributing vs top-5 expressed")
    assert a.get_ylabel() == "Top-5 overlap (genes)"
    rows = chosen(overlaps, tissue="liver", status="normal", set="top expressed", top_k=K,
                  arch="mlp", explainer="DeepLift", aggregated=False)  # fmt: skip
    assert drawn(a, "A|MLP DeepLift").get_ydata()[0] == pytest.approx(rows["overlap"].median())
    ticks = [t.get_text() for t in a.get_xticklabels()]
    assert ticks[:3] == ["CNN DeepLift", "CNN Saliency", "CNN IntegratedGradients"]
    assert ticks[-3:] == ["MLP-Agg DeepLift", "MLP-Agg IntegratedGradients", "MLP-Agg Saliency"]
    bars = {line.get_gid(): list(line.get_xdata()) for line in a.lines if line.get_gid()}
    assert bars["group|I"] == [3 - 0.35, 4 + 0.35]  # CNN-Agg DeepLift, CNN-Agg Saliency
    assert bars["group|II"] == [9 - 0.35, 10 + 0.35]  # members next to each other
    assert bars["group|III"] == [11 - 0.35, 11 + 0.35]
    d = by_title(fig, "Overlap with tissue-specific")
    rows = chosen(overlaps, tissue="liver", status="normal", set="TS", top_k=K, arch="cnn",
                  explainer="Saliency", aggregated=True)  # fmt: skip
    expected = drawn(d, "expected|CNN-Agg Saliency").get_ydata()[0]
    assert expected == pytest.approx(rows["expected"].mean())
    ovary = by_title(fig, "TF-coding genes, ovary")
    rows = chosen(overlaps, tissue="ovary", set="TF", top_k=K, arch="cnn", explainer="DeepLift",
                  aggregated=False)  # fmt: skip
    median = drawn(ovary, "F|CNN DeepLift").get_ydata()[0]
    assert median == pytest.approx((100 * rows["overlap"] / K).median())
    assert ovary.get_ylabel() == "Genes (% of top 5)"
    plt.close(fig)


def test_fig4_heatmaps_are_the_representatives_genes(overlaps, medians, representatives):
    fig = bf.fig4(overlaps, medians, representatives, GROUPS, "liver", k=K)
    heatmap = by_title(fig, "Group II: MLP-Agg DeepLift\n")
    mine = chosen(representatives, combination="MLP-Agg DeepLift", status="normal")
    mine = mine[mine["rank"] <= K].sort_values(["class", "rank"])
    normal = ["normal_liver", "normal_lung", "normal_ovary"]
    genes = list(dict.fromkeys(g for c in normal for g in mine.loc[mine["class"] == c, "gene"]))
    log2 = np.log2(medians.set_index("class").loc[normal, genes].T.to_numpy() + 1)
    sd = log2.std(axis=1, keepdims=True)
    z = np.where(sd > 0, (log2 - log2.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1), 0)
    np.testing.assert_allclose(drawn(heatmap, "B|MLP-Agg DeepLift").get_array(), z)
    assert [t.get_text() for t in heatmap.get_xticklabels()] == normal
    assert heatmap.get_title().endswith(f"{len(genes)} distinct genes")
    matrix = by_title(fig, "Group III: MLP-Agg Saliency", exact=True)
    assert not matrix.get_title().endswith("genes")
    sets = {
        c: set(chosen(representatives, combination="MLP-Agg Saliency", **{"class": c})
               .query("rank <= @K")["gene"])
        for c in normal
    }  # fmt: skip
    values = np.array(drawn(matrix, "C|MLP-Agg Saliency").get_array())
    assert values[0, 1] == len(sets["normal_liver"] & sets["normal_lung"])
    assert np.all(np.diag(values) == K)
    assert str(K) in {t.get_text() for t in matrix.texts}
    plt.close(fig)


def test_fig4_leaves_out_missing_panels(overlaps, medians, representatives):
    some = overlaps[overlaps["set"].isin(["top expressed", "TS"])]
    fig = bf.fig4(some, medians, representatives.iloc[:0], None, "lung", k=K)
    assert letters(fig) == {"A", "D"}
    assert not any(line.get_gid() == "group|I" for ax in fig.axes for line in ax.lines)
    assert_labelled(fig)
    plt.close(fig)
    with pytest.raises(ValueError, match="Figure 4"):
        bf.fig4(overlaps, medians, representatives.iloc[:0], GROUPS, "brain", k=K)


def test_fig5_panels_and_values(top_de, split, shared, medians, tmp_path):
    fig = bf.fig5(top_de, split, shared, medians, k=K)
    assert letters(fig) == set("ABC")
    assert_labelled(fig)
    a = by_title(fig, "Top-5 genes of normal classes")
    rows = chosen(top_de, arch="mlp", explainer="DeepLift", aggregated=True, tissue="lung",
                  status="normal", top_k=K)  # fmt: skip
    bar = drawn(a, "A|MLP-Agg DeepLift|lung")
    assert bar.get_height() == pytest.approx(100 * rows["de_share"].mean())
    assert drawn(a, "chance|liver").get_ydata()[0] == pytest.approx(20)
    left = by_title(fig, "MLP-Agg DeepLift\n")
    rows = chosen(split, combination="MLP-Agg DeepLift", where="only cancer")
    median = drawn(left, "B|MLP-Agg DeepLift|only cancer|cancer").get_ydata()[0]
    assert median == pytest.approx(rows["log2_cancer"].median())
    assert left.get_ylabel() == "log2(TPM + 1)"
    heatmap = by_title(fig, "15 shared top-5")
    image = drawn(heatmap, "C")
    assert image.get_array().shape == (15, 2)
    strip = next(ax for ax in fig.axes if ax.get_xlabel() == "Role")
    labels = [t.get_text() for t in strip.get_yticklabels()]
    assert sorted(labels) == GENES[:15]
    z = bf.shared_heatmap(shared, medians)
    np.testing.assert_allclose(image.get_array(), z.to_numpy())
    assert {t.get_text() for t in fig.subfigs[2].legends[0].get_texts()} == {
        "oncogene",
        "tumour suppressor",
    }
    save(fig, tmp_path / "fig5.png", tmp_path / "fig5.pdf")
    assert (tmp_path / "fig5.png").stat().st_size > 1000
    assert (tmp_path / "fig5.pdf").stat().st_size > 1000


def test_fig5_without_de_and_many_shared_genes(split, medians):
    extra = [f"X{i:02d}" for i in range(31)]
    wide = pd.concat([medians, pd.DataFrame({g: np.arange(len(medians)) + i
                                             for i, g in enumerate(extra)})], axis=1)  # fmt: skip
    many = pd.DataFrame({"class": "cancer_liver", "gene": GENES + extra, "samples": 2, "role": ""})
    many = pd.concat([many, many.assign(**{"class": "cancer_lung"})])
    columns = ["arch", "explainer", "aggregated", "tissue", "class", "status", "top_k"]
    no_de = pd.DataFrame(columns=[*columns, "de_share", "chance"])
    fig = bf.fig5(no_de, split, many, wide, k=K)
    assert letters(fig) == {"B", "C"}
    heatmap = by_title(fig, "61 shared")
    assert heatmap.get_ylabel() == "Shared top-5 genes (n = 61)"
    assert len(heatmap.get_yticks()) == 0  # too many genes to name
    assert_labelled(fig)
    plt.close(fig)
    nothing = bf.fig5(no_de, split.iloc[:0], many.iloc[:0], medians)  # a normal-only cohort
    message = [t.get_text() for t in nothing.findobj(lambda a: a.get_gid() == "message")]
    assert message == [bf.NOTHING_IN_CANCER] and letters(nothing) == set()
    plt.close(nothing)


def test_figS9_one_panel_per_tissue(status):
    fig = bf.figS9(status)
    assert letters(fig) == {"A", "B", "C"}
    assert_labelled(fig)
    lung = by_title(fig, "lung")
    assert lung.get_ylabel() == "Spearman's rho (score vs expression)"
    rows = chosen(status, tissue="lung", status="cancer", arch="mlp", explainer="Saliency",
                  aggregated=True)  # fmt: skip
    median = drawn(lung, "lung|MLP-Agg Saliency|cancer").get_ydata()[0]
    assert median == pytest.approx(rows["rho"].median())
    ovary = by_title(fig, "ovary")
    assert not [line for line in ovary.lines if str(line.get_gid()).endswith("|cancer")]
    plt.close(fig)
    with pytest.raises(ValueError, match="Figure S9"):
        bf.figS9(status.iloc[:0])


def test_figS9_and_figS11_of_many_tissues(status, overlaps, genes, medians):
    """30 tissues: a panel of S9 each (A to Z, then AA to AD); S11 A turns their names."""
    liver = status[status["tissue"] == "liver"]
    many = pd.concat([liver.assign(tissue=f"t{i:02d}") for i in range(30)])
    fig = bf.figS9(many)
    drawn = [t.get_text() for t in texts(fig)]
    assert {"A", "Z", "AA", "AD"} <= set(drawn) and "AE" not in drawn
    plt.close(fig)
    rows = overlaps[overlaps["tissue"] == "liver"]
    fig = bf.figS11(pd.concat([rows.assign(tissue=f"t{i:02d}") for i in range(30)]), genes,
                    medians, k=K)  # fmt: skip
    ticks = by_title(fig, f"Overlap of the top-{K}").get_xticklabels()
    assert len(ticks) == 30 and {t.get_rotation() for t in ticks} == {60}
    plt.close(fig)


def test_run_reads_tables_and_keeps_focus_tissues(status, tmp_path):
    write_table(status, tmp_path / "status.parquet")
    png, pdf = tmp_path / "figS9.png", tmp_path / "figS9.pdf"
    bf.run(figure="figS9", tables={"status": tmp_path / "status.parquet"}, k=K, title="demo",
           tissues=["lung", "liver"], groups=GROUPS, png=png, pdf=pdf)  # fmt: skip
    assert png.stat().st_size > 1000 and pdf.stat().st_size > 1000
    with pytest.raises(ValueError, match="unknown"):
        bf.run(figure="fig9", tables={}, tissues=["lung"], k=K, title="", groups={}, png=png,
               pdf=pdf)  # fmt: skip


def test_figS11_ts_share_and_counts(overlaps, genes, medians):
    fig = bf.figS11(overlaps, genes, medians, k=K)
    assert letters(fig) == {"A", "B"}
    assert_labelled(fig)
    a = by_title(fig, "Overlap of the top-5")
    rows = chosen(overlaps, tissue="lung", status="normal", set="TS", top_k=K, arch="mlp",
                  explainer="DeepLift", aggregated=True)  # fmt: skip
    median = drawn(a, "A|lung|MLP-Agg DeepLift").get_ydata()[0]
    assert median == pytest.approx((100 * rows["overlap"] / K).median())
    assert not [line for line in a.lines if "MLP DeepLift" in str(line.get_gid())]
    b = by_title(fig, "Tissue-specific genes per class")
    assert drawn(b, "B|normal_liver").get_height() == 12  # 6 "normal_liver" + 6 with lung
    assert drawn(b, "B|cancer_liver").get_height() == 0
    brain, liver = drawn(b, "B|normal_brain"), drawn(b, "B|normal_liver")
    assert brain.get_facecolor() != liver.get_facecolor()  # focus classes highlighted
    plt.close(fig)
    with pytest.raises(ValueError, match="Figure S11"):
        bf.figS11(overlaps.iloc[:0], genes, medians.iloc[:0], k=K)
