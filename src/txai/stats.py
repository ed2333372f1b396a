"""Small statistics shared by the analyses: multiple-testing correction, over-representation."""

from __future__ import annotations

import numpy as np
from scipy.stats import hypergeom


def bh(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (statsmodels' `fdr_bh`); NaN stays NaN."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = ~np.isnan(p)
    values = p[valid]
    order = np.argsort(values)
    scaled = values[order] * len(values) / np.arange(1, len(values) + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    result = np.empty_like(values)
    result[order] = adjusted
    out[valid] = result
    return out


def overlap_test(overlap, drawn, members, universe):
    """Expected overlap by chance and the one-sided hypergeometric p-value of drawing `drawn`
    genes from `universe` of which `members` belong to a set and seeing >= `overlap` of them."""
    overlap, drawn, members = (np.asarray(v) for v in (overlap, drawn, members))
    expected = drawn * members / universe
    p = hypergeom.sf(overlap - 1, universe, members, drawn)
    return expected, p
