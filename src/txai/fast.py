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
from txai.explain import REFERENCE_BASED, as_pools, repeat_draws

EXPLAINERS = (
    "Saliency",
    "InputXGradient",
    "GuidedBackprop",
    "IntegratedGradients",
    "DeepLift",
    "DeepLiftShap",
)
DEEPLIFT_EPS = 1e-10  # Captum's threshold below which the Rescale rule uses the gradient


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
    """The same estimates as `explain.estimates` for an MLP: (index, samples x genes)."""
    model = model.eval()
    weight, bias = fold(model)
    w_t = model.out.weight.detach()[target]  # samples x hidden
    pools = as_pools(pools)
    pool_h = None
    if explainer in REFERENCE_BASED:  # the hidden layer of every reference, once
        pool_h = torch.as_tensor(pools.values) @ weight.T + bias
    specs = [(tuple(bias.shape), model.dropout.p)]
    k = setting["references"]["count"] if explainer in REFERENCE_BASED else 1
    if explainer == "IntegratedGradients":
        step_sizes, alphas = approximation_parameters("gausslegendre")
        steps = torch.tensor(step_sizes(ig_steps), dtype=x.dtype)
        path = torch.tensor(alphas(ig_steps), dtype=x.dtype)
    index = 0
    for masks, chosen, copies in repeat_draws(x, setting, pools, seed_stream, specs):
        upstream = w_t * masks[0]  # samples x hidden
        for noisy in copies:
            h = noisy @ weight.T + bias
            if explainer not in REFERENCE_BASED:
                factor = upstream * (h > 0)
                if explainer == "GuidedBackprop":
                    factor = factor.clamp(min=0)
                grad = factor @ weight
                out = {"Saliency": grad if signed else grad.abs(), "GuidedBackprop": grad}
                yield index, out.get(explainer, noisy * grad)
                index += 1
                continue
            group = torch.as_tensor(pools.group)
            refs = torch.as_tensor(chosen.T)  # K x samples
            h0 = pool_h[group[None, :], refs]  # K x samples x hidden
            x0 = torch.as_tensor(pools.values)[group[None, :], refs]  # K x samples x genes
            dh = h - h0
            if explainer == "IntegratedGradients":
                on = (h0[..., None] + path * dh[..., None]) > 0
                factor = (on * steps).sum(-1)
            else:
                rescale = (h.clamp(min=0) - h0.clamp(min=0)) / torch.where(dh == 0, 1, dh)
                factor = torch.where(dh.abs() < DEEPLIFT_EPS, (h > 0).to(h.dtype), rescale)
            attr = (noisy - x0) * ((upstream * factor) @ weight)  # K x samples x genes
            if explainer == "DeepLiftShap":
                yield index, attr.mean(0)
                index += 1
                continue
            for j in range(k):
                yield index, attr[j]
                index += 1
