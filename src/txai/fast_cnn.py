"""The CNN's explainers: the trunk computed once, the backward passes of many repeats batched.

The CNN is a trunk (three blocks: conv -> max-pool -> BatchNorm -> ReLU) without randomness, then
a head: the repeat's dropout mask, global average pooling, BatchNorm, ReLU and the output layer.
Each explainer's backward pass applies, layer by layer, a rule that depends only on forward values:
- gradient (Saliency, InputXGradient, IntegratedGradients, Grad-CAM): ReLU gate, max-pool routing
  to the argmax, BatchNorm scale, transposed convolution;
- GuidedBackprop: the gradient, clamped at 0 after each ReLU (Captum's rule);
- DeepLift: Captum's Rescale rule at each ReLU and its max-pool rule, carrying the input's and
  the reference's half of the backward pass as Captum does.
So each distinct input (the samples, IntegratedGradients' path points, the references) goes
through the trunk once, shared by every repeat that explains it; only the head differs by
repeat. The rows of many repeats then take one backward pass together: large convolutions
instead of one small Captum call per repeat. Masks, references and noise come from
`txai.draws`, so the result equals the Captum backend on the same draws.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from captum.attr._utils.approximation_methods import approximation_parameters

from txai import models
from txai.explainers import Explainer

EPS = 1e-10  # Captum's DeepLift threshold below which a rule falls back to the gradient
CHUNK_VALUES = 2**21  # backward rows x first-block activations per batch (8 MB: cache-sized)


def serves(model, explainer: Explainer) -> bool:
    """Every explainer of the CNN whose Grad-CAM variant, if any, is one of CAM_WEIGHTS."""
    return (
        isinstance(model, models.CNN)
        and explainer.model
        and (explainer.cam is None or explainer.cam in CAM_WEIGHTS)
    )


class Block(NamedTuple):
    """One trunk block's forward values: conv output `z`, pooled `p`, `route` (1 at each 2x2
    window's argmax, as max-pool's backward routes), BatchNorm output `u`, ReLU output `y`."""

    z: torch.Tensor
    p: torch.Tensor
    route: torch.Tensor
    u: torch.Tensor
    y: torch.Tensor


def blocks_of(model: models.CNN) -> list[tuple]:
    return [(model.conv1, model.bn1), (model.conv2, model.bn2), (model.conv3, model.bn3)]


def trunk(model: models.CNN, grid: torch.Tensor) -> list[Block]:
    """The trunk's forward values for grids (rows x 1 x side x side)."""
    out, h = [], grid
    for conv, bn in blocks_of(model):
        z = conv(h)
        p, idx = F.max_pool2d(z, 2, return_indices=True)
        route = torch.zeros_like(z).flatten(2).scatter_(2, idx.flatten(2), 1.0).view_as(z)
        u = bn(p)
        h = F.relu(u)
        out.append(Block(z, p, route, u, h))
    return out


def affine(bn) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) of an eval-mode BatchNorm, per channel."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def up(values: torch.Tensor) -> torch.Tensor:
    """Each value repeated over its 2x2 pooling window (last two dimensions)."""
    *lead, h, w = values.shape
    return values[..., None, :, None].expand(*lead, h, 2, w, 2).reshape(*lead, 2 * h, 2 * w)


def relu_rule(grads, ins, outs, rule: str, scale=1.0):
    """Backward through a ReLU, per half, then times `scale` (the preceding BatchNorm's):
    `ins`/`outs` are its input/output (one half, or the input's and the reference's for
    DeepLift). Factors are formed at the forward's size, then applied to the repeats."""
    if rule == "gradient":
        return [grads[0] * ((ins[0] > 0) * scale)]
    if rule == "guided":
        return [(grads[0] * (ins[0] > 0)).clamp_(min=0) * scale]
    delta_in, delta_out = ins[0] - ins[1], outs[0] - outs[1]
    small = delta_in.abs() < EPS
    ratio = delta_out / torch.where(small, 1, delta_in) * scale
    return [g * torch.where(small, (i > 0) * scale, ratio) for g, i in zip(grads, ins, strict=True)]


def pool_rule(grads, blocks, rule: str):
    """Backward through the 2x2 max-pool: routing to the argmax, or Captum's DeepLift rule
    (which falls back to the routed gradient where the input and reference agree)."""
    routed = [up(g) * b.route for g, b in zip(grads, blocks, strict=True)]
    if rule != "deeplift":
        return routed
    (gx, gr), (bx, br) = grads, blocks
    top = torch.maximum(bx.p, br.p)
    spread = up(gx * (top - br.p)) * bx.route + up(gr * (bx.p - top)) * br.route
    delta_in = bx.z - br.z
    small = delta_in.abs() < EPS
    spread = spread / torch.where(small, 1, delta_in)
    return [torch.where(small, r, spread) for r in routed]


def backward(model, fronts: list[list[Block]], grads: list, rule: str, last=False, fold=None):
    """Gradients at the trunk's input (repeats x rows x 1 x side x side) from gradients at its
    output (repeats x rows x ...; forward values broadcast over repeats), one list entry per
    half. With `last`, stop at the last convolution's output instead. `fold` reduces the
    gradient before the first convolution's (linear) backward step, e.g. IG's sum over steps.

    A convolution's backward step is the convolution with the kernel flipped and its channels
    swapped, in channels-last layout (several times faster on a CPU than autograd's step when
    the input has one channel).
    """
    stages = list(zip(blocks_of(model), zip(*fronts, strict=True), strict=True))
    for (conv, bn), halves in reversed(stages):
        scale = affine(bn)[0][:, None, None]
        grads = relu_rule(grads, [b.u for b in halves], [b.y for b in halves], rule, scale)
        grads = pool_rule(grads, halves, rule)
        if last:
            return grads[0]
        if fold is not None and conv is model.conv1:
            grads = [fold(g) for g in grads]
        flipped = conv.weight.transpose(0, 1).flip(-1, -2)
        pad = conv.kernel_size[0] // 2
        grads = [
            F.conv2d(g.flatten(0, 1).contiguous(memory_format=torch.channels_last), flipped,
                     padding=pad).unflatten(0, g.shape[:2])
            for g in grads
        ]  # fmt: skip
    return grads[0]


def head(model, outs: list[torch.Tensor], masks, target, rule: str) -> list[torch.Tensor]:
    """Gradients of the target logits at the trunk's output, per half, for repeats x rows with
    their dropout masks: mask -> global average pooling -> BatchNorm -> ReLU -> output layer."""
    scale, shift = affine(model.bn4)
    v = [(masks * t).mean((-2, -1)) * scale + shift for t in outs]
    grads = relu_rule([model.out.weight[target]] * len(outs), v, [F.relu(h) for h in v], rule)
    area = masks.shape[-1] * masks.shape[-2]
    return [masks * (g * scale)[..., None, None] / area for g in grads]


def grad_cam_weights(g: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Grad-CAM's channel weights (Captum's LayerGradCam): the mean gradient over positions."""
    return g.mean(dim=(-2, -1), keepdim=True)


def grad_cam_plus_plus_weights(g: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++'s channel weights: sum over positions of alpha * relu(g), with
    alpha = g^2 / (2 g^2 + sum(A) g^3), 0 where that denominator is 0."""
    denominator = 2 * g**2 + a.sum(dim=(-2, -1), keepdim=True) * g**3
    nonzero = denominator != 0
    alpha = torch.where(nonzero, g**2 / torch.where(nonzero, denominator, 1.0), 0.0)
    return (alpha * F.relu(g)).sum(dim=(-2, -1), keepdim=True)


CAM_WEIGHTS = {"grad-cam": grad_cam_weights, "grad-cam++": grad_cam_plus_plus_weights}


def grad_cams(model, front: list[Block], masks, target, variant: str) -> torch.Tensor:
    """A Grad-CAM variant on the last convolution (`CAM_WEIGHTS`), ReLU'd and upsampled."""
    upstream = head(model, [front[-1].y], masks, target, "gradient")
    g, a = backward(model, [front], upstream, "gradient", last=True), front[-1].z
    cam = F.relu((CAM_WEIGHTS[variant](g, a) * a).sum(dim=-3, keepdim=True))
    size = (model.side, model.side)
    return F.interpolate(cam.flatten(0, 1), size=size, mode="nearest").view(*cam.shape[:3], *size)


class Item(NamedTuple):
    """One estimate to compute: the repeat's mask, the trunk inputs it shares (by `key`), the
    explained grids and references, and how many equal estimates it stands for."""

    key: object
    points: tuple  # (input rows,) or (input rows, reference rows): grids
    mask: torch.Tensor
    grid: torch.Tensor  # the explained samples' grids (samples x 1 x side x side)
    base: torch.Tensor | None  # their references, as rows of `points` are laid out
    target: torch.Tensor  # per row of `points`
    times: int


def item(model, task, mask, grid, estimate, path) -> Item:
    """The Item of one estimate of a copy whose grids are `grid`."""
    key = "x" if estimate.fixed else None  # the same trunk inputs in every repeat
    if estimate.chosen is None:
        return Item(key, (grid,), mask, grid, None, task.target, estimate.times)
    picked = torch.as_tensor(task.pools.rows(estimate.chosen))  # samples x K' x genes
    k = picked.shape[1]
    base = model.prepare(picked.reshape(-1, picked.shape[-1]))
    inputs, target = grid.repeat_interleave(k, 0), task.target.repeat_interleave(k)
    if path is None:
        return Item(key, (inputs, base), mask, grid, base, target, estimate.times)
    points = torch.cat([base + a * (inputs - base) for a in path[1]])  # IG's path, step by step
    return Item(key, (points,), mask, grid, base, target.repeat(len(path[1])), estimate.times)


@torch.no_grad()
def estimates(model: models.CNN, task, repeats):
    """One replicate of a CNN (the `txai.backend.Backend` interface): the same estimates as
    the Captum backend.

    Items (one per estimate) are collected until CHUNK_VALUES; then the distinct trunk inputs
    go forward once and all items' rows go backward in one batch.
    """
    per_row = model.conv1.out_channels * model.side**2
    path = None
    if task.explainer.path:
        step_sizes, alphas = approximation_parameters("gausslegendre")
        path = (torch.tensor(step_sizes(task.ig_steps)), torch.tensor(alphas(task.ig_steps)))
    items, cache = [], {}
    for repeat in repeats:
        for copy in repeat.copies:
            grid = model.prepare(copy.inputs)
            items += [item(model, task, repeat.masks[0], grid, e, path) for e in copy.estimates]
        if sum(len(item.points[0]) for item in items) * per_row >= CHUNK_VALUES:
            yield from _chunk(model, task, items, path, cache)
            items = []
    yield from _chunk(model, task, items, path, cache)


def _chunk(model, task, items: list[Item], path, cache: dict):
    """(estimate, times) of collected items, in order.

    Items that share their trunk inputs (one key) go forward once, their gradients laid out
    repeats x rows; otherwise the items' inputs go forward together, laid out 1 x all rows.
    """
    if not items:
        return
    explainer = task.explainer
    shared = items[0].key is not None and all(item.key == items[0].key for item in items)
    if shared:
        if items[0].key not in cache:  # later chunks of the same inputs reuse the forward
            cache.clear()
            cache[items[0].key] = [trunk(model, points) for points in items[0].points]
        fronts = cache[items[0].key]
        masks = torch.stack([item.mask for item in items])[:, None]
        target = items[0].target
    else:
        halves = range(len(items[0].points))
        fronts = [trunk(model, torch.cat([i.points[h] for i in items])) for h in halves]
        masks = torch.cat([i.mask.expand(len(i.target), -1, -1, -1) for i in items])[None]
        target = torch.cat([item.target for item in items])
    upstream = head(model, [front[-1].y for front in fronts], masks, target, explainer.rule)
    fold = None
    if path is not None:  # IG: the step-weighted sum over the path, before the linear conv1
        steps, n = len(path[0]), len(items[0].grid)
        weights = path[0].to(masks.dtype).view(1, 1, -1, 1, 1, 1, 1)

        def fold(g):
            return (g.unflatten(1, (-1, steps, n)) * weights).sum(2).flatten(1, 2)

    grads = backward(model, fronts, upstream, explainer.rule, fold=fold)
    if explainer.cam is not None:
        grads = grads * grad_cams(model, fronts[0], masks, target, explainer.cam)
    start = 0
    for number, item in enumerate(items):
        size = len(item.target) // (1 if path is None else len(path[0]))  # rows after `fold`
        if shared:
            grad = grads[number]
        else:
            grad = grads[0, start : start + size]
            start += size
        n = len(item.grid)
        if explainer.path:
            attr = grad * (item.grid - item.base)
        elif explainer.references:  # the mean over the estimate's references
            attr = grad * (item.points[0] - item.base)
            attr = attr.view(n, -1, *attr.shape[1:]).mean(1)
        elif explainer.multiplies_by_inputs:
            attr = grad * item.grid
        elif explainer.absolute and not task.signed:
            attr = grad.abs()
        else:
            attr = grad
        yield model.genes(attr), item.times
