"""Tests for txai.reproducibility: ranks and Spearman's rho against scipy, top-k overlap against
Python sets with ties broken by gene order, pairs and the comparison table (PAPER-DIGEST.md
section 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import write_sheet
from scipy import stats

from txai import io
from txai import reproducibility as rp


def test_ranks_match_scipy_with_many_ties():
    rng = np.random.default_rng(0)
    values = np.round(rng.normal(size=(40, 300)) * 2)  # about a dozen distinct values a row
    np.testing.assert_array_equal(rp.ranks(values), stats.rankdata(values, axis=1))


def test_ranks_hand_case():
    values = np.array([[3.0, 1.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0], [0.5, -1.0, 2.0, 7.0]])
    expected = [[3.5, 1.0, 3.5, 2.0], [2.5, 2.5, 2.5, 2.5], [2.0, 1.0, 3.0, 4.0]]
    np.testing.assert_array_equal(rp.ranks(values), expected)


@pytest.mark.parametrize("decimals", [None, 0])
def test_spearman_matches_scipy(decimals):
    rng = np.random.default_rng(1)
    values = rng.normal(size=(30, 500))
    values[1::2] += values[::2]  # correlated neighbours, so rho spans a range
    if decimals is not None:
        values = np.round(values, decimals)  # heavy ties
    pairs = rng.integers(0, 30, size=(200, 2))
    expected = [stats.spearmanr(values[a], values[b]).statistic for a, b in pairs]
    np.testing.assert_allclose(rp.spearman(values, pairs), expected, rtol=0, atol=1e-10)


def test_spearman_of_a_constant_row_is_nan():
    values = np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0], [4.0, 3.0, 2.0, 1.0]])
    rho = rp.spearman(values, [[0, 1], [1, 2], [0, 2], [0, 0]])
    assert np.isnan(rho[:2]).all()
    np.testing.assert_allclose(rho[2:], [-1.0, 1.0], atol=1e-12)


def test_top_sets_and_overlap_break_ties_by_gene_index():
    values = np.array(
        [
            [5.0, 1.0, 5.0, 3.0, 5.0, 0.0],  # top 2: genes 0, 2 (gene 4 ties, comes later)
            [1.0, 4.0, 4.0, 4.0, 9.0, 0.0],  # top 2: genes 4, 1
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # top 2: genes 0, 1
        ]
    )
    member = rp.top_sets(values, 2)
    np.testing.assert_array_equal(np.flatnonzero(member[0]), [0, 2])
    np.testing.assert_array_equal(np.flatnonzero(member[1]), [1, 4])
    np.testing.assert_array_equal(np.flatnonzero(member[2]), [0, 1])
    np.testing.assert_array_equal(rp.overlap(values, [[0, 1], [0, 2], [1, 2]], k=2), [0, 1, 1])
    np.testing.assert_array_equal(rp.overlap(values, [[0, 1]], k=3), [2])  # {0,2,4} & {1,2,4}


def test_overlap_matches_python_sets():
    rng = np.random.default_rng(2)
    values = np.round(rng.normal(size=(20, 400)), 1)  # ties at the top-k boundary
    pairs = rp.all_pairs(20)
    k = 30
    tops = [set(np.argsort(-row, kind="stable")[:k].tolist()) for row in values]
    expected = [len(tops[a] & tops[b]) for a, b in pairs]
    np.testing.assert_array_equal(rp.overlap(values, pairs, k=k), expected)
    assert (rp.top_sets(values, k).sum(axis=1) == k).all()


def test_all_pairs_count_and_order():
    np.testing.assert_array_equal(rp.all_pairs(4), [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
    assert rp.all_pairs(60).shape == (1770, 2)
    assert rp.all_pairs(1).shape == (0, 2)


def test_compare_table():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(5, 200))
    pairs = rp.all_pairs(5)
    table = rp.compare(values, pairs, k=20)
    assert list(table.columns) == ["pair", "a", "b", "rho", "overlap"]
    np.testing.assert_array_equal(table["pair"], np.arange(10))
    np.testing.assert_array_equal(table[["a", "b"]].to_numpy(), pairs)
    np.testing.assert_allclose(table["rho"], rp.spearman(values, pairs))
    np.testing.assert_array_equal(table["overlap"], rp.overlap(values, pairs, k=20))


# --- The workflow functions: replicate comparisons and cross-explainer consistency ------------


def test_within_blocks_equals_compare_block_by_block():
    rng = np.random.default_rng(4)
    values = np.round(rng.normal(size=(6, 5, 80)), 1)  # ties, also at the top-k boundary
    pairs, rho, shared = rp.within_blocks(values, k=10)
    np.testing.assert_array_equal(pairs, rp.all_pairs(5))
    assert rho.shape == shared.shape == (6, 10)
    for block in range(6):
        table = rp.compare(values[block], rp.all_pairs(5), k=10)
        np.testing.assert_allclose(rho[block], table["rho"], rtol=0, atol=1e-10)
        np.testing.assert_array_equal(shared[block], table["overlap"])


def test_per_sample_table():
    # 3 replicates x 2 samples x 4 genes.
    stack = np.array(
        [
            [[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]],
            [[4.0, 3.0, 1.0, 2.0], [4.0, 3.0, 2.0, 1.0]],
            [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 4.0, 3.0]],
        ]
    )
    table = rp.per_sample(stack, ["x", "y"], k=2)
    assert list(table.columns) == ["sample", "pair", "a", "b", "rho", "overlap"]
    assert table["sample"].tolist() == ["x"] * 3 + ["y"] * 3
    assert table["pair"].tolist() == [0, 1, 2] * 2
    assert table["a"].tolist() == [0, 0, 1] * 2 and table["b"].tolist() == [1, 2, 2] * 2
    # rho of two permutations of 1..4: 1 - 6 * sum(d^2) / (4 * 15).
    np.testing.assert_allclose(table["rho"], [0.8, -1.0, -0.8, -1.0, 0.8, -0.8], atol=1e-12)
    assert table["overlap"].tolist() == [2, 0, 0, 0, 2, 0]


def test_families():
    assert rp.families("mlp", ["m01", "m02", "m03"]) == {"inter-model": ["m01", "m02", "m03"]}
    assert rp.families("cnn", ["m01", "s01", "m02", "s02"]) == {
        "inter-model": ["s01", "s02"],
        "inter-model, other orders": ["m01", "m02"],
    }
    assert rp.families("cnn", ["m01", "m02"]) == {"inter-model, other orders": ["m01", "m02"]}


def _scores(values: dict) -> pd.DataFrame:
    """A model's scores from {(sample, replicate): [gene scores]}, indexed (sample, replicate)."""
    index = pd.MultiIndex.from_tuples(list(values), names=["sample", "replicate"])
    return pd.DataFrame(list(values.values()), index=index, columns=["g0", "g1", "g2"])


def _four_models() -> dict:
    return {
        "m01": _scores(
            {
                ("x", 0): [1.0, 2.0, 3.0],
                ("x", 1): [1.5, 2.5, 3.5],
                ("x", 2): [1.7, 2.7, 3.7],
                ("y", 0): [4.0, 5.0, 6.0],
                ("y", 1): [4.5, 5.5, 6.5],
                ("y", 2): [4.7, 5.7, 6.7],
            }
        ),
        "m02": _scores({("x", 0): [3.0, 0.0, 1.0], ("y", 0): [2.0, 2.0, 0.0]}),
        "m03": _scores({("x", 0): [0.0, 4.0, 2.0], ("y", 0): [6.0, 0.0, 2.0]}),
        "m04": _scores({("x", 0): [2.0, 2.0, 8.0], ("y", 0): [0.0, 4.0, 4.0]}),
    }


def test_replicate_rows_plain():
    config = {"inter_models": 2, "aggregate_models": 2}
    rows = rp.replicate_rows(_four_models(), "mlp", "plain", ["m01", "m09"], config)
    assert [name for name, _ in rows] == ["intra-model", "inter-model"]  # m09 absent: skipped
    intra, inter = rows[0][1], rows[1][1]
    np.testing.assert_array_equal(
        intra,
        [
            [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
            [[1.5, 2.5, 3.5], [4.5, 5.5, 6.5]],
            [[1.7, 2.7, 3.7], [4.7, 5.7, 6.7]],
        ],
    )
    np.testing.assert_array_equal(
        inter, [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[3.0, 0.0, 1.0], [2.0, 2.0, 0.0]]]
    )
    # A model with a single replicate gives no intra-model stack.
    rows = rp.replicate_rows(_four_models(), "mlp", "optimised", ["m02"], config)
    assert [name for name, _ in rows] == ["inter-model"]


def test_replicate_rows_aggregated():
    config = {"inter_models": 2, "aggregate_models": 2}
    rows = rp.replicate_rows(_four_models(), "mlp", "aggregated", ["m01"], config)
    assert [name for name, _ in rows] == ["inter-model"]  # no intra-model when aggregated
    # Sets {m01, m02} and {m03, m04}, replicate 0 averaged.
    np.testing.assert_allclose(
        rows[0][1], [[[2.0, 1.0, 2.0], [3.0, 3.5, 3.0]], [[1.0, 3.0, 5.0], [3.0, 2.0, 3.0]]]
    )
    three = {m: s for m, s in _four_models().items() if m != "m04"}  # one set of 2 only
    assert rp.replicate_rows(three, "mlp", "aggregated", ["m01"], config) == []
    config = {"inter_models": 2, "aggregate_models": 1}  # 3 sets of one model
    rows = rp.replicate_rows(three, "mlp", "aggregated", [], config)
    assert rows[0][1].shape == (3, 2, 3)


def test_consistency_hand_case():
    combos = {  # 2 samples x 4 genes; top 2 in comments
        "A": np.array([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]]),  # {0, 1}, {2, 3}
        "B": np.array([[4.0, 1.0, 3.0, 2.0], [1.0, 2.0, 3.0, 4.0]]),  # {0, 2}, {2, 3}
        "C": np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]]),  # {2, 3}, {0, 1}
    }
    matrix = rp.consistency(combos, k=2)
    assert matrix.index.tolist() == matrix.columns.tolist() == ["A", "B", "C"]
    expected = [[2.0, 1.5, 0.0], [1.5, 2.0, 0.5], [0.0, 0.5, 2.0]]
    np.testing.assert_allclose(matrix.to_numpy(), expected)


def test_clusters_separate_two_blocks():
    names = ["a", "b", "c", "d", "e"]
    group = {"a": 0, "b": 1, "c": 0, "d": 1, "e": 0}  # interleaved, so the order must change
    values = [[10.0 if n == m else 9.0 if group[n] == group[m] else 1.0 for m in names]
              for n in names]  # fmt: skip
    matrix = pd.DataFrame(values, index=names, columns=names)
    ordered, table = rp.clusters(matrix, k=10, count=2, groups={"I": ["a", "e"], "II": ["d"]})
    assert list(table.columns) == ["combination", "order", "cluster", "group"]
    assert sorted(table["combination"]) == names
    assert table["order"].tolist() == [0, 1, 2, 3, 4]
    cluster = table.set_index("combination")["cluster"]
    assert cluster["a"] == cluster["c"] == cluster["e"] != cluster["b"] == cluster["d"]
    assert set(cluster) == {1, 2}
    # Members of a cluster sit next to each other in the dendrogram order.
    assert table["cluster"].diff().fillna(0).ne(0).sum() == 1
    assert table.set_index("combination")["group"].to_dict() == {
        "a": "I", "b": "", "c": "", "d": "II", "e": "I"
    }  # fmt: skip
    assert ordered.index.tolist() == table["combination"].tolist()
    assert ordered.columns.tolist() == table["combination"].tolist()
    pd.testing.assert_frame_equal(ordered, matrix.loc[ordered.index, ordered.columns])


def test_run_end_to_end(tmp_path):
    genes = [f"g{i}" for i in range(6)]
    write_sheet(tmp_path, genes)
    rng = np.random.default_rng(5)
    paths, written = [], {}
    for setting in ("plain", "optimised"):
        for model in ("m01", "m02", "m03", "m04"):
            replicates = 2 if model == "m01" else 1
            keys = [(s, r) for s in ("s1", "s2", "s3") for r in range(replicates)]
            frame = pd.DataFrame(rng.random((len(keys), len(genes))), columns=genes)
            frame.insert(0, "replicate", [r for _, r in keys])
            frame.insert(0, "sample", [s for s, _ in keys])
            path = tmp_path / "attributions" / "mlp" / "DeepLift" / setting / f"{model}.parquet"
            io.write_table(frame, path)
            paths.append(str(path))
            written[setting, model] = frame.set_index(["sample", "replicate"])
    out = tmp_path / "out"
    config = {"top_k": 2, "inter_models": 3, "aggregate_models": 2, "clusters": 1,
              "groups": {"II": ["MLP-Agg DeepLift"]}}  # fmt: skip
    rp.run(
        attributions=paths, samples=tmp_path / "samples.parquet",
        genes=tmp_path / "genes.parquet", config=config, score="abs_then_mean",
        focus_tissues=["liver"], replicate_models=["m01"],
        out_replicates=out / "replicates.parquet", out_summary=out / "summary.tsv",
        out_consistency=out / "consistency.parquet", out_clusters=out / "clusters.tsv",
    )  # fmt: skip
    table = io.read_table(out / "replicates.parquet")
    assert list(table.columns) == [
        "arch", "explainer", "setting", "comparison", "tissue", "class", "status",
        "sample", "pair", "a", "b", "rho", "overlap",
    ]  # fmt: skip
    assert set(table["sample"]) == {"s1", "s2"}  # s3 is lung, not a focus tissue
    counts = table.groupby(["setting", "comparison"]).size().to_dict()
    assert counts == {
        ("plain", "intra-model"): 2, ("plain", "inter-model"): 6,
        ("optimised", "intra-model"): 2, ("optimised", "inter-model"): 6,
        ("aggregated", "inter-model"): 2,
    }  # fmt: skip
    assert (table["arch"] == "mlp").all() and (table["explainer"] == "DeepLift").all()
    s2 = table.set_index("sample").loc["s2"].iloc[0]
    assert (s2["tissue"], s2["class"], s2["status"]) == ("liver", "Liver-T", "cancer")

    def row(setting, comparison, sample, pair):
        pick = table[(table["setting"] == setting) & (table["comparison"] == comparison)
                     & (table["sample"] == sample) & (table["pair"] == pair)]  # fmt: skip
        assert len(pick) == 1
        return pick.iloc[0]

    plain = written["plain", "m01"]
    expected = stats.spearmanr(plain.loc[("s1", 0)], plain.loc[("s1", 1)]).statistic
    assert row("plain", "intra-model", "s1", 0)["rho"] == pytest.approx(expected, abs=1e-10)
    opt = {m: written["optimised", m].xs(0, level="replicate") for m in ("m01", "m02", "m03")}
    expected = stats.spearmanr(opt["m02"].loc["s2"], opt["m03"].loc["s2"]).statistic
    assert row("optimised", "inter-model", "s2", 2)["rho"] == pytest.approx(expected, abs=1e-10)
    first = {m: written["optimised", m].xs(0, level="replicate").loc["s1"] for m in
             ("m01", "m02", "m03", "m04")}  # fmt: skip
    one, two = (first["m01"] + first["m02"]) / 2, (first["m03"] + first["m04"]) / 2
    expected = stats.spearmanr(one, two).statistic
    assert row("aggregated", "inter-model", "s1", 0)["rho"] == pytest.approx(expected, abs=1e-10)
    shared = len(set(one.nlargest(2).index) & set(two.nlargest(2).index))
    assert row("aggregated", "inter-model", "s1", 0)["overlap"] == shared

    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    assert list(summary.columns) == [
        "arch", "explainer", "setting", "comparison", "tissue", "class", "status",
        "rho_mean", "rho_median", "overlap_mean", "overlap_median", "pairs",
    ]  # fmt: skip
    assert summary["pairs"].sum() == len(table)

    long = io.read_table(out / "consistency.parquet")
    assert list(long.columns) == ["a", "b", "overlap", "tissue"]
    assert len(long) == 4 and (long["tissue"] == "liver").all()
    assert set(long["a"]) == {"MLP DeepLift", "MLP-Agg DeepLift"}
    diagonal = long[long["a"] == long["b"]]
    np.testing.assert_allclose(diagonal["overlap"], 2.0)  # k with itself

    found = pd.read_csv(out / "clusters.tsv", sep="\t", keep_default_na=False)
    groups = found.set_index("combination")["group"].to_dict()
    assert groups == {"MLP-Agg DeepLift": "II", "MLP DeepLift": ""}
    assert (found["cluster"] == 1).all() and (found["tissue"] == "liver").all()
