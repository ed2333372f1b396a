"""Shared statistics against statsmodels and scipy."""

import numpy as np
from scipy.stats import hypergeom
from statsmodels.stats.multitest import multipletests

from txai import stats


def test_bh_equals_statsmodels_with_ties_and_nan():
    r = np.random.default_rng(0)
    p = np.concatenate([r.uniform(0, 1, 500), r.uniform(0, 1e-4, 50), [0.5, 0.5, 0.5, 1.0, 0.0]])
    r.shuffle(p)
    np.testing.assert_allclose(stats.bh(p), multipletests(p, method="fdr_bh")[1], rtol=1e-12)
    with_nan = np.array([0.01, np.nan, 0.04, 0.03])
    got = stats.bh(with_nan)
    assert np.isnan(got[1])
    np.testing.assert_allclose(
        got[[0, 2, 3]], multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1]
    )


def test_bh_hand_computed():
    # sorted p 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.04, 0.04, 0.5
    np.testing.assert_allclose(stats.bh([0.5, 0.03, 0.01, 0.02]), [0.5, 0.04, 0.04, 0.04])


def test_overlap_test_expected_and_p():
    expected, p = stats.overlap_test(10, 100, 500, 20_000)
    assert expected == 100 * 500 / 20_000  # 2.5 genes by chance
    assert p == hypergeom.sf(9, 20_000, 500, 100)
    # seeing at least 0 is certain; seeing every drawn gene from a tiny set is impossible
    assert stats.overlap_test(0, 100, 500, 20_000)[1] == 1.0
    assert stats.overlap_test(101, 100, 500, 20_000)[1] == 0.0
    expected, p = stats.overlap_test(np.array([1, 3]), 5, np.array([10, 20]), 100)
    np.testing.assert_allclose(expected, [0.5, 1.0])
    np.testing.assert_allclose(p, hypergeom.sf([0, 2], 100, [10, 20], 5))
