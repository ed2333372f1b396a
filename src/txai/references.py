"""Reference (baseline) pools for DeepLift, DeepLiftShap and IntegratedGradients.

Four types, as PAPER-DIGEST.md section 4 decides, on the log2(TPM + 1) scale:
- zero: every gene 0;
- normal: N(0, 1) truncated to [0, 1];
- universal: per gene N(mu, sigma) over all samples, truncated to [max(0, mu - sigma), mu + sigma];
- specific: the same over the samples of one class (built for the explained classes only).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from txai import io

log = logging.getLogger(__name__)


DRAW_ROWS = 100  # references drawn at a time: SciPy's float64 temporaries stay a few blocks


def truncated_normal(
    mean: np.ndarray, sd: np.ndarray, low: np.ndarray, high: np.ndarray, n: int, r
) -> np.ndarray:
    """`n` draws per gene of N(mean, sd) truncated to [low, high] (n x genes); sd 0 gives mean.

    Drawn DRAW_ROWS rows at a time: SciPy takes the generator's draws row by row, so the values
    are those of one call for all `n`, without its temporaries of n x genes."""
    mean, sd, low, high = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (mean, sd, low, high))
    )
    out = np.repeat(np.clip(mean, low, high)[None, :], n, axis=0)
    spread = sd > 0
    if spread.any():
        m, s = mean[spread], sd[spread]
        a, b = (low[spread] - m) / s, (high[spread] - m) / s
        for start in range(0, n, DRAW_ROWS):
            rows = min(DRAW_ROWS, n - start)
            out[start : start + rows, spread] = stats.truncnorm.rvs(
                a, b, loc=m, scale=s, size=(rows, int(spread.sum())), random_state=r
            )
    return out


def reference_pool(kind: str, n: int, expression: np.ndarray, r) -> np.ndarray:
    """A pool of `n` references (n x genes) of one type from samples x genes log2(TPM + 1)."""
    n_genes = expression.shape[1]
    if kind == "zero":
        return np.zeros((n, n_genes))
    if kind == "normal":
        return truncated_normal(np.zeros(n_genes), 1.0, 0.0, 1.0, n, r)
    mu, sigma = expression.mean(axis=0), expression.std(axis=0, ddof=1)
    return truncated_normal(mu, sigma, np.maximum(0.0, mu - sigma), mu + sigma, n, r)


def run(*, expression, samples, kind: str, pool_size: int, focus_tissues, seed: int, out) -> None:
    """Write `references/{kind}.parquet`: `reference`, [`class`,] one float32 column per gene."""
    sample_ids, genes, x = io.read_expression(expression)
    sheet = io.read_table(samples).set_index("sample").loc[sample_ids]
    r = io.rng(seed, "references", kind)
    classes = [None]
    if kind == "specific":
        classes = sorted(sheet.loc[sheet["tissue"].isin(focus_tissues), "class"].unique())
    # one pool at a time into the output, each gene's column contiguous for the Parquet writer
    values = np.empty((len(classes) * pool_size, len(genes)), dtype=np.float32, order="F")
    for i, c in enumerate(classes):
        rows = x if c is None else x[(sheet["class"] == c).to_numpy()]
        values[i * pool_size : (i + 1) * pool_size] = reference_pool(kind, pool_size, rows, r)
    labels = None if kind != "specific" else np.repeat(classes, pool_size)
    frame = pd.DataFrame(values, columns=genes, copy=False)
    if labels is not None:
        frame.insert(0, "class", labels)
    frame.insert(0, "reference", np.tile(np.arange(pool_size), len(frame) // pool_size))
    io.write_table(frame, out)
    log.info("%s: %d references x %d genes", kind, len(frame), len(genes))
