"""Small statistics shared by the analyses: multiple-testing correction, over-representation,
TPM."""

from __future__ import annotations

import numpy as np


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
    from scipy.stats import hypergeom  # here: plan imports this module, and scipy.stats takes 1 s

    p = hypergeom.sf(overlap - 1, universe, members, drawn)
    return expected, p


def tpm_from_counts(counts: np.ndarray, lengths_bp: np.ndarray) -> np.ndarray:
    """TPM from read counts (samples x genes) and gene lengths in base pairs."""
    rate = counts / (np.asarray(lengths_bp, dtype=np.float64) / 1e3)
    total = rate.sum(axis=1, keepdims=True)
    return np.divide(rate, total, out=np.zeros_like(rate), where=total > 0) * 1e6
