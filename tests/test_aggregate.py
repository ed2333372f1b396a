"""Tests for txai.aggregate: scores from estimate files, the mean over models, top-k lists with
ties broken by gene order, the per-class table and `run()` (PAPER-DIGEST.md section 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from txai import aggregate, io, paths

GENES = ["g1", "g2", "g3", "g4"]


def frame(rows, columns=("sample", "replicate", *GENES)) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=list(columns))
    genes = [c for c in out.columns if c not in ("sample", "replicate", "estimate")]
    return out.astype(dict.fromkeys(genes, np.float32))


# --- model_scores ----------------------------------------------------------------------------


def estimate_file() -> pd.DataFrame:
    """Sample b first (file order is kept), two replicates of a, estimates interleaved."""
    return frame(
        [
            ("b", 0, 0, 1.0, -2.0, 0.0, 4.0),
            ("a", 0, 0, -1.0, 2.0, 3.0, 0.5),
            ("b", 0, 1, -3.0, -2.0, 0.0, 0.0),
            ("a", 0, 1, 3.0, 2.0, -1.0, 0.5),
            ("a", 1, 0, -2.0, 0.0, 1.0, 1.0),
            ("a", 1, 1, -4.0, 0.0, 1.0, -1.0),
            ("a", 0, 2, 1.0, -2.0, -5.0, 2.0),
        ],
        columns=("sample", "replicate", "estimate", *GENES),
    )


def test_model_scores_abs_then_mean():
    got = aggregate.model_scores(estimate_file(), "abs_then_mean")
    assert list(got.columns) == ["sample", "replicate", *GENES]
    assert got[["sample", "replicate"]].values.tolist() == [["b", 0], ["a", 0], ["a", 1]]
    want = [
        [(1 + 3) / 2, (2 + 2) / 2, 0.0, (4 + 0) / 2],  # b, 0
        [(1 + 3 + 1) / 3, (2 + 2 + 2) / 3, (3 + 1 + 5) / 3, (0.5 + 0.5 + 2) / 3],  # a, 0
        [(2 + 4) / 2, 0.0, (1 + 1) / 2, (1 + 1) / 2],  # a, 1
    ]
    np.testing.assert_allclose(got[GENES].to_numpy(), want, rtol=1e-6)
    # the default score is abs_then_mean
    pd.testing.assert_frame_equal(aggregate.model_scores(estimate_file()), got)


def test_model_scores_mean_then_abs():
    got = aggregate.model_scores(estimate_file(), "mean_then_abs")
    assert list(got.columns) == ["sample", "replicate", *GENES]
    assert got[["sample", "replicate"]].values.tolist() == [["b", 0], ["a", 0], ["a", 1]]
    want = [
        [abs(1 - 3) / 2, abs(-2 - 2) / 2, 0.0, abs(4 + 0) / 2],  # b, 0
        [abs(-1 + 3 + 1) / 3, abs(2 + 2 - 2) / 3, abs(3 - 1 - 5) / 3, abs(0.5 + 0.5 + 2) / 3],
        [abs(-2 - 4) / 2, 0.0, abs(1 + 1) / 2, abs(1 - 1) / 2],  # a, 1
    ]
    np.testing.assert_allclose(got[GENES].to_numpy(), want, rtol=1e-6)


def test_model_scores_without_estimates_is_the_file_itself():
    scores = frame([("a", 0, 1.0, 2.0, 3.0, 4.0), ("b", 0, -1.0, 0.0, 0.0, 0.0)])
    for score in ("abs_then_mean", "mean_then_abs"):
        pd.testing.assert_frame_equal(aggregate.model_scores(scores.copy(), score), scores)


# --- mean_over_models ------------------------------------------------------------------------


def write_models(tmp_path) -> list[str]:
    """Three score files; replicate 1 rows must be ignored; the third lists samples in
    another order than the first."""
    files = [
        [("a", 0, 1, 2, 3, 4), ("b", 0, 0, 0, 1, 1), ("a", 1, 100, 100, 100, 100),
         ("b", 1, 100, 100, 100, 100)],
        [("a", 0, 3, 2, 1, 0), ("b", 0, 2, 2, 2, 2), ("a", 1, -50, 0, 0, 0)],
        [("b", 1, 7, 7, 7, 7), ("b", 0, 4, 1, 0, 3), ("a", 0, 2, 5, 2, 8)],
    ]  # fmt: skip
    paths = []
    for i, rows in enumerate(files):
        path = tmp_path / "attributions" / f"m{i + 1:02d}.parquet"
        io.write_table(frame(rows), path)
        paths.append(str(path))
    return paths


MEAN = {  # hand-computed means over the three models' replicate 0
    "a": [(1 + 3 + 2) / 3, (2 + 2 + 5) / 3, (3 + 1 + 2) / 3, (4 + 0 + 8) / 3],
    "b": [(0 + 2 + 4) / 3, (0 + 2 + 1) / 3, (1 + 2 + 0) / 3, (1 + 2 + 3) / 3],
}


def test_mean_over_models(tmp_path):
    got = aggregate.mean_over_models(write_models(tmp_path), "abs_then_mean", GENES)
    assert list(got.columns) == ["sample", *GENES]
    assert got["sample"].tolist() == ["a", "b"]  # the first file's order
    assert all(got[g].dtype == np.float32 for g in GENES)
    np.testing.assert_allclose(got[GENES].to_numpy(), [MEAN["a"], MEAN["b"]], rtol=1e-6)


def test_mean_over_models_of_estimate_files(tmp_path):
    path = tmp_path / "m01.parquet"
    io.write_table(estimate_file(), path)
    other = tmp_path / "m02.parquet"
    io.write_table(frame([("a", 0, 0, 0, 0, 0, 0), ("b", 0, 0, 2, 2, 2, 2)],
                         columns=("sample", "replicate", "estimate", *GENES)), other)  # fmt: skip
    for score in ("abs_then_mean", "mean_then_abs"):
        got = aggregate.mean_over_models([str(path), str(other)], score, GENES)
        first = aggregate.model_scores(estimate_file(), score)
        first = first[first["replicate"] == 0].set_index("sample")[GENES]
        want = (first.loc[["b", "a"]].to_numpy() + [[2, 2, 2, 2], [0, 0, 0, 0]]) / 2
        assert got["sample"].tolist() == ["b", "a"]
        np.testing.assert_allclose(got[GENES].to_numpy(), want, rtol=1e-6)


# --- top_k, top_table, class_table ---------------------------------------------------------


def test_top_k_values_and_ties_by_gene_order():
    values = np.array(
        [[1.0, 3.0, 3.0, 2.0, 0.0], [5.0, 5.0, 5.0, 5.0, 5.0], [0.0, 1.0, 2.0, 3.0, 4.0],
         [2.0, 9.0, 2.0, 9.0, 2.0]]
    )  # fmt: skip
    index, top = aggregate.top_k(values, 3)
    assert index.tolist() == [[1, 2, 3], [0, 1, 2], [4, 3, 2], [1, 3, 0]]
    assert top.tolist() == [[3, 3, 2], [5, 5, 5], [4, 3, 2], [9, 9, 2]]
    index, top = aggregate.top_k(values, 5)
    assert index.tolist()[3] == [1, 3, 0, 2, 4]
    # float32 ties too
    index, _ = aggregate.top_k(np.array([[0.1, 0.3, 0.3, 0.3]], dtype=np.float32), 2)
    assert index.tolist() == [[1, 2]]


MEAN_FRAME = pd.DataFrame(
    {"sample": ["s2", "s1", "s3"], "g1": [0.5, 4.0, 1.0], "g2": [2.0, 1.0, 3.0],
     "g3": [2.0, 1.0, 0.0], "g4": [1.0, 3.0, 3.0]}
).astype(dict.fromkeys(GENES, np.float32))  # fmt: skip
CLASSES = pd.Series({"s1": "liver", "s2": "brain", "s3": "brain", "s4": "lung"}, name="class")
SYMBOLS = pd.DataFrame({"gene": ["g4", "g3", "g2", "g1"], "symbol": ["D", "C", "B", "A"]})


def test_top_table():
    got = aggregate.top_table(MEAN_FRAME, CLASSES, 2)
    assert list(got.columns) == ["sample", "class", "rank", "gene", "score"]
    assert got.values.tolist() == [
        ["s2", "brain", 1, "g2", 2.0],  # g2 and g3 tie at 2: g2 comes first
        ["s2", "brain", 2, "g3", 2.0],
        ["s1", "liver", 1, "g1", 4.0],
        ["s1", "liver", 2, "g4", 3.0],
        ["s3", "brain", 1, "g2", 3.0],  # g2 and g4 tie at 3
        ["s3", "brain", 2, "g4", 3.0],
    ]


def test_class_table_ranks_the_class_mean():
    got = aggregate.class_table(MEAN_FRAME, CLASSES, SYMBOLS, 3)
    assert list(got.columns) == ["class", "rank", "gene", "symbol", "score"]
    # brain = mean of s2 and s3: g1 0.75, g2 2.5, g3 1.0, g4 2.0; liver = s1: 4, 1, 1, 3
    assert got.values.tolist() == [
        ["brain", 1, "g2", "B", 2.5],
        ["brain", 2, "g4", "D", 2.0],
        ["brain", 3, "g3", "C", 1.0],
        ["liver", 1, "g1", "A", 4.0],
        ["liver", 2, "g4", "D", 3.0],
        ["liver", 3, "g2", "B", 1.0],  # g2 and g3 tie at 1: g2 comes first
    ]


# --- run -------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 4])
def test_run_writes_mean_top_and_table(tmp_path, k):
    paths = write_models(tmp_path)
    io.write_table(
        pd.DataFrame({"sample": ["b", "c", "a"], "class": ["kidney", "lung", "colon"],
                      "class_index": [1, 2, 0]}),
        tmp_path / "samples.parquet",
    )  # fmt: skip
    io.write_table(SYMBOLS.iloc[::-1].assign(chrom="1"), tmp_path / "genes.parquet")  # canonical
    out = {name: tmp_path / "out" / name for name in ("mean.parquet", "top.parquet", "t.tsv")}
    aggregate.run(
        attributions=paths, samples=tmp_path / "samples.parquet",
        genes=tmp_path / "genes.parquet", score="abs_then_mean", k=k,
        out_mean=out["mean.parquet"], out_top=out["top.parquet"], out_table=out["t.tsv"],
    )  # fmt: skip
    mean = io.read_table(out["mean.parquet"])
    assert list(mean.columns) == ["sample", *GENES] and mean["sample"].tolist() == ["a", "b"]
    np.testing.assert_allclose(mean[GENES].to_numpy(), [MEAN["a"], MEAN["b"]], rtol=1e-6)
    top = io.read_table(out["top.parquet"])
    # a: 2, 3, 2, 4 -> g4, g2, then g1 and g3 tie at 2; b: 2, 1, 1, 2 -> g1, g4, g2, g3
    order = {"a": ["g4", "g2", "g1", "g3"], "b": ["g1", "g4", "g2", "g3"]}
    assert top["sample"].tolist() == ["a"] * k + ["b"] * k
    assert top["class"].tolist() == ["colon"] * k + ["kidney"] * k
    assert top["rank"].tolist() == list(range(1, k + 1)) * 2
    assert top["gene"].tolist() == order["a"][:k] + order["b"][:k]
    score = {s: dict(zip(GENES, MEAN[s], strict=True)) for s in "ab"}
    np.testing.assert_allclose(
        top["score"], [score[s][g] for s in "ab" for g in order[s][:k]], rtol=1e-6
    )
    text = out["t.tsv"].read_text().splitlines()
    assert text[0].split("\t") == ["class", "rank", "gene", "symbol", "score"]
    table = pd.read_csv(out["t.tsv"], sep="\t")
    assert len(table) == 2 * k
    assert table["class"].tolist() == ["colon"] * k + ["kidney"] * k  # a is colon, b kidney
    assert table["gene"].tolist() == order["a"][:k] + order["b"][:k]
    symbols = dict(zip(SYMBOLS["gene"], SYMBOLS["symbol"], strict=True))
    assert table["symbol"].tolist() == [symbols[g] for g in table["gene"]]
    np.testing.assert_allclose(
        table["score"], [score[s][g] for s in "ab" for g in order[s][:k]], rtol=1e-5
    )


def test_long_form_top_files_aggregate_with_absent_genes_as_zero(tmp_path):
    """store: top keeps each sample's top genes only; the mean over models counts a gene
    outside a model's top genes as 0 and lays genes out in canonical order."""
    genes = ["g1", "g2", "g3"]
    first = pd.DataFrame(
        {"sample": ["a", "a"], "replicate": 0, "rank": [1, 2], "gene": ["g3", "g1"],
         "score": [4.0, 2.0]}
    )  # fmt: skip
    second = pd.DataFrame(
        {"sample": ["a", "a"], "replicate": 0, "rank": [1, 2], "gene": ["g2", "g3"],
         "score": [6.0, 2.0]}
    )  # fmt: skip
    paths = [tmp_path / "m01.parquet", tmp_path / "m02.parquet"]
    for frame, path in zip((first, second), paths, strict=True):
        io.write_table(frame, path)
    mean = aggregate.mean_over_models(paths, "abs_then_mean", genes)
    assert list(mean.columns) == ["sample", *genes]
    np.testing.assert_allclose(
        mean[genes].to_numpy(), [[1.0, 3.0, 3.0]]
    )  # (2+0)/2, (0+6)/2, (4+2)/2


def test_label():
    assert aggregate.label("mlp", "DeepLift", False) == "MLP DeepLift"
    assert aggregate.label("cnn", "Saliency", True) == "CNN-Agg Saliency"


def test_combinations_take_the_mean_and_the_first_models_replicate_0(tmp_path):
    """A single model is m01's replicate 0 (the explanation the mean over models averages),
    never the mean of its replicates; arch and explainer come from the paths."""
    genes = ["g1", "g2"]
    mean = pd.DataFrame({"sample": ["s1", "s2"], "g1": [1.0, 2.0], "g2": [3.0, 4.0]})
    means = tmp_path / paths.aggregate("cnn", "DeepLift", "optimised", "mean")
    io.write_table(mean, means)
    single = pd.DataFrame({"sample": ["s1", "s2"] * 2, "replicate": [0, 0, 1, 1],
                           "g2": [5.0, 6.0, 50.0, 60.0], "g1": [7.0, 8.0, 70.0, 80.0]})  # fmt: skip
    singles = tmp_path / paths.attribution("mlp", "Saliency", "optimised", "m01")
    io.write_table(single, singles)
    found = list(aggregate.combinations([means], [singles], "abs_then_mean", genes))
    assert [f[:3] for f in found] == [("cnn", "DeepLift", True), ("mlp", "Saliency", False)]
    np.testing.assert_array_equal(found[0][3].to_numpy(), [[1, 3], [2, 4]])
    np.testing.assert_array_equal(found[1][3].to_numpy(), [[7, 5], [8, 6]])
    assert found[1][3].index.tolist() == ["s1", "s2"] and list(found[1][3].columns) == genes
