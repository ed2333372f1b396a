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
`explain.repeat_draws`, so the result equals the Captum path on the same draws.
"""

from __future__ import annotations

import numpy as np
import torch
from captum.attr._utils.approximation_methods import approximation_parameters

from txai import models
from txai.config import REFERENCE_BASED
from txai.explain import as_pools, repeat_draws

EXPLAINERS = (
    "Saliency",
    "InputXGradient",
    "GuidedBackprop",
    "IntegratedGradients",
    "DeepLift",
    "DeepLiftShap",
)
DEEPLIFT_EPS = 1e-10  # Captum's threshold below which the Rescale rule uses the gradient
CHUNK_ROWS = 2048  # rows (estimates x samples) per product with W'; bounds memory


def applies(model, explainer: str) -> bool:
    return isinstance(model, models.MLP) and explainer in EXPLAINERS


def fold(model: models.MLP) -> tuple[torch.Tensor, torch.Tensor]:
    """(W', b'): the hidden Linear with eval-mode BatchNorm folded in (hidden x genes, hidden)."""
    bn = model.bn
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = model.hidden.weight * scale[:, None]
    bias = (model.hidden.bias - bn.running_mean) * scale + bn.bias
    return weight.detach(), bias.detach()


@torch.no_grad()
def estimates(
    model: models.MLP,
    explainer: str,
    x: torch.Tensor,
    target: torch.Tensor,
    setting: dict,
    pools,
    seed_stream: np.random.Generator,
    ig_steps: int = 50,
    signed: bool = False,
):
    """The same estimates as `explain.estimates` for an MLP: (index, samples x genes).

    Hidden-layer factors are collected over repeats until CHUNK_ROWS rows, then multiplied by
    W' in one product; without SmoothGrad the hidden layer of the inputs is computed once.
    """
    model = model.eval()
    weight, bias = fold(model)
    w_t = model.out.weight.detach()[target]  # samples x hidden
    pools = as_pools(pools)
    if explainer in REFERENCE_BASED:  # the hidden layer of every reference, once
        values = torch.as_tensor(pools.values)
        pool_h = values @ weight.T + bias
        group = torch.as_tensor(pools.group)[None, :]
    if explainer == "IntegratedGradients":
        step_sizes, alphas = approximation_parameters("gausslegendre")
        steps = torch.tensor(step_sizes(ig_steps), dtype=x.dtype)
        path = torch.tensor(alphas(ig_steps), dtype=x.dtype)
    h_x = x @ weight.T + bias
    specs = [(tuple(bias.shape), model.dropout.p)]
    items, rows, index = [], 0, 0
    for masks, chosen, copies in repeat_draws(x, setting, pools, seed_stream, specs):
        upstream = w_t * masks[0]  # samples x hidden
        for noisy in copies:
            h = h_x if noisy is x else noisy @ weight.T + bias
            if explainer not in REFERENCE_BASED:
                factor = upstream * (h > 0)
                if explainer == "GuidedBackprop":
                    factor = factor.clamp(min=0)
                scale = noisy[None] if explainer == "InputXGradient" else None
                items.append((factor[None], scale, False))
            else:
                refs = torch.as_tensor(chosen.T)  # K x samples
                h0, x0 = pool_h[group, refs], values[group, refs]  # K x samples x hidden/genes
                dh = h - h0
                if explainer == "IntegratedGradients":
                    factor = (((h0[..., None] + path * dh[..., None]) > 0) * steps).sum(-1)
                else:
                    rescale = (h.clamp(min=0) - h0.clamp(min=0)) / torch.where(dh == 0, 1, dh)
                    factor = torch.where(dh.abs() < DEEPLIFT_EPS, (h > 0).to(h.dtype), rescale)
                diff = torch.sub(noisy, x0, out=x0)  # x - x0, in the gathered copy's memory
                items.append((upstream * factor, diff, explainer == "DeepLiftShap"))
            rows += items[-1][0].shape[0] * len(x)
        if rows >= CHUNK_ROWS:
            for out in _products(items, weight, explainer, signed):
                yield index, out
                index += 1
            items, rows = [], 0
    for out in _products(items, weight, explainer, signed):
        yield index, out
        index += 1


def _products(items: list, weight: torch.Tensor, explainer: str, signed: bool):
    """Estimates from collected (factor, scale, mean over references) items, in order."""
    if not items:
        return
    factors = torch.cat([factor for factor, _, _ in items])  # estimates x samples x hidden
    grads = (factors.reshape(-1, factors.shape[-1]) @ weight).reshape(*factors.shape[:2], -1)
    start = 0
    for factor, scale, mean in items:
        grad = grads[start : start + len(factor)]
        start += len(factor)
        attr = grad if scale is None else grad.mul_(scale)  # grads is ours: scale in place
        if mean:
            yield attr.mean(0)
        elif explainer == "Saliency" and not signed:
            yield attr[0].abs()
        else:
            yield from attr
