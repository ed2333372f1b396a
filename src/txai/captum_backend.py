"""The reference backend: every explainer of a model through Captum's methods, one call per
estimate (DeepLiftShap over K references: one call per sample).

The model is copied with its Dropout modules replaced by `SharedDropout`, which multiplies every
row of a call (the inputs and all their baselines) by the repeat's one mask, so completeness
holds per repeat (PITFALLS.md 1); BatchNorm stays in eval mode (PITFALLS.md 2). Grad-CAM++ is not
in Captum: `grad_cam_plus_plus` writes the published formula out on Captum's layer gradients.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from captum._utils.gradient import compute_layer_gradients_and_eval
from captum.attr import (
    DeepLift,
    DeepLiftShap,
    GuidedBackprop,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    Saliency,
)
from torch import nn

from txai import models
from txai.draws import dropouts
from txai.explainers import Explainer


class SharedDropout(nn.Module):
    """Dropout with one mask per repeat, shared by every row of the batch (`mask`: one sample's
    shape); without a mask the module is the identity."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mask is None else x * self.mask.to(x.device, x.dtype)


def explainable(model: nn.Module) -> nn.Module:
    """A copy of `model` in eval mode with each Dropout replaced by a `SharedDropout`."""
    model = copy.deepcopy(model).eval()
    for dropout in dropouts(model):
        model.set_submodule(dropout.name, SharedDropout(dropout.p))
    return model


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


def grad_cam(model: nn.Module, grid: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Captum's Grad-CAM on the last convolution, ReLU'd and upsampled to the grid, as its
    GuidedGradCam multiplies it in."""
    cam = LayerGradCam(model, model.conv3).attribute(grid, target=target, relu_attributions=True)
    return LayerAttribution.interpolate(cam, grid.shape[2:])


CAMS = {"grad-cam": grad_cam, "grad-cam++": grad_cam_plus_plus}


def serves(model: nn.Module, explainer: Explainer) -> bool:
    """Every explainer of a model; Grad-CAM on the CNN (its last convolution)."""
    return explainer.model and (not explainer.convolutional or isinstance(model, models.CNN))


def attribute(
    explainer: Explainer,
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    baselines: torch.Tensor | None = None,
    ig_steps: int = 50,
    signed: bool = False,
) -> torch.Tensor:
    """One Captum call on the model's own inputs (gene vectors or grids); same shape out.

    The Captum method follows from the explainer's properties. An explainer that averages its
    references over a single baseline is DeepLift (Captum refuses a one-row distribution).
    """
    inputs = inputs.detach().requires_grad_()
    if explainer.path:
        return IntegratedGradients(model).attribute(
            inputs, baselines=baselines, target=target, n_steps=ig_steps,
            internal_batch_size=max(len(inputs), 256 // len(inputs) * len(inputs)),
        )  # fmt: skip
    if explainer.rule == "deeplift":
        method = DeepLiftShap if explainer.averages_references and len(baselines) > 1 else DeepLift
        return method(model).attribute(inputs, baselines=baselines, target=target)
    if explainer.rule == "guided":
        guided = GuidedBackprop(model).attribute(inputs, target=target)
        if explainer.cam is None:
            return guided
        return guided * CAMS[explainer.cam](model, inputs.detach(), target)
    if explainer.multiplies_by_inputs:
        return InputXGradient(model).attribute(inputs, target=target)
    return Saliency(model).attribute(inputs, target=target, abs=explainer.absolute and not signed)


def estimates(model: nn.Module, task, repeats):
    """One replicate through Captum (the `txai.backend.Backend` interface)."""
    net = explainable(model)
    shared = [m for m in net.modules() if isinstance(m, SharedDropout)]

    def call(inputs, target, baselines=None):
        return attribute(task.explainer, net, inputs, target, baselines, task.ig_steps, task.signed)

    for repeat in repeats:
        for module, mask in zip(shared, repeat.masks, strict=True):
            module.mask = mask.to(task.x.device)
        for copy_ in repeat.copies:
            inputs = net.prepare(copy_.inputs)
            for estimate in copy_.estimates:
                if estimate.chosen is None:
                    out = call(inputs, task.target)
                elif estimate.chosen.shape[1] == 1:
                    rows = task.pools.rows(estimate.chosen)[:, 0]
                    out = call(inputs, task.target, net.prepare(rows))
                else:  # K references averaged: one call per sample with its K baselines
                    rows = task.pools.rows(estimate.chosen)
                    out = torch.cat([
                        call(inputs[i : i + 1], task.target[i : i + 1], net.prepare(rows[i]))
                        for i in range(len(inputs))
                    ])  # fmt: skip
                yield net.genes(out), estimate.times
