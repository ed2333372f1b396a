"""The MLP's explainers written out exactly, as large matrix products (PITFALLS.md, fast path).

In eval mode the MLP is h = W'x + b' (BatchNorm folded into the hidden layer), then ReLU, the
repeat's dropout mask m, and the output layer. For the target logit f = w_t . (m * relu(h)) + c,
every explainer's gradient with respect to x is W'^T (w_t * m * s), where only the hidden-layer
factor s differs:
- Saliency, InputXGradient: s = 1[h > 0];
- GuidedBackprop: relu(w_t * m * 1[h > 0]) replaces w_t * m * s;
- DeepLift (Rescale rule at the one ReLU, baseline x0 with h0 = W'x0 + b'):
  s = (relu(h) - relu(h0)) / (h - h0), the gradient where |h - h0| < 1e-10, as in Captum;
- IntegratedGradients along x0 -> x: s = sum_k w_k 1[h0 + a_k (h - h0) > 0] with Captum's
  Gauss-Legendre steps a_k and weights w_k (h is affine along the path);
- DeepLiftShap: the mean of DeepLift over the repeat's K references.
So the hidden-layer factors of all samples, repeats and references are computed first (tiny),
then one product with W' gives every estimate. Masks, references and noise come from
`txai.draws`, so the result equals the Captum backend on the same draws.
"""

from __future__ import annotations

import torch
from captum.attr._utils.approximation_methods import approximation_parameters

from txai import models
from txai.budget import CHUNK_ROWS, mlp_row_bytes, rows_within
from txai.explainers import Explainer

DEEPLIFT_EPS = 1e-10  # Captum's threshold below which the Rescale rule uses the gradient


def serves(model, explainer: Explainer) -> bool:
    """Every explainer of the MLP (Grad-CAM needs a convolution)."""
    return isinstance(model, models.MLP) and explainer.model and not explainer.convolutional


def fold(model: models.MLP) -> tuple[torch.Tensor, torch.Tensor]:
    """(W', b'): the hidden Linear with eval-mode BatchNorm folded in (hidden x genes, hidden)."""
    bn = model.bn
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = model.hidden.weight * scale[:, None]
    bias = (model.hidden.bias - bn.running_mean) * scale + bn.bias
    return weight.detach(), bias.detach()


@torch.no_grad()
def estimates(model: models.MLP, task, repeats):
    """One replicate of an MLP (the `txai.backend.Backend` interface): the same estimates as
    the Captum backend.

    Hidden-layer factors are collected over repeats until CHUNK_ROWS rows, then multiplied by
    W' in one product; the hidden layer of each input copy is computed once. Memory is bounded
    by `task.memory_mb`: an estimate whose references of all samples (K' x samples x genes,
    gathered, then the products) would exceed it is taken a slice of samples at a time, and the
    collected rows are multiplied out before they exceed it.
    """
    explainer, x, pools = task.explainer, task.x, task.pools
    weight, bias = fold(model)
    w_t = model.out.weight.detach()[task.target]  # samples x hidden
    if explainer.references:  # the hidden layer of every reference, once
        values = pools.values
        pool_h = values @ weight.T + bias
        group = pools.group[None, :]
    if explainer.path:
        step_sizes, alphas = approximation_parameters("gausslegendre")
        steps = torch.tensor(step_sizes(task.ig_steps), dtype=x.dtype, device=x.device)
        path = torch.tensor(alphas(task.ig_steps), dtype=x.dtype, device=x.device)
    h_x = x @ weight.T + bias
    n = len(x)
    per_row = mlp_row_bytes(x.shape[1], len(bias), task.ig_steps if explainer.path else 0)
    rows_budget = rows_within(task.memory_mb, per_row)
    items, rows, pending = [], 0, {}
    for repeat in repeats:
        upstream = w_t * repeat.masks[0].to(x.device)  # samples x hidden
        for copy in repeat.copies:
            noisy = copy.inputs
            h = h_x if noisy is x else noisy @ weight.T + bias
            for estimate in copy.estimates:
                k = 1 if estimate.chosen is None else estimate.chosen.shape[1]
                size = n if k * n <= rows_budget else max(1, rows_budget // k)
                for lo in range(0, n, size):
                    part = slice(lo, min(n, lo + size))
                    if estimate.chosen is None:
                        factor = upstream[part] * (h[part] > 0)
                        if explainer.rule == "guided":
                            factor = factor.clamp(min=0)
                        scale = noisy[part][None] if explainer.multiplies_by_inputs else None
                        items.append((factor[None], scale, estimate.times, part))
                    else:
                        refs = torch.as_tensor(estimate.chosen[part].T, device=x.device)
                        where = (group[:, part], refs)  # K' x samples
                        h0, x0 = pool_h[where], values[where]  # K' x samples x hidden/genes
                        hp = h[part]
                        dh = hp - h0
                        if explainer.path:
                            inside = (h0[..., None] + path * dh[..., None]) > 0
                            factor = (inside * steps).sum(-1)
                        else:
                            delta = hp.clamp(min=0) - h0.clamp(min=0)
                            rescale = delta / torch.where(dh == 0, 1, dh)
                            small = dh.abs() < DEEPLIFT_EPS
                            factor = torch.where(small, (hp > 0).to(hp.dtype), rescale)
                        diff = torch.sub(noisy[part], x0, out=x0)  # x - x0, in x0's memory
                        items.append((upstream[part] * factor, diff, estimate.times, part))
                    rows += items[-1][0].shape[0] * (part.stop - part.start)
                    if rows >= rows_budget:  # memory: multiply out what is collected
                        yield from _assembled(_products(items, weight, task), n, pending)
                        items, rows = [], 0
        if rows >= CHUNK_ROWS:
            yield from _assembled(_products(items, weight, task), n, pending)
            items, rows = [], 0
    yield from _assembled(_products(items, weight, task), n, pending)


def _products(items: list, weight: torch.Tensor, task):
    """(estimate part, times, samples) from collected (factor, scale, times, samples) items,
    in order: every item's rows in one product with W'."""
    if not items:
        return
    factors = torch.cat([factor.reshape(-1, factor.shape[-1]) for factor, *_ in items])
    grads = factors @ weight  # rows x genes
    explainer, start = task.explainer, 0
    for factor, scale, times, part in items:
        grad = grads[start : start + factor.shape[0] * factor.shape[1]].view(*factor.shape[:2], -1)
        start += factor.shape[0] * factor.shape[1]
        attr = grad if scale is None else grad.mul_(scale)  # grads is ours: scale in place
        if explainer.averages_references:
            yield attr.mean(0), times, part
        elif explainer.absolute and not task.signed:
            yield attr[0].abs(), times, part
        else:
            yield attr[0], times, part


def _assembled(parts, n: int, pending: dict):
    """(estimate, times) from parts over slices of the n samples: a part of all samples as it
    is, the slices of one estimate (in order) into one tensor. `pending` holds an estimate
    whose slices span two products."""
    for out, times, part in parts:
        if part.start == 0 and part.stop == n:
            yield out, times
            continue
        buffer = pending.setdefault("estimate", out.new_empty(n, out.shape[-1]))
        buffer[part] = out
        if part.stop == n:
            yield pending.pop("estimate"), times
