"""Tests for txai.curves: the subset rule (K, disjoint, with or without replacement), the two
score rules, and a known-answer curve whose Spearman's rho follows the bivariate-normal formula
(PAPER-DIGEST.md section 5)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import write_sheet
from scipy import stats

from txai import curves, io


@pytest.mark.parametrize(
    ("n", "count", "disjoint"), [(1, 50, True), (10, 5, True), (12, 4, True), (20, 4, False)]
)
def test_subsets_without_replacement(n, count, disjoint):
    index = curves.subsets(50, n, np.random.default_rng(0))
    assert index.shape == (count, n)
    assert ((index >= 0) & (index < 50)).all()
    assert all(len(set(row)) == n for row in index)  # no item twice within a subset
    assert (len(np.unique(index)) == index.size) is disjoint


def test_subsets_with_replacement_beyond_the_pool():
    index = curves.subsets(50, 100, np.random.default_rng(0))
    assert index.shape == (4, 100)
    assert ((index >= 0) & (index < 50)).all()
    assert all(len(set(row)) < 100 for row in index)


def test_subsets_are_deterministic_for_a_seed():
    for n in (1, 7, 20, 80):
        first = curves.subsets(50, n, np.random.default_rng(42))
        np.testing.assert_array_equal(first, curves.subsets(50, n, np.random.default_rng(42)))
    assert not np.array_equal(
        curves.subsets(50, 5, np.random.default_rng(1)),
        curves.subsets(50, 5, np.random.default_rng(2)),
    )


def test_replicate_scores_both_rules():
    items = np.array([[1.0, -2.0], [-3.0, 2.0], [5.0, 0.0]])
    index = np.array([[0, 1], [1, 2], [2, 2]])
    np.testing.assert_allclose(
        curves.replicate_scores(items, index), [[2.0, 2.0], [4.0, 1.0], [5.0, 0.0]]
    )
    np.testing.assert_allclose(
        curves.replicate_scores(items, index, "mean_then_abs"),
        [[1.0, 0.0], [1.0, 1.0], [5.0, 0.0]],
    )
    with pytest.raises(ValueError, match="unknown score"):
        curves.replicate_scores(items, index, "median")


def test_curve_follows_the_bivariate_normal_spearman():
    # Items are v + N(0, sigma^2) noise with v far above 0, so |.| changes nothing. A replicate
    # averages n items: v + N(0, sigma^2 / n), giving Pearson r = var(v) / (var(v) + sigma^2 / n)
    # between replicates over genes and Spearman 6 / pi * arcsin(r / 2).
    rng = np.random.default_rng(7)
    sigma, pool, ns = 3.0, 400, [5, 10, 25, 100]
    v = rng.normal(20.0, 1.0, size=2000)
    items = v + rng.normal(0.0, sigma, size=(pool, v.size))
    table = curves.curve(items, ns, np.random.default_rng(8), k=100)
    assert list(table.columns) == ["n", "pair", "rho", "overlap"]
    counts = table.groupby("n").size()
    assert counts.to_dict() == {n: max(pool // n, 4) * (max(pool // n, 4) - 1) // 2 for n in ns}
    mean = table.groupby("n")[["rho", "overlap"]].mean()
    r = v.var() / (v.var() + sigma**2 / np.array(ns))
    np.testing.assert_allclose(mean["rho"], 6 / np.pi * np.arcsin(r / 2), atol=0.02)
    assert np.all(np.diff(mean["rho"]) > 0) and np.all(np.diff(mean["overlap"]) > 0)
    assert table["overlap"].between(0, 100).all()


# --- The workflow's curves ----------------------------------------------------------------------

CONFIG = {
    "pool": 4,
    "reference": {"mlp": "universal", "cnn": "zero"},
    "reference_types": ["zero", "normal"],
    "samples": 2,
    "sd": 1.0,
}


def test_settings_recipes():
    found = curves.settings(CONFIG)
    assert list(found) == [
        "curve_pseudo_samples", "curve_repeats", "curve_references_zero", "curve_references_normal"
    ]  # fmt: skip
    spec = {"split": "test", "tissues": "focus", "status": "normal", "per_class": 2}
    for name, by_arch in found.items():
        assert set(by_arch) == {"mlp", "cnn"}, name
        for strategy in by_arch.values():
            assert strategy["keep_estimates"] is True
            assert strategy["replicates"] == 1
            assert strategy["samples"] == spec
    for arch, own in CONFIG["reference"].items():
        pseudo = found["curve_pseudo_samples"][arch]
        assert pseudo["smoothgrad"] == {"copies": 4, "sd": 1.0}
        assert pseudo.get("repeats", 1) == 1
        repeats = found["curve_repeats"][arch]
        assert repeats["repeats"] == 4 and "smoothgrad" not in repeats
        assert repeats["references"] == {"type": own, "count": 1}
        for kind in ("zero", "normal"):
            reference = found[f"curve_references_{kind}"][arch]
            assert reference["repeats"] == 4
            assert reference["references"] == {"type": kind, "count": 1}


def test_settings_validate_against_the_schema():
    root = Path(__file__).resolve().parents[1]
    schema = yaml.safe_load((root / "workflow/schemas/config.schema.yaml").read_text())
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/$defs/setting", "$defs": schema["$defs"]}
    )
    for by_arch in curves.settings(CONFIG).values():
        for strategy in by_arch.values():
            validator.validate(strategy)
    with pytest.raises(jsonschema.ValidationError):  # the validator does check
        validator.validate({"repeats": 0})


def test_sources_for_the_cnn():
    found = curves.sources(CONFIG, "cnn", ["Saliency", "DeepLift"])
    assert found == [
        ("pseudo-samples", "", "curve_pseudo_samples", "Saliency"),
        ("repeats", "", "curve_repeats", "Saliency"),
        ("pseudo-samples", "zero", "curve_pseudo_samples", "DeepLift"),
        ("repeats", "zero", "curve_repeats", "DeepLift"),
        ("references", "zero", "curve_repeats", "DeepLift"),  # own type: the repeats curve
        ("references", "normal", "curve_references_normal", "DeepLift"),
    ]
    mlp = curves.sources(CONFIG, "mlp", ["DeepLift"])
    assert ("references", "zero", "curve_references_zero", "DeepLift") in mlp
    assert ("repeats", "universal", "curve_repeats", "DeepLift") in mlp


def test_estimate_curve_of_identical_copies():
    # Every model's pool holds 3 copies of one signed vector: any replicate is |vector|.
    vectors = np.array(
        [
            [1.0, -4.0, 2.0, 0.5, -3.0, 6.0],
            [2.0, 3.0, -1.0, 0.0, 5.0, -2.5],
            [-0.5, 1.0, 4.0, -2.0, 3.5, 1.5],
        ]
    )
    items = np.repeat(vectors[:, None, :], 3, axis=1)  # models x pool x genes
    ns = [1, 2, 3, 5]  # 5 > pool: drawn with replacement
    table = curves.estimate_curve(items, ns, np.random.default_rng(0), "abs_then_mean", 2)
    assert list(table.columns) == ["n", "pair", "rho", "overlap"]
    assert len(table) == len(ns) * 3
    assert table["n"].tolist() == [n for n in ns for _ in range(3)]
    assert table["pair"].tolist() == [0, 1, 2] * len(ns)
    magnitude = np.abs(vectors)
    expected = [
        stats.spearmanr(magnitude[a], magnitude[b]).statistic for a, b in [(0, 1), (0, 2), (1, 2)]
    ]
    np.testing.assert_allclose(table["rho"], expected * len(ns), rtol=0, atol=1e-10)
    # Top 2 of |vectors|: {5, 1}, {4, 1}, {2, 4}.
    assert table["overlap"].tolist() == [1, 0, 1] * len(ns)


def test_estimate_curve_with_replacement_and_determinism():
    rng = np.random.default_rng(3)
    items = rng.normal(size=(4, 3, 50))  # 4 models, pool of 3
    ns = range(1, 7)
    first = curves.estimate_curve(items, ns, np.random.default_rng(9), "mean_then_abs", 10)
    assert len(first) == 6 * 6  # len(ns) * C(4, 2)
    assert first["rho"].between(-1, 1).all() and first["overlap"].between(0, 10).all()
    again = curves.estimate_curve(items, ns, np.random.default_rng(9), "mean_then_abs", 10)
    pd.testing.assert_frame_equal(first, again)
    other = curves.estimate_curve(items, ns, np.random.default_rng(10), "mean_then_abs", 10)
    assert not np.allclose(first["rho"], other["rho"])


def test_run_end_to_end(tmp_path):
    genes = [f"g{i}" for i in range(8)]
    write_sheet(tmp_path, genes)
    rng = np.random.default_rng(11)
    base = tmp_path / "attributions" / "mlp" / "Saliency"
    estimates, scores = [], []
    for model in ("m01", "m02", "m03"):  # the curve settings explain the normal samples
        frame = pd.DataFrame(rng.normal(size=(6, len(genes))), columns=genes)
        frame.insert(0, "estimate", [0, 1, 2] * 2)
        frame.insert(0, "replicate", 0)
        frame.insert(0, "sample", ["s1"] * 3 + ["s3"] * 3)
        path = base / "curve_repeats" / f"{model}.parquet"
        io.write_table(frame, path)
        estimates.append(str(path))
    for model in ("m01", "m02", "m03", "m04"):
        frame = pd.DataFrame(rng.random((3, len(genes))), columns=genes)
        frame.insert(0, "replicate", 0)
        frame.insert(0, "sample", ["s1", "s2", "s3"])
        path = base / "optimised" / f"{model}.parquet"
        io.write_table(frame, path)
        scores.append(str(path))
    config = {"pool": 3, "max_n": 4, "max_models": 2, "reference": {"mlp": "universal",
              "cnn": "zero"}, "reference_types": ["zero"], "setting": "optimised"}  # fmt: skip
    out = tmp_path / "curves.parquet"
    curves.run(
        estimates=estimates, scores=scores, samples=tmp_path / "samples.parquet",
        genes=tmp_path / "genes.parquet", config=config, score="abs_then_mean", k=3, seed=1,
        out=out,
    )  # fmt: skip
    table = io.read_table(out)
    assert list(table.columns) == [
        "arch", "explainer", "curve", "reference", "n", "sample", "tissue", "pair", "rho",
        "overlap",
    ]  # fmt: skip
    assert (table["arch"] == "mlp").all() and (table["explainer"] == "Saliency").all()
    assert (table["reference"] == "").all()  # Saliency takes no reference
    assert set(table["curve"]) == {"repeats", "models"}
    repeats, models = table[table["curve"] == "repeats"], table[table["curve"] == "models"]
    assert sorted(set(repeats["n"])) == [1, 2, 3, 4]
    assert len(repeats) == 2 * 4 * 3  # samples x ns x C(3 models, 2)
    assert sorted(set(models["n"])) == [1, 2]  # min(max_models, 4 models)
    assert len(models) == 2 * (6 + 6)  # samples x (K = 4 replicates: 6 pairs) per n
    assert set(models["sample"]) == {"s1", "s3"}  # s2 is cancer
    assert table.set_index("sample")["tissue"].to_dict() == {"s1": "liver", "s3": "lung"}
    assert table["rho"].between(-1, 1).all() and table["overlap"].between(0, 3).all()
    # Same seed, same table.
    again = tmp_path / "again.parquet"
    curves.run(
        estimates=estimates, scores=scores, samples=tmp_path / "samples.parquet",
        genes=tmp_path / "genes.parquet", config=config, score="abs_then_mean", k=3, seed=1,
        out=again,
    )  # fmt: skip
    pd.testing.assert_frame_equal(table, io.read_table(again))


def test_models_curve_uses_every_sample_without_normal_ones(tmp_path):
    genes = ["g0", "g1", "g2", "g3"]
    paths = []
    rng = np.random.default_rng(12)
    for model in ("m01", "m02", "m03"):
        frame = pd.DataFrame(rng.random((2, 4)), columns=genes)
        frame.insert(0, "replicate", 0)
        frame.insert(0, "sample", ["a", "b"])
        paths.append(tmp_path / f"{model}.parquet")
        io.write_table(frame, paths[-1])
    config = {"max_models": 5}
    table = curves.models_curve(
        paths, genes, config, "abs_then_mean", 2, np.random.default_rng(0), set()
    )
    assert list(table.columns) == ["n", "sample", "pair", "rho", "overlap"]
    assert table["sample"].unique().tolist() == ["a", "b"]
    assert sorted(set(table["n"])) == [1, 2, 3]  # capped at the 3 models
