"""Tests for txai.references: the reference (baseline) pools and their truncation bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from txai import io, references

# Each case: mean, sd, low, high of one gene. Covers a centred window, a one-sided window
# clipped at 0, a window far from the mean (upper tail) and a window below the mean.
CASES = [
    (0.0, 1.0, 0.0, 1.0),  # the `normal` reference
    (2.0, 0.5, 1.5, 2.5),  # mu +- sigma
    (0.4, 1.5, 0.0, 1.9),  # max(0, mu - sigma) = 0
    (-1.0, 0.7, 0.5, 3.0),  # window in the upper tail
    (6.0, 2.0, 0.0, 4.0),  # window below the mean
]


def scipy_moments(mean, sd, low, high):
    """Mean, variance and excess kurtosis of N(mean, sd) truncated to [low, high]."""
    a, b = (low - mean) / sd, (high - mean) / sd
    m, v, _, k = stats.truncnorm.stats(a, b, loc=mean, scale=sd, moments="mvsk")
    return float(m), float(v), float(k)


def check_moments(draws: np.ndarray, mean, sd, low, high, z: float = 5.0) -> None:
    """Sample mean and variance within `z` standard errors of the truncated normal's."""
    n = draws.size
    m, v, k = scipy_moments(mean, sd, low, high)
    assert abs(draws.mean() - m) < z * np.sqrt(v / n), (mean, sd, low, high)
    # Standard error of the sample variance: var * sqrt((excess kurtosis + 2) / n).
    assert abs(draws.var(ddof=1) - v) < z * v * np.sqrt((k + 2) / n), (mean, sd, low, high)


# --- truncated_normal ------------------------------------------------------------------------


def test_truncated_normal_inside_bounds_and_agrees_with_scipy():
    mean, sd, low, high = (np.array(v) for v in zip(*CASES, strict=True))
    n = 20_000
    draws = references.truncated_normal(mean, sd, low, high, n, np.random.default_rng(1))
    assert draws.shape == (n, len(CASES))
    assert (draws >= low).all() and (draws <= high).all()
    for j, case in enumerate(CASES):
        check_moments(draws[:, j], *case)
        # The whole distribution, not only two moments: Kolmogorov-Smirnov against SciPy's.
        m, s, lo, hi = case
        law = stats.truncnorm((lo - m) / s, (hi - m) / s, loc=m, scale=s)
        assert stats.kstest(draws[:, j], law.cdf).pvalue > 1e-4, case


def test_truncated_normal_in_blocks_draws_what_one_call_draws():
    """Drawn DRAW_ROWS rows at a time (bounded temporaries), the values of SciPy's one call."""
    mean, sd = np.array([0.5, 2.0, 1.0]), np.array([1.0, 0.5, 2.0])
    low, high = np.maximum(0, mean - sd), mean + sd
    n = 2 * references.DRAW_ROWS + 7
    draws = references.truncated_normal(mean, sd, low, high, n, np.random.default_rng(5))
    law = stats.truncnorm((low - mean) / sd, (high - mean) / sd, loc=mean, scale=sd)
    np.testing.assert_array_equal(
        draws, law.rvs(size=(n, 3), random_state=np.random.default_rng(5))
    )


def test_truncated_normal_columns_are_independent():
    draws = references.truncated_normal(np.zeros(2), 1.0, 0.0, 1.0, 5000, np.random.default_rng(2))
    assert not np.array_equal(draws[:, 0], draws[:, 1])
    assert abs(np.corrcoef(draws.T)[0, 1]) < 5 / np.sqrt(5000)


def test_truncated_normal_zero_sd_gives_the_mean():
    mean = np.array([0.3, 2.0, 5.5])
    sd = np.array([0.0, 0.0, 1.0])
    low = np.array([0.0, 1.0, 4.5])
    high = np.array([1.0, 3.0, 6.5])
    draws = references.truncated_normal(mean, sd, low, high, 500, np.random.default_rng(3))
    assert (draws[:, 0] == 0.3).all() and (draws[:, 1] == 2.0).all()
    assert draws[:, 2].std() > 0.3  # the spread gene still spreads
    assert (draws[:, 2] >= 4.5).all() and (draws[:, 2] <= 6.5).all()


def test_truncated_normal_is_reproducible_from_the_generator():
    args = (np.zeros(3), 1.0, 0.0, 1.0, 50)
    a = references.truncated_normal(*args, np.random.default_rng(9))
    b = references.truncated_normal(*args, np.random.default_rng(9))
    c = references.truncated_normal(*args, np.random.default_rng(10))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


# --- reference_pool ----------------------------------------------------------------------------


def test_zero_pool_is_all_zeros():
    expression = np.random.default_rng(0).normal(5, 1, (10, 7))
    pool = references.reference_pool("zero", 25, expression, np.random.default_rng(0))
    assert pool.shape == (25, 7)
    assert (pool == 0).all()


def test_normal_pool_mean_is_the_truncated_standard_normal_mean():
    # For Z ~ N(0, 1) truncated to [a, b]: E[Z] = (phi(a) - phi(b)) / (Phi(b) - Phi(a)).
    # With a = 0, b = 1: phi(0) = 1/sqrt(2 pi) = 0.398942, phi(1) = exp(-1/2)/sqrt(2 pi) = 0.241971,
    # Phi(1) - Phi(0) = 0.841345 - 0.5 = 0.341345, so E[Z] = 0.156971 / 0.341345 = 0.459862.
    # Var[Z] = 1 + (a phi(a) - b phi(b)) / (Phi(b) - Phi(a)) - E[Z]^2
    #        = 1 - 0.241971 / 0.341345 - 0.459862^2 = 1 - 0.708874 - 0.211473 = 0.079653.
    expected_mean, expected_var = 0.459862, 0.079653
    assert stats.truncnorm.mean(0, 1) == pytest.approx(expected_mean, abs=1e-6)
    assert stats.truncnorm.var(0, 1) == pytest.approx(expected_var, abs=1e-5)

    expression = np.random.default_rng(0).normal(5, 2, (12, 40))  # ignored by this type
    pool = references.reference_pool("normal", 1000, expression, np.random.default_rng(4))
    assert pool.shape == (1000, 40)
    assert (pool >= 0).all() and (pool <= 1).all()
    se = np.sqrt(expected_var / pool.size)  # 40,000 draws: ~0.0014
    assert abs(pool.mean() - expected_mean) < 5 * se
    assert pool.var() == pytest.approx(expected_var, rel=0.03)
    # Every gene has the same distribution, whatever its expression.
    assert np.abs(pool.mean(axis=0) - expected_mean).max() < 5 * np.sqrt(expected_var / 1000)


def universal_bounds(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mu, sigma (ddof=1) per gene, and the window [max(0, mu - sigma), mu + sigma]."""
    x = np.asarray(x, dtype=np.float64)
    mu, sigma = x.mean(axis=0), x.std(axis=0, ddof=1)
    return mu, sigma, np.maximum(0.0, mu - sigma), mu + sigma


def test_universal_pool_bounds_per_gene():
    r = np.random.default_rng(5)
    x = np.column_stack(
        [
            r.normal(6.0, 1.5, 12),  # window mu +- sigma
            r.normal(0.3, 0.6, 12).clip(0),  # mu - sigma < 0: window starts at 0
            r.gamma(2.0, 1.0, 12),
            np.full(12, 3.25),  # constant gene: sigma 0, every reference is the mean
        ]
    )
    mu, sigma, low, high = universal_bounds(x)
    assert low[1] == 0 and mu[1] - sigma[1] < 0  # the clipped case is exercised
    pool = references.reference_pool("universal", 4000, x, np.random.default_rng(6))
    assert pool.shape == (4000, 4)
    assert (pool >= low).all() and (pool <= high).all()
    assert (pool[:, 3] == 3.25).all()
    for j in range(3):
        check_moments(pool[:, j], mu[j], sigma[j], low[j], high[j])
        # The window is mu +- sigma with ddof=1: draws reach past the ddof=0 window.
        sigma0 = x[:, j].std(ddof=0)
        assert pool[:, j].max() > mu[j] + sigma0
        assert pool[:, j].max() > high[j] - 0.01 * sigma[j]


def test_specific_pool_is_universal_over_the_given_samples():
    r = np.random.default_rng(7)
    x = r.normal(4.0, 1.0, (9, 3))
    mu, sigma, low, high = universal_bounds(x)
    pool = references.reference_pool("specific", 3000, x, np.random.default_rng(8))
    assert (pool >= low).all() and (pool <= high).all()
    for j in range(3):
        check_moments(pool[:, j], mu[j], sigma[j], low[j], high[j])


# --- run(): files -------------------------------------------------------------------------------

GENES = ["GZ", "GA", "GM", "GB"]  # not sorted: the file keeps this order
CLASSES = {  # class: (tissue, samples, mean level per gene)
    "normal_liver": ("liver", 7, [1.0, 6.0, 3.0, 0.2]),
    "cancer_liver": ("liver", 6, [5.0, 2.0, 3.0, 0.2]),
    "normal_lung": ("lung", 8, [3.0, 3.0, 8.0, 4.0]),
    "normal_brain": ("brain", 5, [9.0, 0.5, 1.0, 7.0]),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A small expression.parquet and samples.parquet (the sheet in a different row order)."""
    folder = tmp_path_factory.mktemp("data")
    r = np.random.default_rng(11)
    rows, sheet = [], []
    for cls, (tissue, n, level) in CLASSES.items():
        rows.append(np.clip(r.normal(level, 0.5, (n, len(GENES))), 0, None))
        sheet += [(cls, tissue)] * n
    x = np.concatenate(rows).astype(np.float32)
    order = r.permutation(len(x))
    x, sheet = x[order], [sheet[i] for i in order]
    ids = [f"S{i:03d}" for i in range(len(x))]
    io.write_expression(ids, GENES, x, folder / "expression.parquet")
    samples = pd.DataFrame(sheet, columns=["class", "tissue"])
    samples.insert(0, "sample", ids)
    samples["status"] = samples["class"].str.split("_").str[0]
    io.write_table(samples.iloc[::-1].reset_index(drop=True), folder / "samples.parquet")
    return {
        "expression": folder / "expression.parquet",
        "samples": folder / "samples.parquet",
        "x": x.astype(np.float64),  # the float32 values the file holds
        "class": np.array([c for c, _ in sheet]),
    }


def build(inputs, kind, out, *, seed=3, pool_size=50, focus=("liver", "lung")) -> pd.DataFrame:
    references.run(
        expression=inputs["expression"],
        samples=inputs["samples"],
        kind=kind,
        pool_size=pool_size,
        focus_tissues=list(focus),
        seed=seed,
        out=out,
    )
    return io.read_table(out)


@pytest.mark.parametrize("kind", ["zero", "normal", "universal"])
def test_run_writes_one_pool(inputs, tmp_path, kind):
    frame = build(inputs, kind, tmp_path / f"{kind}.parquet")
    assert frame.columns.tolist() == ["reference", *GENES]
    assert len(frame) == 50
    assert frame["reference"].tolist() == list(range(50))
    assert all(frame[g].dtype == np.float32 for g in GENES)
    values = frame[GENES].to_numpy(dtype=np.float64)
    if kind == "zero":
        assert (values == 0).all()
    elif kind == "normal":
        assert (values >= 0).all() and (values <= 1).all() and values.std() > 0.2
    else:
        _, _, low, high = universal_bounds(inputs["x"])
        assert (values >= low - 1e-5).all() and (values <= high + 1e-5).all()
        assert (values.std(axis=0) > 0).all()


def test_run_specific_pools_explained_classes_within_their_own_bounds(inputs, tmp_path):
    frame = build(inputs, "specific", tmp_path / "specific.parquet")
    assert frame.columns.tolist() == ["reference", "class", *GENES]
    assert all(frame[g].dtype == np.float32 for g in GENES)
    # Only classes of the focus tissues (liver, lung), pool_size rows each; brain has none.
    explained = ["cancer_liver", "normal_liver", "normal_lung"]
    assert sorted(frame["class"].unique()) == explained
    assert frame["class"].value_counts().to_dict() == dict.fromkeys(explained, 50)
    for cls, block in frame.groupby("class"):
        assert block["reference"].tolist() == list(range(50))
        values = block[GENES].to_numpy(dtype=np.float64)
        _, _, low, high = universal_bounds(inputs["x"][inputs["class"] == cls])
        assert (values >= low - 1e-5).all() and (values <= high + 1e-5).all(), cls
        # The classes' windows differ, so another class's window would not hold these rows.
        for other in set(explained) - {cls}:
            _, _, lo2, hi2 = universal_bounds(inputs["x"][inputs["class"] == other])
            assert ((values < lo2 - 1e-5) | (values > hi2 + 1e-5)).any(), (cls, other)


def test_run_specific_follows_focus_tissues(inputs, tmp_path):
    frame = build(inputs, "specific", tmp_path / "specific.parquet", focus=["brain"])
    assert frame["class"].unique().tolist() == ["normal_brain"]
    assert len(frame) == 50


@pytest.mark.parametrize("kind", ["zero", "normal", "universal", "specific"])
def test_run_same_seed_gives_identical_bytes(inputs, tmp_path, kind):
    a = tmp_path / "a.parquet"
    b = tmp_path / "b.parquet"
    build(inputs, kind, a, seed=3)
    build(inputs, kind, b, seed=3)
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("kind", ["normal", "universal", "specific"])
def test_run_different_seed_gives_different_values(inputs, tmp_path, kind):
    a = build(inputs, kind, tmp_path / "a.parquet", seed=3)
    b = build(inputs, kind, tmp_path / "b.parquet", seed=4)
    assert a.columns.tolist() == b.columns.tolist()
    va, vb = a[GENES].to_numpy(), b[GENES].to_numpy()
    assert (va != vb).mean() > 0.99


def test_kinds_draw_from_different_streams(tmp_path):
    """With one class holding every sample, specific and universal have the same distribution;
    they must still differ draw by draw (each type has its own random stream)."""
    r = np.random.default_rng(12)
    x = r.normal(4.0, 1.0, (10, 3))
    ids = [f"S{i}" for i in range(10)]
    io.write_expression(ids, ["G1", "G2", "G3"], x, tmp_path / "expression.parquet")
    sheet = pd.DataFrame({"sample": ids, "class": "normal_liver", "tissue": "liver"})
    io.write_table(sheet, tmp_path / "samples.parquet")
    files = {"expression": tmp_path / "expression.parquet", "samples": tmp_path / "samples.parquet"}
    universal = build(files, "universal", tmp_path / "u.parquet", focus=["liver"])
    specific = build(files, "specific", tmp_path / "s.parquet", focus=["liver"])
    u, s = universal[["G1", "G2", "G3"]].to_numpy(), specific[["G1", "G2", "G3"]].to_numpy()
    assert u.shape == s.shape
    _, _, low, high = universal_bounds(x.astype(np.float32))
    for v in (u, s):
        assert (v >= low - 1e-5).all() and (v <= high + 1e-5).all()
    assert (u != s).mean() > 0.99
