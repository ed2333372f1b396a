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
from txai.budget import CHUNK_VALUES, cnn_row_bytes, rows_within
from txai.explainers import Explainer

EPS = 1e-10  # Captum's DeepLift threshold below which a rule falls back to the gradient


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


def row_bytes(model: models.CNN) -> int:
    """Bytes one trunk row of this model holds while it is explained (`budget.cnn_row_bytes`)."""
    channels = [conv.out_channels for conv in (model.conv1, model.conv2, model.conv3)]
    return cnn_row_bytes(channels, model.side)


class Item(NamedTuple):
    """One estimate to compute, or for IntegratedGradients one group of its path's steps: the
    trunk inputs it shares with other repeats (`key`), the repeat's mask, the copy's gene
    vectors (samples x genes), the references of each sample (`chosen`, samples x K', or None),
    the target per sample, how many equal estimates it stands for, its steps (indices into the
    path; None when there is no path) and whether it completes its estimate (`last`)."""

    key: object
    mask: torch.Tensor
    inputs: torch.Tensor
    chosen: object
    target: torch.Tensor
    times: int
    steps: range | None
    last: bool


def items_of(task, mask, inputs, estimate, path, rows_budget: int) -> list[Item]:
    """The items of one estimate: one, or IntegratedGradients' steps in groups of at most
    `rows_budget` trunk rows per sample."""
    key = "x" if estimate.fixed else None  # the same trunk inputs in every repeat
    if path is None:
        return [Item(key, mask, inputs, estimate.chosen, task.target, estimate.times, None, True)]
    per_group = max(1, rows_budget // estimate.chosen.shape[1])
    steps = range(len(path[0]))
    groups = [steps[i : i + per_group] for i in range(0, len(steps), per_group)]
    return [
        Item(key, mask, inputs, estimate.chosen, task.target, estimate.times, g, g is groups[-1])
        for g in groups
    ]


def trunk_rows(item: Item) -> int:
    """Trunk rows one sample of an item takes in one half: its references and path steps."""
    k = 1 if item.chosen is None else item.chosen.shape[1]
    return k * (1 if item.steps is None else len(item.steps))


def rows_per_sample(task, item: Item) -> int:
    """Trunk rows one sample of an item takes, both halves for DeepLift (it carries the
    input's and the reference's)."""
    return trunk_rows(item) * (2 if task.explainer.rule == "deeplift" else 1)


def cache_sized(device: torch.device) -> bool:
    """Whether batches are kept cache-sized (CHUNK_VALUES): on a CPU; a GPU takes what its
    memory budget allows."""
    return device.type == "cpu"


@torch.no_grad()
def estimates(model: models.CNN, task, repeats):
    """One replicate of a CNN (the `txai.backend.Backend` interface): the same estimates as
    the Captum backend.

    Items (one per estimate) are collected, on a CPU until CHUNK_VALUES (cache-sized batches
    are faster there), on a GPU until their SmoothGrad copies hold a quarter of the budget;
    then the distinct trunk inputs go forward once and the items' rows go backward in batches
    (repeats that share their trunk inputs share its forward values). Memory is bounded by
    `task.memory_mb`: a batch holds at most that many bytes of trunk rows (`row_bytes`), taking
    fewer items, fewer samples, or fewer of IntegratedGradients' steps at a time (the steps'
    parts of an estimate are then summed).
    """
    per_row = model.conv1.out_channels * model.side**2
    budget = task.memory_mb * 2**20
    rows_budget = rows_within(task.memory_mb, row_bytes(model))
    path = None
    if task.explainer.path:
        step_sizes, alphas = approximation_parameters("gausslegendre")
        path = tuple(
            torch.tensor(f(task.ig_steps), device=task.x.device) for f in (step_sizes, alphas)
        )
    items, cache = [], {}
    n, cpu = len(task.x), cache_sized(task.x.device)
    for repeat in repeats:
        mask = repeat.masks[0].to(task.x.device)
        for copy in repeat.copies:
            for estimate in copy.estimates:
                items += items_of(task, mask, copy.inputs, estimate, path, rows_budget)
        held = {id(item.inputs): item.inputs.nbytes for item in items}  # SmoothGrad's copies
        rows = sum(n * trunk_rows(item) for item in items)
        if (cpu and rows * per_row >= CHUNK_VALUES) or 4 * sum(held.values()) >= budget:
            yield from _chunk(model, task, items, path, cache, rows_budget)
            items = []
    yield from _chunk(model, task, items, path, cache, rows_budget)


def _groups(task, items: list[Item], rows_budget: int):
    """Consecutive items whose rows per sample fit `rows_budget` together and that share their
    path's steps (at least one item a group)."""
    group, rows = [], 0
    for item in items:
        size = rows_per_sample(task, item)
        if group and (rows + size > rows_budget or item.steps != group[0].steps):
            yield group
            group, rows = [], 0
        group.append(item)
        rows += size
    if group:
        yield group


def _chunk(model, task, items: list[Item], path, cache: dict, rows_budget: int):
    """(estimate, times) of collected items, in order: the items in groups that fit the
    budget, each group over slices of the samples that fit it, an estimate's parts summed (an
    estimate's items are collected together). The trunk's forward values of shared inputs are
    kept for later chunks when a group takes all samples at once."""
    n, partial = len(task.x), None
    for group in _groups(task, items, rows_budget):
        per_sample = sum(rows_per_sample(task, item) for item in group)
        size = n if per_sample * n <= rows_budget else max(1, rows_budget // per_sample)
        parts = [[] for _ in group]
        for lo in range(0, n, size):
            outs = _batch(
                model, task, group, slice(lo, lo + size), path, cache if size >= n else {}
            )
            for part, out in zip(parts, outs, strict=True):
                part.append(out)
        for item, part in zip(group, parts, strict=True):
            out = part[0] if len(part) == 1 else torch.cat(part)
            partial = out if partial is None else partial + out
            if item.last:
                yield partial, item.times
                partial = None


def _points(model, task, item: Item, rows: slice, path):
    """An item's rows for samples `rows`: their grids, reference grids (as the trunk rows are
    laid out), the trunk inputs (one tensor per half) and the target per trunk row."""
    grid = model.prepare(item.inputs[rows])
    if item.chosen is None:
        return grid, None, (grid,), item.target[rows]
    picked = task.pools.rows(item.chosen[rows], rows)  # samples x K' x genes
    k = picked.shape[1]
    base = model.prepare(picked.reshape(-1, picked.shape[-1]))
    inputs, target = grid.repeat_interleave(k, 0), item.target[rows].repeat_interleave(k)
    if item.steps is None:
        return grid, base, (inputs, base), target
    alphas = path[1][item.steps.start : item.steps.stop]
    points = torch.cat([base + a * (inputs - base) for a in alphas])  # the path, step by step
    return grid, base, (points,), target.repeat(len(alphas))


def _batch(model, task, items: list[Item], rows: slice, path, cache: dict) -> list:
    """The attributions (samples x genes) of items for the samples `rows`, in one batch.

    Items that share their trunk inputs (one key) go forward once, their gradients laid out
    repeats x rows; otherwise the items' inputs go forward together, laid out 1 x all rows.
    """
    explainer = task.explainer
    shared = items[0].key is not None and all(item.key == items[0].key for item in items)
    if shared:  # every item's inputs and references are equal: the first item's serve all
        grid, base, points, target = _points(model, task, items[0], rows, path)
        key = (items[0].key, items[0].steps)  # the same inputs at the same path steps
        if key not in cache:  # later chunks of the same inputs reuse the forward
            cache.clear()
            cache[key] = [trunk(model, half) for half in points]
        fronts = cache[key]
        masks = torch.stack([item.mask for item in items])[:, None]
        laid = [(grid, base, points)] * len(items)
    else:
        laid, targets = [], []
        for item in items:
            grid, base, points, target = _points(model, task, item, rows, path)
            laid.append((grid, base, points))
            targets.append(target)
        halves = range(len(laid[0][2]))
        fronts = [trunk(model, torch.cat([points[h] for _, _, points in laid])) for h in halves]
        masks = torch.cat([
            item.mask.expand(len(t), -1, -1, -1) for item, t in zip(items, targets, strict=True)
        ])[None]  # fmt: skip
        target = torch.cat(targets)
    upstream = head(model, [front[-1].y for front in fronts], masks, target, explainer.rule)
    fold = None
    if path is not None:  # IG: the step-weighted sum over the path, before the linear conv1
        steps, n = items[0].steps, len(laid[0][0])
        weights = path[0][steps.start : steps.stop].to(masks.dtype).view(1, 1, -1, 1, 1, 1, 1)

        def fold(g):
            return (g.unflatten(1, (-1, len(steps), n)) * weights).sum(2).flatten(1, 2)

    grads = backward(model, fronts, upstream, explainer.rule, fold=fold)
    if explainer.cam is not None:
        grads = grads * grad_cams(model, fronts[0], masks, target, explainer.cam)
    out, start = [], 0
    for number, (grid, base, points) in enumerate(laid):
        n = len(grid)
        size = n * (1 if base is None else len(base) // n)  # rows after `fold`
        if shared:
            grad = grads[number]
        else:
            grad = grads[0, start : start + size]
            start += size
        if explainer.path:
            attr = grad * (grid - base)
        elif explainer.references:  # the mean over the estimate's references
            attr = grad * (points[0] - base)
            attr = attr.view(n, -1, *attr.shape[1:]).mean(1)
        elif explainer.multiplies_by_inputs:
            attr = grad * grid
        elif explainer.absolute and not task.signed:
            attr = grad.abs()
        else:
            attr = grad
        out.append(model.genes(attr))
    return out
