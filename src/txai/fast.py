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
from txai.explainers import Explainer

DEEPLIFT_EPS = 1e-10  # Captum's threshold below which the Rescale rule uses the gradient
CHUNK_ROWS = 2048  # rows (estimates x samples) per product with W'; bounds memory


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
    W' in one product; the hidden layer of each input copy is computed once.
    """
    explainer, x, pools = task.explainer, task.x, task.pools
    weight, bias = fold(model)
    w_t = model.out.weight.detach()[task.target]  # samples x hidden
    if explainer.references:  # the hidden layer of every reference, once
        values = torch.as_tensor(pools.values)
        pool_h = values @ weight.T + bias
        group = torch.as_tensor(pools.group)[None, :]
    if explainer.path:
        step_sizes, alphas = approximation_parameters("gausslegendre")
        steps = torch.tensor(step_sizes(task.ig_steps), dtype=x.dtype)
        path = torch.tensor(alphas(task.ig_steps), dtype=x.dtype)
    h_x = x @ weight.T + bias
    items, rows = [], 0
    for repeat in repeats:
        upstream = w_t * repeat.masks[0]  # samples x hidden
        for copy in repeat.copies:
            noisy = copy.inputs
            h = h_x if noisy is x else noisy @ weight.T + bias
            for estimate in copy.estimates:
                if estimate.chosen is None:
                    factor = upstream * (h > 0)
                    if explainer.rule == "guided":
                        factor = factor.clamp(min=0)
                    scale = noisy[None] if explainer.multiplies_by_inputs else None
                    items.append((factor[None], scale, estimate.times))
                else:
                    refs = torch.as_tensor(estimate.chosen.T)  # K' x samples
                    h0, x0 = pool_h[group, refs], values[group, refs]  # K' x samples x ...
                    dh = h - h0
                    if explainer.path:
                        factor = (((h0[..., None] + path * dh[..., None]) > 0) * steps).sum(-1)
                    else:
                        rescale = (h.clamp(min=0) - h0.clamp(min=0)) / torch.where(dh == 0, 1, dh)
                        small = dh.abs() < DEEPLIFT_EPS
                        factor = torch.where(small, (h > 0).to(h.dtype), rescale)
                    diff = torch.sub(noisy, x0, out=x0)  # x - x0, in the gathered copy's memory
                    items.append((upstream * factor, diff, estimate.times))
                rows += items[-1][0].shape[0] * len(x)
        if rows >= CHUNK_ROWS:
            yield from _products(items, weight, explainer, task.signed)
            items, rows = [], 0
    yield from _products(items, weight, explainer, task.signed)


def _products(items: list, weight: torch.Tensor, explainer: Explainer, signed: bool):
    """(estimate, times) from collected (factor, scale, times) items, in order."""
    if not items:
        return
    factors = torch.cat([factor for factor, _, _ in items])  # rows x samples x hidden
    grads = (factors.reshape(-1, factors.shape[-1]) @ weight).reshape(*factors.shape[:2], -1)
    start = 0
    for factor, scale, times in items:
        grad = grads[start : start + len(factor)]
        start += len(factor)
        attr = grad if scale is None else grad.mul_(scale)  # grads is ours: scale in place
        if explainer.averages_references:
            yield attr.mean(0), times
        elif explainer.absolute and not signed:
            yield attr[0].abs(), times
        else:
            yield attr[0], times
