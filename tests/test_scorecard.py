import numpy as np
import pandas as pd
import pytest

from txai import figures, io, scorecard


def gene_table() -> pd.DataFrame:
    """Ten genes with planted roles over classes normal_a, cancer_a, normal_b (and cancer_ab,
    whose name contains cancer_a, to catch substring matches)."""
    rows = [
        ("g01", "tissue_enriched", "normal_a"),
        ("g02", "background", None),
        ("g03", "group_enriched", "normal_a;cancer_a"),
        ("g04", "cancer_up", "cancer_a"),
        ("g05", "housekeeping", None),
        ("g06", "cancer_down", "cancer_a"),
        ("g07", "module", "normal_a;cancer_a"),
        ("g08", "cancer_only", "cancer_a;cancer_ab"),
        ("g09", "tissue_enriched", "cancer_ab"),
        ("g10", "tf", None),
        ("g11", "tissue_enriched", "normal_b"),
    ]
    table = pd.DataFrame(rows, columns=["gene", "truth_role", "truth_classes"])
    table.insert(1, "symbol", table["gene"].str.upper())
    table["truth_module"] = np.where(table["truth_role"] == "module", "module01", None)
    return table


def test_markers_follow_roles_and_named_classes():
    found = scorecard.markers(gene_table(), ["normal_a", "cancer_a", "normal_b", "normal_c"])
    assert found == {
        "normal_a": {"g01", "g03", "g07"},
        "cancer_a": {"g03", "g04", "g06", "g07", "g08"},  # not g09 (cancer_ab)
        "normal_b": {"g11"},
        "normal_c": set(),
    }


def test_markers_roles_can_be_narrowed_and_need_truth():
    found = scorecard.markers(gene_table(), ["cancer_a"], roles=("cancer_up", "cancer_down"))
    assert found == {"cancer_a": {"g04", "g06"}}
    with pytest.raises(io.InputError, match="truth_role"):
        scorecard.markers(gene_table().drop(columns=["truth_role"]), ["cancer_a"])


def test_scores_hand_computed():
    top = {"x": ["g1", "g2", "g3", "g4"], "y": ["g4", "g3", "g2", "g1"], "z": ["g1", "g2"]}
    planted = {"x": {"g1", "g3", "g9"}, "y": {"g1"}}
    table = scorecard.scores(top, planted, k=2).set_index("class")
    assert list(table.index) == ["x", "y", "z"]
    assert table.loc["x", ["k", "markers", "hits"]].tolist() == [2, 3, 1]
    assert table.loc["x", "precision"] == pytest.approx(0.5)
    assert table.loc["x", "recall"] == pytest.approx(1 / 3)
    assert table.loc["x", "r_precision"] == pytest.approx(2 / 3)  # g1, g3 in the top 3
    assert table.loc["y", ["hits", "precision", "recall", "r_precision"]].tolist() == [0, 0, 0, 0]
    assert table.loc["z", "hits"] == 0 and table.loc["z", "markers"] == 0
    assert np.isnan(table.loc["z", "recall"]) and np.isnan(table.loc["z", "r_precision"])


def test_scores_need_deep_enough_rankings():
    with pytest.raises(ValueError, match="need at least 3"):
        scorecard.scores({"x": ["g1", "g2"]}, {"x": {"g1", "g2", "g3"}}, k=2)


def synthetic(n_genes: int, classes: list[str], per_class: int, seed: int):
    """A truth table with `per_class` tissue-enriched markers per class, and a sample sheet with
    three samples per class of tissue t (indexed by sample)."""
    rng = np.random.default_rng(seed)
    ids = [f"g{i:04d}" for i in range(n_genes)]
    role = np.array(["background"] * n_genes, dtype=object)
    named = np.array([None] * n_genes, dtype=object)
    chosen = rng.permutation(n_genes)[: per_class * len(classes)].reshape(len(classes), -1)
    for c, genes in zip(classes, chosen, strict=True):
        role[genes], named[genes] = "tissue_enriched", c
    genes = pd.DataFrame({"gene": ids, "truth_role": role, "truth_classes": named})
    sheet = pd.DataFrame(
        {"sample": [f"s{c}_{i}" for c in classes for i in range(3)],
         "class": [c for c in classes for _ in range(3)], "tissue": "t", "status": "normal"}
    ).set_index("sample")  # fmt: skip
    return genes, sheet


def test_perfect_explainer_recovers_every_marker():
    classes = [f"normal_{i}" for i in range(5)]
    genes, sheet = synthetic(300, classes, 12, seed=1)
    planted = scorecard.markers(genes, classes)
    indicator = np.array([[g in planted[c] for g in genes["gene"]] for c in sheet["class"]])
    values = pd.DataFrame(indicator.astype(float), index=sheet.index, columns=genes["gene"])
    table = scorecard.scorecard([("mlp", "Oracle", True, values)], sheet, genes, ["t"], k=20)
    assert len(table) == 5
    assert (table["recall"] == 1).all() and (table["r_precision"] == 1).all()
    assert (table["hits"] == 12).all()
    np.testing.assert_allclose(table["precision"], 12 / 20)
    assert set(table["combination"]) == {"MLP-Agg Oracle"}


def test_random_explainer_is_near_chance():
    classes = [f"normal_{i}" for i in range(20)]
    genes, sheet = synthetic(2000, classes, 100, seed=2)
    rng = np.random.default_rng(3)
    values = pd.DataFrame(rng.random((len(sheet), 2000)), index=sheet.index, columns=genes["gene"])
    table = scorecard.scorecard([("cnn", "Noise", False, values)], sheet, genes, ["t"], k=100)
    # Chance: recall = k / genes = 0.05, R-precision = markers / genes = 0.05 (sd of the mean
    # over 20 classes ~0.005)
    assert table["recall"].mean() == pytest.approx(0.05, abs=0.02)
    assert table["r_precision"].mean() == pytest.approx(0.05, abs=0.02)
    assert table["recall"].max() < 0.2


def test_ties_are_broken_by_gene_order():
    genes = gene_table()
    sheet = pd.DataFrame(
        {"sample": ["s1", "s2"], "class": ["normal_a", "cancer_a"], "tissue": "a",
         "status": ["normal", "cancer"]}
    ).set_index("sample")  # fmt: skip
    flat = pd.DataFrame(1.0, index=sheet.index, columns=genes["gene"])
    table = scorecard.scorecard([("mlp", "Flat", False, flat)], sheet, genes, ["a"], k=4)
    table = table.set_index("class")
    # Top 4 = g01..g04. normal_a: markers g01 g03 g07 -> hits 2, top 3 (g01..g03) holds 2.
    assert table.loc["normal_a", ["hits", "markers"]].tolist() == [2, 3]
    assert table.loc["normal_a", "r_precision"] == pytest.approx(2 / 3)
    # cancer_a: markers g03 g04 g06 g07 g08 -> top 4 holds g03 g04; top 5 (to g05) the same.
    assert table.loc["cancer_a", ["hits", "markers"]].tolist() == [2, 5]
    assert table.loc["cancer_a", "r_precision"] == pytest.approx(2 / 5)
    assert list(table.index) == ["normal_a", "cancer_a"]  # normal before cancer


def write_inputs(folder, genes: pd.DataFrame):
    """A tiny cohort: tissues a (normal, cancer) and b (normal); five genes g01..g05, samples
    s1 s2 (normal_a), s3 s4 (cancer_a), s5 (normal_b); one mean and one single-model file."""
    sheet = pd.DataFrame(
        {"sample": ["s1", "s2", "s3", "s4", "s5"],
         "class": ["normal_a", "normal_a", "cancer_a", "cancer_a", "normal_b"],
         "tissue": ["a", "a", "a", "a", "b"],
         "status": ["normal", "normal", "cancer", "cancer", "normal"]}
    )  # fmt: skip
    io.write_table(sheet, folder / "samples.parquet")
    io.write_table(genes, folder / "genes.parquet")
    mean = pd.DataFrame(
        [[9, 1, 8, 0, 0], [9, 1, 8, 0, 0], [0, 0, 1, 9, 8], [0, 0, 1, 9, 8], [5, 5, 5, 5, 5]],
        columns=genes["gene"], dtype=float,
    )  # fmt: skip
    mean.insert(0, "sample", sheet["sample"])
    means = folder / "aggregate" / "mlp" / "DeepLift" / "optimised" / "mean.parquet"
    io.write_table(mean, means)
    # Single model, two replicates: g02 leads the first (the single model's scores: replicate
    # 0, as the mean over models takes it), g01 leads on average.
    first = [[1, 6, 0, 0, 0]] * 2 + [[0, 0, 0, 0, 0]] * 2 + [[0, 0, 0, 0, 0]]
    second = [[9, 0, 0, 0, 0]] * 2 + [[0, 0, 0, 0, 9]] * 2 + [[0, 0, 0, 0, 0]]
    single = pd.DataFrame(first + second, columns=genes["gene"], dtype=float)
    single.insert(0, "sample", list(sheet["sample"]) * 2)
    single.insert(1, "replicate", [0] * 5 + [1] * 5)
    singles = folder / "attributions" / "cnn" / "Saliency" / "optimised" / "m01.parquet"
    io.write_table(single, singles)
    return [means], [singles]


def tiny_genes() -> pd.DataFrame:
    return pd.DataFrame(
        {"gene": ["g01", "g02", "g03", "g04", "g05"], "symbol": ["A", "B", "C", "D", "E"],
         "truth_role": ["tissue_enriched", "background", "group_enriched", "cancer_up",
                        "tissue_enriched"],
         "truth_classes": ["normal_a", None, "normal_a;cancer_a", "cancer_a", "normal_b"]}
    )  # fmt: skip


def test_run_writes_one_row_per_combination_and_focus_class(tmp_path):
    means, singles = write_inputs(tmp_path, tiny_genes())
    out = {"out_table": tmp_path / "report" / "scorecard.parquet",
           "out_png": tmp_path / "report" / "scorecard.png",
           "out_pdf": tmp_path / "report" / "scorecard.pdf"}  # fmt: skip
    scorecard.run(
        means=[str(p) for p in means], singles=[str(p) for p in singles],
        samples=tmp_path / "samples.parquet", genes=tmp_path / "genes.parquet",
        focus_tissues=["a"], k=1, title="tiny cohort", **out,
    )  # fmt: skip
    table = io.read_table(out["out_table"])
    assert list(table.columns) == list(scorecard.COLUMNS)
    assert table["combination"].tolist() == ["MLP-Agg DeepLift"] * 2 + ["CNN Saliency"] * 2
    assert table["class"].tolist() == ["normal_a", "cancer_a"] * 2  # normal_b: not a focus tissue
    assert table["aggregated"].tolist() == [True, True, False, False]
    assert table[["arch", "explainer"]].drop_duplicates().values.tolist() == [
        ["mlp", "DeepLift"], ["cnn", "Saliency"],
    ]  # fmt: skip
    assert table["tissue"].eq("a").all()
    assert table["status"].tolist() == ["normal", "cancer"] * 2
    assert table["markers"].tolist() == [2, 2, 2, 2]  # normal_a: g01 g03; cancer_a: g03 g04
    # MLP-Agg: normal_a ranks g01 g03 ...; cancer_a ranks g04 g05 g03.
    # CNN single (replicate 0): normal_a ranks g02 (6) g01 (1); cancer_a is all 0, so ties keep
    # the gene order, g01 g02.
    assert table["hits"].tolist() == [1, 1, 0, 0]
    assert table["recall"].tolist() == [0.5, 0.5, 0.0, 0.0]
    assert table["precision"].tolist() == [1.0, 1.0, 0.0, 0.0]
    # Top 2 (R-precision): {g01,g03}, {g04,g05}, {g02,g01}, {g01,g02}.
    assert table["r_precision"].tolist() == [1.0, 0.5, 0.5, 0.0]
    assert table["k"].eq(1).all()
    for name in ("out_png", "out_pdf"):
        assert out[name].stat().st_size > 1000


def test_run_without_truth_writes_an_empty_table_and_says_so(tmp_path):
    genes = tiny_genes().drop(columns=["truth_role", "truth_classes"])
    means, singles = write_inputs(tmp_path, genes)
    png, pdf = tmp_path / "s.png", tmp_path / "s.pdf"
    scorecard.run(
        means=means, singles=singles, samples=tmp_path / "samples.parquet",
        genes=tmp_path / "genes.parquet", focus_tissues=["a"], k=100,
        out_table=tmp_path / "s.parquet", out_png=png, out_pdf=pdf, title="real cohort",
    )  # fmt: skip
    table = io.read_table(tmp_path / "s.parquet")
    assert table.empty and list(table.columns) == list(scorecard.COLUMNS)
    assert table["aggregated"].dtype == bool and table["recall"].dtype == np.float64
    assert png.stat().st_size > 1000 and pdf.stat().st_size > 1000
    fig = figures.message_figure(scorecard.NO_TRUTH, "real cohort")
    texts = [t.get_text() for t in fig.findobj(lambda a: a.get_gid() == "message")]
    assert texts and "No planted truth" in texts[0]


def test_figure_draws_the_table_in_row_and_column_order():
    rows = []
    for combination, arch, explainer, aggregated, recall in (
        ("MLP-Agg DeepLift", "mlp", "DeepLift", True, 0.9),
        ("CNN DeepLift", "cnn", "DeepLift", False, 0.1),
        ("MLP DeepLift", "mlp", "DeepLift", False, 0.6),
    ):
        for c, status, shift in (("normal_a", "normal", 0.0), ("cancer_a", "cancer", 0.05)):
            rows.append({"combination": combination, "arch": arch, "explainer": explainer,
                         "aggregated": aggregated, "class": c, "tissue": "a", "status": status,
                         "k": 10, "markers": 4, "hits": 1, "precision": 0.1,
                         "recall": recall + shift, "r_precision": recall / 2})  # fmt: skip
    fig = scorecard.figure(pd.DataFrame(rows), k=10, n_genes=200, title="tiny")
    recall = fig.findobj(lambda a: a.get_gid() == "A|recall")[0].get_array()
    r_precision = fig.findobj(lambda a: a.get_gid() == "B|r_precision")[0].get_array()
    # Rows CNN, MLP, MLP-Agg; columns normal_a, cancer_a (order of appearance).
    np.testing.assert_allclose(recall, [[0.1, 0.15], [0.6, 0.65], [0.9, 0.95]])
    np.testing.assert_allclose(r_precision, [[0.05, 0.05], [0.3, 0.3], [0.45, 0.45]])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "CNN DeepLift", "MLP DeepLift", "MLP-Agg DeepLift",
    ]  # fmt: skip
    assert "A" in [t.get_text() for t in ax.texts]
    labels = [a.get_ylabel() for a in fig.axes]
    assert "Recall" in labels and "R-precision" in labels  # the colour bars
