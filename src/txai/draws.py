"""The random draws of attribution, in one place (PAPER-DIGEST.md section 4, PITFALLS.md 1).

A replicate is `repeats` passes with dropout on. Each repeat draws one dropout mask (shared by
every sample and all their references, so completeness holds within a repeat), its own K
references per sample from the sample's pool, and its SmoothGrad copies of the input. Every
backend explains from these draws, so the Captum backend and the fast paths see the same masks,
references and noise and can be compared bit for bit.

An estimate is one explainer call for one (repeat, copy, reference); an explainer that averages
its references takes all K in one estimate. Where every reference is the same (the zero pool),
the K estimates of a copy are equal: one is computed and counted K times.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn

from txai import io
from txai.explainers import Explainer


class Pools(NamedTuple):
    """Reference pools without a copy per sample: `values` (groups x pool x genes, float32) and
    the group of each explained sample (one group for a shared pool, one per class for
    `specific`), as tensors on the job's device."""

    values: torch.Tensor
    group: torch.Tensor

    def rows(self, chosen: np.ndarray, samples: slice = slice(None)) -> torch.Tensor:
        """References `chosen` (samples x K) from each sample's own pool: samples x K x genes
        (`chosen` for the explained samples `samples` only: their rows)."""
        index = torch.as_tensor(chosen, device=self.values.device)
        return self.values[self.group[samples, None], index]

    def to(self, device) -> Pools:
        return Pools(self.values.to(device), self.group.to(device))


def as_pools(pools) -> Pools | None:
    """Pools as given, or a samples x pool x genes array read as one group per sample."""
    if pools is None or isinstance(pools, Pools):
        return pools
    return Pools(torch.as_tensor(np.asarray(pools)), torch.arange(len(pools)))


def sample_pools(path, kind: str, classes: list[str], genes: list[str]) -> Pools:
    """The reference pools of the explained samples (of `classes`) from a pool file: the shared
    pool, or for `specific` the pools of their classes alone, read without the others and
    without a copy per class (on the CPU: `Pools.to` moves them)."""
    names = sorted(set(classes))
    pool = io.read_wide(path, where={"class": names} if kind == "specific" else None)
    order = pd.Index(pool.genes).get_indexer(genes)
    values = pool.values if (order == np.arange(len(pool.genes))).all() else pool.values[:, order]
    if kind != "specific":
        return Pools(torch.as_tensor(values[None]), torch.zeros(len(classes), dtype=torch.long))
    labels = pool.labels["class"].tolist()
    size = len(labels) // len(names)
    if labels != [c for c in names for _ in range(size)]:
        raise ValueError(f"{path}: not a pool of {size} rows for each of the classes {names}")
    group = torch.as_tensor([names.index(c) for c in classes])
    return Pools(torch.as_tensor(values).reshape(len(names), size, len(genes)), group)


def dropout_mask(shape: tuple[int, ...], p: float, generator: torch.Generator) -> torch.Tensor:
    """Inverted dropout's mask: 0 with probability p, else 1 / (1 - p)."""
    return (torch.rand(shape, generator=generator) >= p) / (1 - p)


class Dropout(NamedTuple):
    """A Dropout module of a model: its name, one sample's mask shape and its probability."""

    name: str
    shape: tuple[int, ...]
    p: float


def dropouts(model: nn.Module) -> list[Dropout]:
    """The model's Dropout modules in registration order, their shapes from one forward pass of
    a zero sample (in eval mode; the model's own mode is left as it was)."""
    shapes = {}
    hooks = [
        module.register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, o.shape))
        for name, module in model.named_modules()
        if isinstance(module, nn.Dropout)
    ]
    training = model.training
    with torch.no_grad():
        model.eval()(model.prepare(torch.zeros(1, model.n_genes)))
    model.train(training)
    for hook in hooks:
        hook.remove()
    return [
        Dropout(name, tuple(shapes[name][1:]), module.p)
        for name, module in model.named_modules()
        if isinstance(module, nn.Dropout)
    ]


class Estimate(NamedTuple):
    """One estimate of a copy: `chosen`, the references it uses (samples x K' rows of each
    sample's pool, `Pools.rows`: K' = 1, or K for an explainer that averages them; None without
    references), how many equal estimates it stands for (`times`), and whether its inputs and
    references are the same in every repeat (`fixed`: x itself with no references or equal
    ones, so forward values can be reused)."""

    chosen: np.ndarray | None
    times: int
    fixed: bool


class Copy(NamedTuple):
    """The rows a repeat explains (x, or a SmoothGrad copy: samples x genes) and its estimates."""

    inputs: torch.Tensor
    estimates: list[Estimate]


class Repeat(NamedTuple):
    """One repeat: a dropout mask per Dropout module (shared by every row) and its copies."""

    masks: list[torch.Tensor]
    copies: list[Copy]


def estimates_of(
    explainer: Explainer, chosen: np.ndarray | None, same: bool, fixed_input: bool
) -> list[Estimate]:
    """The estimates of one copy from the K references chosen per sample (samples x K)."""
    if chosen is None:
        return [Estimate(None, 1, fixed_input)]
    if same:  # K equal references: one estimate (over one reference when they are averaged)
        times = 1 if explainer.averages_references else chosen.shape[1]
        return [Estimate(chosen[:, :1], times, fixed_input)]
    if explainer.averages_references:
        return [Estimate(chosen, 1, False)]
    return [Estimate(chosen[:, j : j + 1], 1, False) for j in range(chosen.shape[1])]


def repeats(
    x: torch.Tensor,
    setting: dict,
    explainer: Explainer,
    pools: Pools | None,
    seed_stream: np.random.Generator,
    dropout: list[Dropout],
) -> Iterator[Repeat]:
    """The draws of one replicate, repeat by repeat, for samples `x` (samples x genes).

    `setting`: the explainer's strategy (`config.setting_for`): repeats, references (type and
    count K), smoothgrad (copies and noise sd). Dropout masks and noise come from a generator
    seeded from `seed_stream`, references from `seed_stream` itself, all on the CPU whatever
    the device of `x`, so every device sees the same draws (the backends move the masks).
    """
    generator = torch.Generator().manual_seed(int(seed_stream.integers(2**63)))
    smooth = setting.get("smoothgrad", {})
    k = setting["references"]["count"] if "references" in setting else 0
    same = bool(k) and bool((pools.values == pools.values[:, :1]).all())
    for _ in range(setting.get("repeats", 1)):
        drawn = [dropout_mask(d.shape, d.p, generator) for d in dropout]
        chosen = None
        if k:
            size = pools.values.shape[1]
            chosen = np.stack([seed_stream.choice(size, k, replace=k > size) for _ in x])
        copies = [  # noise drawn on the CPU, like the masks: the same on every device
            x + (smooth["sd"] * torch.randn(x.shape, generator=generator)).to(x.device)
            if smooth.get("sd")
            else x
            for _ in range(smooth.get("copies", 1))
        ]
        yield Repeat(
            drawn, [Copy(c, estimates_of(explainer, chosen, same, c is x)) for c in copies]
        )
