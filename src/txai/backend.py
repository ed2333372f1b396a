"""The interface every attribution backend implements.

A backend is a module with two functions: `serves(model, explainer)` says whether it computes
that explainer on that model, and `estimates(model, task, repeats)` computes one replicate from
the draws of `txai.draws`. Three modules implement it: `txai.captum_backend` (Captum's methods,
the reference, for every explainer of a model), `txai.fast` (the MLP's explainers as matrix
products) and `txai.fast_cnn` (the CNN's, its trunk shared by the repeats). `txai.explain` takes
the first that serves a model and explainer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple, Protocol

import torch
from torch import nn

from txai.budget import DEFAULT_MEMORY_MB
from txai.draws import Pools, Repeat
from txai.explainers import Explainer


class Task(NamedTuple):
    """What a replicate explains: `x` (samples x genes, on the model's device) for their
    `target` classes, with the samples' reference `pools` (or None), IntegratedGradients'
    `ig_steps`, `signed` to keep the sign of an explainer that is otherwise absolute, and the
    working memory a batch may hold (`memory_mb`: the fast paths take fewer samples, items or
    steps at a time to stay within it)."""

    explainer: Explainer
    x: torch.Tensor
    target: torch.Tensor
    pools: Pools | None = None
    ig_steps: int = 50
    signed: bool = False
    memory_mb: float = DEFAULT_MEMORY_MB["cpu"]


class Backend(Protocol):
    def serves(self, model: nn.Module, explainer: Explainer) -> bool:
        """Whether this backend computes `explainer` on `model`."""

    def estimates(
        self, model: nn.Module, task: Task, repeats: Iterable[Repeat]
    ) -> Iterator[tuple[torch.Tensor, int]]:
        """(samples x genes attributions, times) for each estimate of the repeats' copies, in
        order; `times` is the estimate's own (`draws.Estimate.times`)."""
