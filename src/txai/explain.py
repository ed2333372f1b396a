"""Gene contribution scores: eight explainers through Captum, composed with the paper's settings.

PAPER-DIGEST.md sections 3-4 and PITFALLS.md decide what is computed here:
- dropout stays on while explaining (BatchNorm in eval mode): each repeat draws one dropout mask,
  shared by every row of its explainer calls (the inputs and all their baselines), so
  completeness holds within a repeat;
- an estimate is one explainer call for one (repeat, reference, noisy copy); DeepLiftShap takes
  its K references in one call. R repeats x K references give R x K estimates;
- score = mean over estimates of |attribution| (`abs_then_mean`) or |mean| (`mean_then_abs`);
- the target is the sample's true class (or the predicted one, by config);
- CNN attributions are computed on the grid and mapped back to genes, padding dropped.
Strategies (repeats, references, SmoothGrad) wrap any explainer: one loop serves all eight.
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from captum._utils.gradient import compute_layer_gradients_and_eval
from captum.attr import (
    DeepLift,
    DeepLiftShap,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    Saliency,
)
from torch import nn
from tqdm import tqdm

from txai import io
from txai.config import setting_for
from txai.train import load_model

log = logging.getLogger(__name__)


class SharedDropout(nn.Module):
    """Dropout with one mask per repeat, shared by every row of the batch.

    Captum runs an input and its baselines as one batch; with ordinary dropout every row would
    get its own mask and completeness would break (PITFALLS.md 1). `draw()` picks the mask of
    the next repeat; without one the module is the identity.
    """

    def __init__(self, p: float, shape: tuple[int, ...]):
        super().__init__()
        self.p, self.shape = p, shape
        self.mask: torch.Tensor | None = None

    def draw(self, generator: torch.Generator) -> None:
        self.mask = dropout_mask(self.shape, self.p, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mask is None else x * self.mask.to(x.device, x.dtype)


def dropout_mask(shape: tuple[int, ...], p: float, generator: torch.Generator) -> torch.Tensor:
    """Inverted dropout's mask: 0 with probability p, else 1 / (1 - p)."""
    return (torch.rand(shape, generator=generator) >= p) / (1 - p)


def n_genes(model: nn.Module) -> int:
    return model.order.numel() if hasattr(model, "order") else model.hidden.in_features


def explainable(model: nn.Module) -> nn.Module:
    """A copy of `model` in eval mode with each Dropout replaced by a `SharedDropout`."""
    model = copy.deepcopy(model).eval()
    shapes = {}
    hooks = [
        child.register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, o.shape))
        for name, child in model.named_children()
        if isinstance(child, nn.Dropout)
    ]
    with torch.no_grad():
        model(model.prepare(torch.zeros(1, n_genes(model))))
    for hook in hooks:
        hook.remove()
    for name, shape in shapes.items():
        setattr(model, name, SharedDropout(getattr(model, name).p, tuple(shape[1:])))
    return model


def draw_masks(model: nn.Module, generator: torch.Generator) -> None:
    """Start a new repeat: every SharedDropout draws a new mask."""
    for module in model.modules():
        if isinstance(module, SharedDropout):
            module.draw(generator)


def grad_cam_plus_plus(model: nn.Module, grid: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ on the last convolution, ReLU'd and upsampled to the grid (samples x 1 x S x S).

    alpha = g^2 / (2 g^2 + sum(A) g^3) (0 where that denominator is 0),
    w = sum over positions of alpha * relu(g),
    cam = relu(sum over channels of w * A), with g the gradient of the target logit and A the
    layer's activations (Chattopadhay et al. 2018, as the paper's authors used it).
    """
    grads, acts = compute_layer_gradients_and_eval(model, model.conv3, grid, target_ind=target)
    g, a = grads[0], acts[0]
    denominator = 2 * g**2 + a.sum(dim=(2, 3), keepdim=True) * g**3
    nonzero = denominator != 0  # alpha = 0 there (not g^2, as dividing by 1 would give)
    alpha = torch.where(nonzero, g**2 / torch.where(nonzero, denominator, 1.0), 0.0)
    weights = (alpha * F.relu(g)).sum(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * a).sum(dim=1, keepdim=True))
    return LayerAttribution.interpolate(cam, grid.shape[2:])


def attribute(
    name: str,
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    baselines: torch.Tensor | None = None,
    ig_steps: int = 50,
    signed: bool = False,
) -> torch.Tensor:
    """One explainer call on the model's own inputs (gene vectors or grids); same shape out.

    `signed` keeps Saliency's sign (Captum takes |gradient| by default).
    """
    inputs = inputs.detach().requires_grad_()
    if name == "Saliency":
        return Saliency(model).attribute(inputs, target=target, abs=not signed)
    if name == "InputXGradient":
        return InputXGradient(model).attribute(inputs, target=target)
    if name == "GuidedBackprop":
        return GuidedBackprop(model).attribute(inputs, target=target)
    if name == "IntegratedGradients":
        return IntegratedGradients(model).attribute(
            inputs, baselines=baselines, target=target, n_steps=ig_steps,
            internal_batch_size=max(len(inputs), 256 // len(inputs) * len(inputs)),
        )  # fmt: skip
    # DeepLiftShap with a single baseline is DeepLift (Captum refuses a one-row distribution).
    if name == "DeepLift" or (name == "DeepLiftShap" and len(baselines) == 1):
        return DeepLift(model).attribute(inputs, baselines=baselines, target=target)
    if name == "DeepLiftShap":
        return DeepLiftShap(model).attribute(inputs, baselines=baselines, target=target)
    if name == "GuidedGradCam":
        return GuidedGradCam(model, model.conv3).attribute(inputs, target=target)
    if name == "GuidedGradCamPlusPlus":
        guided = GuidedBackprop(model).attribute(inputs, target=target)
        return guided * grad_cam_plus_plus(model, inputs.detach(), target)
    raise ValueError(f"unknown explainer {name!r}")


def estimates(
    model: nn.Module,
    explainer: str,
    x: torch.Tensor,
    target: torch.Tensor,
    setting: dict,
    pools: Pools | np.ndarray | None,
    seed_stream: np.random.Generator,
    ig_steps: int = 50,
    signed: bool = False,
):
    """Yield the estimates of one replicate: (estimate index, samples x genes attributions).

    `x`: samples x genes; `pools`: the samples' reference pools (`Pools`, or an array samples x
    pool x genes) or None.
    Each repeat draws one dropout mask for all samples and their baselines; each repeat draws
    its own K references per sample (DeepLiftShap: K baselines in one call, one sample a call).
    Where every reference is the same (the zero pool), the K estimates of a repeat are equal:
    one is computed and yielded K times (DeepLiftShap over K equal baselines is DeepLift).
    """
    pools = as_pools(pools)
    same = pools is not None and bool((pools.values == pools.values[:, :1]).all())
    k = setting["references"]["count"] if "references" in setting else 1
    dropouts = [m for m in model.modules() if isinstance(m, SharedDropout)]
    specs = [(m.shape, m.p) for m in dropouts]
    index = 0
    for masks, chosen, copies in repeat_draws(x, setting, pools, seed_stream, specs):
        for module, mask in zip(dropouts, masks, strict=True):
            module.mask = mask
        for noisy in copies:
            inputs = model.prepare(noisy)
            if explainer == "DeepLiftShap" and not same:
                rows = []
                for i in range(len(x)):
                    base = model.prepare(torch.as_tensor(pools.rows(np.array([i]), chosen[i])))
                    rows.append(
                        attribute(explainer, model, inputs[i : i + 1], target[i : i + 1], base)
                    )
                yield index, to_genes(model, torch.cat(rows))
                index += 1
                continue
            name = "DeepLift" if explainer == "DeepLiftShap" else explainer
            for j in range(k):
                if j == 0 or not same:
                    base = None
                    if chosen is not None:
                        rows = pools.rows(np.arange(len(x)), chosen[:, j])
                        base = model.prepare(torch.as_tensor(rows))
                    out = to_genes(
                        model, attribute(name, model, inputs, target, base, ig_steps, signed)
                    )
                yield index, out
                index += 1
                if explainer == "DeepLiftShap":
                    break


def repeat_draws(x: torch.Tensor, setting: dict, pools, seed_stream, specs):
    """The random draws of one replicate, repeat by repeat: (dropout masks, the K references
    chosen per sample (samples x K) or None, the SmoothGrad copies of `x`).

    `specs`: (shape, p) of each dropout module. The Captum path and the fast path both draw
    through here, so they see the same masks, references and noise.
    """
    generator = torch.Generator().manual_seed(int(seed_stream.integers(2**63)))
    smooth = setting.get("smoothgrad", {})
    k = setting["references"]["count"] if "references" in setting else 0
    for _ in range(setting.get("repeats", 1)):
        masks = [dropout_mask(shape, p, generator) for shape, p in specs]
        chosen = None
        if k:
            size = pools.values.shape[1]
            chosen = np.stack([seed_stream.choice(size, k, replace=k > size) for _ in x])
        copies = [
            x + smooth["sd"] * torch.randn(x.shape, generator=generator) if smooth.get("sd") else x
            for _ in range(smooth.get("copies", 1))
        ]
        yield masks, chosen, copies


def to_genes(model: nn.Module, attributions: torch.Tensor) -> torch.Tensor:
    """Attributions on the model's inputs -> samples x genes (the CNN's grid mapped back)."""
    return model.genes(attributions) if hasattr(model, "genes") else attributions


def explain_model(
    model: nn.Module,
    explainer: str,
    x: np.ndarray,
    target: np.ndarray,
    setting: dict,
    pools: Pools | np.ndarray | None,
    seed_stream: np.random.Generator,
    replicates: int = 1,
    score: str = "abs_then_mean",
    keep_estimates: bool = False,
    ig_steps: int = 50,
    use_fast: bool = True,
) -> list[tuple[int, int | None, np.ndarray]]:
    """Explain samples with one model: (replicate, estimate or None, samples x genes) blocks.

    Without `keep_estimates` each replicate gives one block of scores; with it, one block of
    signed attributions per estimate (the simulation curves subsample them). `use_fast` takes
    the exact rewritten paths (`txai.fast` for the MLP, `txai.fast_cnn` for the CNN), Captum's
    otherwise.
    """
    from txai import fast, fast_cnn  # the fast paths build on this module's draws

    if use_fast and fast.applies(model, explainer):
        net, source = model, fast.estimates
    elif use_fast and fast_cnn.applies(model, explainer):
        net, source = model, fast_cnn.estimates
    else:
        net, source = explainable(model), estimates
    xt = torch.as_tensor(x, dtype=torch.float32)
    tt = torch.tensor(target, dtype=torch.long)
    signed = keep_estimates or score == "mean_then_abs"
    blocks = []
    for replicate in range(replicates):
        total, count = torch.zeros_like(xt), 0
        for index, attr in source(
            net, explainer, xt, tt, setting, pools, seed_stream, ig_steps, signed
        ):
            attr = attr.detach()
            if keep_estimates:
                blocks.append((replicate, index, attr.numpy()))
            total += attr.abs() if score == "abs_then_mean" else attr
            count += 1
        if not keep_estimates:
            blocks.append((replicate, None, (total / count).abs().numpy()))
    return blocks


class Pools(NamedTuple):
    """Reference pools without a copy per sample: `values` (groups x pool x genes) and the group
    of each explained sample (one group for a shared pool, one per class for `specific`)."""

    values: np.ndarray
    group: np.ndarray

    def rows(self, samples: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        """References `chosen` (per sample) from each sample's own pool."""
        return self.values[self.group[samples], chosen]


def as_pools(pools) -> Pools | None:
    """Pools as given, or a samples x pool x genes array read as one group per sample."""
    if pools is None or isinstance(pools, Pools):
        return pools
    return Pools(np.asarray(pools), np.arange(len(pools)))


def sample_pools(
    references: dict[str, pd.DataFrame], kind: str, classes: list[str], genes: list[str]
) -> Pools:
    """The reference pools of the explained samples: their class's for `specific`, the shared
    pool otherwise."""
    pool = references[kind]
    if kind != "specific":
        return Pools(pool[genes].to_numpy(np.float32)[None], np.zeros(len(classes), dtype=int))
    names = sorted(set(classes))
    by_class = {c: g[genes].to_numpy(np.float32) for c, g in pool.groupby("class")}
    group = np.array([names.index(c) for c in classes])
    return Pools(np.stack([by_class[c] for c in names]), group)


def run(
    *,
    expression,
    samples,
    models: list,
    references: dict,
    arch: str,
    explainer: str,
    setting_name: str,
    setting: dict,
    explain_config: dict,
    seed: int,
    outputs: list,
) -> None:
    """Explain the configured samples with each model; one Parquet file per model."""
    warnings.filterwarnings("ignore", category=UserWarning, module=r"captum\.")
    sample_ids, genes, x = io.read_expression(expression)
    sheet = io.read_table(samples).set_index("sample").loc[sample_ids].reset_index()
    spec = {**explain_config["samples"], **setting.get("samples", {})}
    chosen = explained_samples(sheet, spec, explain_config["focus_tissues"], seed)
    x, sheet = x[chosen], sheet.iloc[chosen].reset_index(drop=True)
    strategy = setting_for(setting, explainer)
    pools = None
    if "references" in strategy:
        kind = strategy["references"]["type"]
        frames = {kind: io.read_table(references[kind])}
        pools = sample_pools(frames, kind, sheet["class"].tolist(), genes)
    for path in tqdm(models, desc=f"{arch} {explainer} {setting_name}", unit="model", disable=None):
        model = load_model(path, genes)
        name = Path(path).parent.name
        target = sheet["class_index"].to_numpy().copy()
        if explain_config["target"] == "predicted":
            with torch.no_grad():
                target = model(model.prepare(torch.as_tensor(x))).argmax(1).numpy()
        stream = io.rng(seed, "explain", arch, explainer, setting_name, name)
        replicates = setting.get("replicates", explain_config["replicates"])
        blocks = explain_model(
            model, explainer, x, target, strategy, pools, stream,
            replicates=replicates if name in explain_config["replicate_models"] else 1,
            score=explain_config["score"],
            keep_estimates=setting.get("keep_estimates", False),
            ig_steps=explain_config["ig_steps"],
            use_fast=explain_config.get("fast", True),
        )  # fmt: skip
        top = explain_config["top_k"] if setting.get("store") == "top" else None
        out = outputs[models.index(path)]
        write_attributions(blocks, sheet["sample"].tolist(), genes, out, top)
        log.info("%s %s %s %s: %d blocks", arch, explainer, setting_name, name, len(blocks))


def write_attributions(
    blocks, samples: list[str], genes: list[str], path, top: int | None = None
) -> None:
    """`attributions/...parquet`: sample, replicate, [estimate], one float32 column per gene.

    With `top` (large sample sets), only each sample's `top` genes are kept, in long form:
    sample, replicate, rank, gene, score (ties broken by gene order).
    """
    frames = []
    for replicate, estimate, values in blocks:
        if top is not None:
            order = np.argsort(-values, axis=1, kind="stable")[:, :top]
            frame = pd.DataFrame(
                {"rank": np.tile(np.arange(1, order.shape[1] + 1), len(samples)),
                 "gene": np.asarray(genes)[order].ravel(),
                 "score": np.take_along_axis(values, order, axis=1).ravel().astype(np.float32)}
            )  # fmt: skip
            frame.insert(0, "replicate", replicate)
            frame.insert(0, "sample", np.repeat(samples, order.shape[1]))
            frames.append(frame)
            continue
        frame = pd.DataFrame(values.astype(np.float32), columns=genes)
        if estimate is not None:
            frame.insert(0, "estimate", estimate)
        frame.insert(0, "replicate", replicate)
        frame.insert(0, "sample", samples)
        frames.append(frame)
    io.write_table(pd.concat(frames, ignore_index=True), path)


def explained_samples(sheet: pd.DataFrame, spec: dict, focus_tissues: list[str], seed: int):
    """Row indices of the explained samples, in table order.

    `spec`: `split` (test, train or all), `tissues` (focus: the focus tissues' classes; all),
    `status` (normal, cancer or any), `per_class` (at most this many a class, seeded choice).
    """
    mask = pd.Series(True, index=sheet.index)
    if spec.get("tissues", "focus") == "focus":
        mask &= sheet["tissue"].isin(focus_tissues)
    if spec.get("split", "test") != "all":
        mask &= sheet["split"] == spec.get("split", "test")
    if spec.get("status", "any") != "any":
        mask &= sheet["status"] == spec["status"]
    r = io.rng(seed, "explained samples")
    chosen = []
    for _, group in sheet[mask].groupby("class", sort=True):
        idx = group.index.to_numpy()
        limit = spec.get("per_class")
        chosen += list(r.choice(idx, limit, replace=False) if limit and limit < idx.size else idx)
    return np.sort(np.array(chosen, dtype=np.int64))
