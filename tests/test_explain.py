"""Tests for txai.explain: the explainers against Captum, completeness per repeat, dropout
repeats, Grad-CAM++, the estimate loop (repeats x references x noisy copies), the CNN's grid
mapped back to genes, and `run()` end to end (PAPER-DIGEST.md sections 3-4, PITFALLS.md 1-4, 9).

The reference for every comparison is a direct Captum call on a copy of the model in eval mode
whose Dropout multiplies by the very mask the explainable model drew (or does nothing).
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from captum.attr import (
    DeepLift,
    DeepLiftShap,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    Saliency,
)
from torch import nn
from torch.testing import assert_close

from txai import captum_backend, draws, explain, io, models, train
from txai.backend import Task
from txai.explainers import TABLE

N_GENES, N_CLASSES, N_SAMPLES = 30, 4, 5
GRADIENT_ONLY = ("Saliency", "InputXGradient", "GuidedBackprop")
BOTH = (*GRADIENT_ONLY, "IntegratedGradients", "DeepLift", "DeepLiftShap")
CASES = [("mlp", name) for name in BOTH] + [
    ("cnn", name) for name in (*BOTH, "GuidedGradCam", "GuidedGradCamPlusPlus")
]
TOL = {"atol": 1e-6, "rtol": 1e-5}
# Captum's notices (hooks set on ReLUs, inputs set to require gradients) are expected here
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum.*")


# --- models and references -----------------------------------------------------------------


def settle(model: nn.Module, seed: int) -> nn.Module:
    """Non-trivial BatchNorm: random affine parameters, running statistics from a few training
    passes on random data; then eval mode (eval-mode BatchNorm is not the identity)."""
    g = torch.Generator().manual_seed(seed + 1000)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.weight.data = torch.rand(m.weight.shape, generator=g) + 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.3
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(model.prepare(torch.rand(16, N_GENES, generator=g) * 6))
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            assert m.running_mean.abs().max() > 1e-3
            assert (m.running_var - 1).abs().max() > 1e-3
    return model


def make_mlp(seed: int = 0, dropout: float = 0.25) -> models.MLP:
    torch.manual_seed(seed)
    return settle(models.MLP(N_GENES, N_CLASSES, hidden=8, dropout=dropout), seed)


def make_cnn(seed: int = 6, dropout: float = 0.25, order=None, side=None) -> models.CNN:
    """A tiny CNN (8 x 8 grid). conv3's bias is raised after settling BatchNorm so that its
    activations are mostly positive: a random tiny CNN has many dead units, and Grad-CAM maps
    that are all zero would make the comparisons vacuous."""
    torch.manual_seed(seed)
    net = models.CNN(
        N_GENES, N_CLASSES, order=order, side=side, channels=(2, 4, 4), kernels=(3, 3, 3),
        dropout=dropout,
    )  # fmt: skip
    net = settle(net, seed)
    with torch.no_grad():
        net.conv3.bias += 0.3
    return net


def make(arch: str, **kwargs) -> nn.Module:
    return make_mlp(**kwargs) if arch == "mlp" else make_cnn(**kwargs)


class FixedMask(nn.Module):
    """Multiplies by one given mask: a dropout whose mask is frozen."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask


def reference(model: nn.Module, mask: torch.Tensor | None) -> nn.Module:
    """A copy of `model` in eval mode; its Dropout multiplies by `mask` (None: plain eval)."""
    ref = copy.deepcopy(model).eval()
    if mask is not None:
        ref.dropout = FixedMask(mask)
    return ref


def frozen(model: nn.Module, seed: int, inputs: torch.Tensor):
    """The explainable model with a drawn mask, materialised by one forward; and that mask."""
    net = captum_backend.explainable(model)
    (dropout,) = draws.dropouts(model)
    net.dropout.mask = draws.dropout_mask(
        dropout.shape, dropout.p, torch.Generator().manual_seed(seed)
    )
    with torch.no_grad():
        net(inputs)
    return net, net.dropout.mask.clone()


def data(seed: int = 0, n: int = N_SAMPLES):
    """Gene vectors (log expression-like), baselines and target classes."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, N_GENES, generator=g) * 6
    b = torch.rand(n, N_GENES, generator=g) * 2
    target = torch.randint(0, N_CLASSES, (n,), generator=g)
    return x, b, target


def grad_cam_pp_per_sample(model: nn.Module, grid: torch.Tensor, target: torch.Tensor):
    """Grad-CAM++ written out from its formula, one sample at a time, with explicit loops.

    A = conv3 output (before pooling), g = d logit[target] / dA,
    alpha_ij = g_ij^2 / (2 g_ij^2 + sum_ab A_ab * g_ij^3)  (0 where the denominator is 0),
    w_c = sum_ij alpha_ij relu(g_ij), cam = relu(sum_c w_c A_c), nearest-upsampled to the grid.
    """
    out = []
    for n in range(len(grid)):
        seen = []
        handle = model.conv3.register_forward_hook(lambda m, i, o, seen=seen: seen.append(o))
        logits = model(grid[n : n + 1])
        handle.remove()
        (a,) = seen
        (g,) = torch.autograd.grad(logits[0, int(target[n])], a)
        a, g = a[0].detach().double(), g[0].double()
        channels, height, width = a.shape
        cam = torch.zeros(height, width, dtype=torch.float64)
        for c in range(channels):
            total = sum(a[c, i, j] for i in range(height) for j in range(width))
            w = 0.0
            for i in range(height):
                for j in range(width):
                    den = 2 * g[c, i, j] ** 2 + total * g[c, i, j] ** 3
                    alpha = g[c, i, j] ** 2 / den if den != 0 else 0.0
                    w = w + alpha * max(g[c, i, j], 0.0)
            cam = cam + w * a[c]
        cam = torch.relu(cam)[None, None].float()
        out.append(F.interpolate(cam, size=grid.shape[2:], mode="nearest"))
    return torch.cat(out)


def captum_call(name, ref, inputs, target, baselines, ig_steps=50, signed=False):
    """The explainer as a direct Captum call (Grad-CAM++: GuidedBackprop x the plain version)."""
    inputs = inputs.clone().requires_grad_()
    if name == "Saliency":
        return Saliency(ref).attribute(inputs, target=target, abs=not signed)
    if name == "InputXGradient":
        return InputXGradient(ref).attribute(inputs, target=target)
    if name == "GuidedBackprop":
        return GuidedBackprop(ref).attribute(inputs, target=target)
    if name == "IntegratedGradients":
        return IntegratedGradients(ref).attribute(
            inputs, baselines=baselines, target=target, n_steps=ig_steps
        )
    if name == "DeepLift":
        return DeepLift(ref).attribute(inputs, baselines=baselines, target=target)
    if name == "DeepLiftShap":
        return DeepLiftShap(ref).attribute(inputs, baselines=baselines, target=target)
    if name == "GuidedGradCam":
        return GuidedGradCam(ref, ref.conv3).attribute(inputs, target=target)
    if name == "GuidedGradCamPlusPlus":
        guided = GuidedBackprop(ref).attribute(inputs, target=target)
        return guided * grad_cam_pp_per_sample(ref, inputs.detach(), target)
    raise AssertionError(name)


def attribute(name, net, inputs, target, baselines=None, ig_steps=50, signed=False):
    """The Captum backend's call for the explainer of that name."""
    return captum_backend.attribute(TABLE[name], net, inputs, target, baselines, ig_steps, signed)


def estimates(model, name, x, target, setting, pools, stream, ig_steps=50):
    """The Captum backend's estimates of one replicate, each as often as it counts:
    [(index, samples x genes)]."""
    record = TABLE[name]
    task = Task(record, x, target, draws.as_pools(pools), ig_steps)
    repeats = draws.repeats(x, setting, record, task.pools, stream, draws.dropouts(model))
    out = captum_backend.estimates(model, task, repeats)
    return list(enumerate(attr for attr, times in out for _ in range(times)))


def case_inputs(model, name, seed=0):
    """Model inputs, baselines (DeepLiftShap: 3 rows, a distribution) and targets."""
    x, b, target = data(seed)
    baselines = None
    if name in ("IntegratedGradients", "DeepLift"):
        baselines = model.prepare(b)
    elif name == "DeepLiftShap":
        baselines = model.prepare(b[:3])
    return model.prepare(x), baselines, target


# --- 1. each explainer equals a direct Captum call -----------------------------------------


@pytest.mark.parametrize(("arch", "name"), CASES)
def test_explainer_equals_captum_with_the_frozen_mask(arch, name):
    model = make(arch)
    inputs, baselines, target = case_inputs(model, name)
    net, mask = frozen(model, 5, inputs)
    assert isinstance(net.dropout, captum_backend.SharedDropout) and not net.training
    assert (mask == 0).any() and (mask > 0).any()  # the mask drops something and keeps some
    got = attribute(name, net, inputs, target, baselines)
    want = captum_call(name, reference(model, mask), inputs, target, baselines)
    assert got.shape == inputs.shape
    assert want.abs().max() > 1e-4  # not a vacuous comparison of zeros
    assert_close(got, want, **TOL)
    # the mask matters: the plain eval model gives other attributions
    plain = captum_call(name, reference(model, None), inputs, target, baselines)
    assert (plain - want).abs().max() > 1e-4
    # the explainer left the model as it was: same mask, BatchNorm still in eval mode
    assert torch.equal(net.dropout.mask, mask) and not net.training


@pytest.mark.parametrize(("arch", "name"), CASES)
def test_explainer_equals_captum_without_dropout(arch, name):
    model = make(arch)
    inputs, baselines, target = case_inputs(model, name, seed=1)
    want = captum_call(name, reference(model, None), inputs, target, baselines)
    # no mask drawn: the SharedDropout is the identity
    net = captum_backend.explainable(model)
    assert_close(attribute(name, net, inputs, target, baselines), want, **TOL)
    assert net.dropout.mask is None
    # p = 0: the drawn mask keeps everything
    p0 = copy.deepcopy(model)
    p0.dropout.p = 0.0
    net0, mask0 = frozen(p0, 5, inputs)
    assert torch.equal(mask0, torch.ones_like(mask0))
    assert_close(attribute(name, net0, inputs, target, baselines), want, **TOL)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_signed_saliency_is_captum_without_abs(arch):
    model = make(arch)
    x, _, target = data(2)
    inputs = model.prepare(x)
    net, mask = frozen(model, 5, inputs)
    got = attribute("Saliency", net, inputs, target, signed=True)
    want = captum_call("Saliency", reference(model, mask), inputs, target, None, signed=True)
    assert_close(got, want, **TOL)
    assert (got < 0).any()  # really signed
    assert_close(attribute("Saliency", net, inputs, target), want.abs(), **TOL)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_deepliftshap_with_one_baseline_is_deeplift(arch):
    model = make(arch)
    x, b, target = data(4)
    inputs = model.prepare(x[:1])
    base = model.prepare(b[:1])
    net, mask = frozen(model, 5, inputs)
    got = attribute("DeepLiftShap", net, inputs, target[:1], base)
    want = DeepLift(reference(model, mask)).attribute(inputs, baselines=base, target=target[:1])
    assert_close(got, want, **TOL)


# --- 2. completeness per repeat --------------------------------------------------------------


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("name", ["DeepLift", "IntegratedGradients"])
def test_completeness_holds_per_repeat_with_dropout_on(arch, name):
    model = make(arch)
    x, b, target = data(6)
    inputs, baselines = model.prepare(x), model.prepare(b)
    rows = torch.arange(len(x))
    plain = reference(model, None)
    with torch.no_grad():
        plain_delta = plain(inputs)[rows, target] - plain(baselines)[rows, target]
    for seed in (11, 12, 13):  # three repeats, three masks
        net, mask = frozen(model, seed, inputs)
        attr = attribute(name, net, inputs, target, baselines, ig_steps=300)
        with torch.no_grad():  # the same mask for the input and its baseline
            delta = net(inputs)[rows, target] - net(baselines)[rows, target]
        assert torch.equal(net.dropout.mask, mask)
        assert (delta - plain_delta).abs().max() > 1e-3  # the mask changes the outputs
        sums = attr.flatten(1).sum(1)
        if name == "DeepLift":
            assert_close(sums, delta, rtol=1e-4, atol=1e-5)
        else:
            assert_close(sums, delta, rtol=1e-2, atol=1e-2 * float(delta.abs().max()))
        # gene space: the CNN's padding cells carry nothing (input = baseline = 0 there)
        genes = net.genes(attr)
        assert genes.shape == (len(x), N_GENES)
        assert_close(genes.sum(1), sums, rtol=1e-5, atol=1e-5)


def test_plain_dropout_breaks_completeness_for_the_cnn():
    """PITFALLS.md 1: with nn.Dropout in train mode the baseline rows of Captum's batch get
    other masks than the input rows; the sums then match neither output difference (the input's
    mask on both rows, or each row with its own mask)."""
    model = make_cnn()
    x, b, target = data(6)
    inputs, baselines = model.prepare(x), model.prepare(b)
    n = len(x)
    ref = copy.deepcopy(model).eval()
    ref.dropout.train()
    seen = []
    ref.dropout.register_forward_hook(lambda m, i, o: seen.append((i[0].detach(), o.detach())))
    torch.manual_seed(123)
    attr = DeepLift(ref).attribute(inputs, baselines=baselines, target=target)
    # replay the masks the dropout drew for the batch (inputs, then baselines)
    torch.manual_seed(123)
    masks = F.dropout(torch.ones(2 * n, 4, 1, 1), p=0.25, training=True)
    assert len(seen) == 1
    assert_close(seen[0][1], seen[0][0] * masks)
    assert not torch.equal(masks[:n], masks[n:])
    sums = attr.flatten(1).sum(1)
    shared, rowwise = torch.empty(n), torch.empty(n)
    with torch.no_grad():
        for i in range(n):
            t = target[i]
            input_mask, base_mask = reference(model, masks[i]), reference(model, masks[n + i])
            fx = input_mask(inputs[i : i + 1])[0, t]
            shared[i] = fx - input_mask(baselines[i : i + 1])[0, t]
            rowwise[i] = fx - base_mask(baselines[i : i + 1])[0, t]
    scale = float(shared.abs().max())
    assert (sums - shared).abs().max() > 1e-2 * scale
    assert (sums - rowwise).abs().max() > 1e-2 * scale


# --- 3. dropout repeats ----------------------------------------------------------------------


def test_two_repeats_differ():
    model = make_mlp()
    x, _, target = data(7)
    for name in ("Saliency", "InputXGradient"):
        out = estimates(model, name, x, target, {"repeats": 2}, None, io.rng(0, "r"))
        assert [i for i, _ in out] == [0, 1]
        assert (out[0][1] - out[1][1]).abs().max() > 1e-3


def all_masks(p: float, hidden: int):
    """Every dropout mask of `hidden` units with its probability."""
    for bits in itertools.product((0, 1), repeat=hidden):
        keep = torch.tensor(bits, dtype=torch.float32)
        yield keep / (1 - p), (1 - p) ** int(sum(bits)) * p ** (hidden - int(sum(bits)))


@pytest.mark.parametrize("name", ["Saliency", "InputXGradient"])
def test_mean_over_repeats_converges_to_the_expectation(name):
    """The mean of R repeats approaches the exact expectation over all 2^8 masks (enumerated
    with their probabilities) with a squared error of about tr(Cov) / R."""
    model = make_mlp()
    x, _, target = data(8)
    exact = torch.zeros(len(x), N_GENES, dtype=torch.float64)
    attributions = []
    for mask, prob in all_masks(0.25, 8):
        a = captum_call(name, reference(model, mask), x, target, None).detach().double()
        attributions.append((a, prob))
        exact += prob * a
    assert abs(sum(p for _, p in attributions) - 1) < 1e-12
    trace = sum(p * float(((a - exact) ** 2).sum()) for a, p in attributions)
    if name == "InputXGradient":  # linear in the mask, whose mean is 1: the eval-mode model's
        plain = captum_call(name, reference(model, None), x, target, None).detach().double()
        assert_close(exact, plain, atol=1e-5, rtol=1e-5)
    big_r, streams = 64, 6
    err, step = {4: 0.0, 16: 0.0, 64: 0.0}, {4: 0.0, 16: 0.0}
    for s in range(streams):
        stream = io.rng(s, "repeats")
        runs = estimates(model, name, x, target, {"repeats": big_r}, None, stream)
        est = torch.stack([a.detach().double() for _, a in runs])
        assert len(est) == big_r
        for r in err:
            err[r] += float(((est[:r].mean(0) - exact) ** 2).sum()) / streams
        for r in step:  # the mean of R against the mean of 4R
            step[r] += float(((est[:r].mean(0) - est[: 4 * r].mean(0)) ** 2).sum()) / streams
    for r, e in err.items():
        assert 0.3 < e * r / trace < 3, (r, e * r / trace)
    assert err[4] > err[16] > err[64]
    # nested means: E |mean_R - mean_4R|^2 = tr(Cov) (1/R - 1/(4R)), i.e. ~ 1 / sqrt(R)
    for r, e in step.items():
        assert 0.3 < e * r / (0.75 * trace) < 3, (r, e * r / (0.75 * trace))
    assert step[4] > step[16]


# --- 4. Grad-CAM++ ---------------------------------------------------------------------------


@pytest.mark.parametrize("side", [8, 16])
def test_grad_cam_plus_plus_equals_the_per_sample_formula(side):
    model = make_cnn(side=side)
    x, _, target = data(9)
    grid = model.prepare(x)
    net, mask = frozen(model, 5, grid)
    got = captum_backend.grad_cam_plus_plus(net, grid, target)
    want = grad_cam_pp_per_sample(reference(model, mask), grid, target)
    assert got.shape == (len(x), 1, side, side)
    assert want.abs().max() > 1e-4
    assert_close(got, want, **TOL)
    # another target class gives another map
    other = captum_backend.grad_cam_plus_plus(net, grid, (target + 1) % N_CLASSES)
    assert_close(other, grad_cam_pp_per_sample(reference(model, mask), grid, (target + 1) % 4))


class LinearInA(nn.Module):
    """conv3 averages k x k blocks of a 1-channel grid into A (2 x 2); logit c = sum(A * coef[c]),
    so the gradient of logit c at A is coef[c]: Grad-CAM++ by hand."""

    def __init__(self, coef: torch.Tensor, k: int = 1):
        super().__init__()
        self.conv3 = nn.Conv2d(1, 1, k, stride=k, bias=False)
        self.conv3.weight.data.fill_(1.0 / k**2)
        self.coef = coef

    def forward(self, grid):
        return (self.conv3(grid) * self.coef).sum(dim=(2, 3))


def test_grad_cam_plus_plus_by_hand():
    grid = torch.tensor([[[[1.0, -2.0], [-1.0, -2.0]]]])  # A, sum(A) = -4
    coef = torch.tensor([[[0.5, 1.0], [0.0, -1.0]], [[1.0, 0.0], [0.0, 0.0]]])  # per class
    model = LinearInA(coef)
    # class 0: g = [[0.5, 1], [0, -1]]
    #   (0,0): 2 g^2 + sum(A) g^3 = 0.5 - 0.5 = 0 -> alpha = 0
    #   (0,1): 2 - 4 = -2 -> alpha = -0.5, relu(g) = 1 -> -0.5
    #   (1,0): g = 0 -> alpha = 0;  (1,1): relu(g) = 0
    #   w = -0.5, cam = relu(-0.5 A) = [[0, 1], [0.5, 1]]
    cam = torch.tensor([[[[0.0, 1.0], [0.5, 1.0]]]])
    got = captum_backend.grad_cam_plus_plus(model, grid, torch.tensor([0]))
    assert_close(got, cam)
    assert_close(got, grad_cam_pp_per_sample(model, grid, torch.tensor([0])))
    # class 1: g = 1 at (0,0) only: alpha = 1 / (2 - 4) = -0.5, w = -0.5, the same map
    assert_close(captum_backend.grad_cam_plus_plus(model, grid, torch.tensor([1])), cam)
    # a 4 x 4 grid whose 2 x 2 block means are the grid above: the same A, so the same map,
    # nearest-upsampled (each cell to a 2 x 2 block)
    big = grid.repeat_interleave(2, 2).repeat_interleave(2, 3)
    got = captum_backend.grad_cam_plus_plus(LinearInA(coef, k=2), big, torch.tensor([0]))
    assert_close(got, cam.repeat_interleave(2, 2).repeat_interleave(2, 3))


# --- 5. estimates: repeats x references x copies -------------------------------------------


def test_setting_for_merges_overrides_and_drops_references():
    setting = {
        "repeats": 4,
        "references": {"type": "universal", "count": 3},
        "overrides": {"Saliency": {"smoothgrad": {"copies": 5, "sd": 1.0}, "repeats": 2},
                      "DeepLift": {"references": {"type": "zero", "count": 1}}},
    }  # fmt: skip
    assert explain.setting_for(setting, "Saliency") == {
        "repeats": 2, "smoothgrad": {"copies": 5, "sd": 1.0}
    }  # fmt: skip
    assert explain.setting_for(setting, "DeepLift") == {
        "repeats": 4, "references": {"type": "zero", "count": 1}
    }  # fmt: skip
    for name in ("IntegratedGradients", "DeepLiftShap"):
        assert explain.setting_for(setting, name) == {
            "repeats": 4, "references": {"type": "universal", "count": 3}
        }  # fmt: skip
    for name in ("InputXGradient", "GuidedBackprop", "GuidedGradCam", "GuidedGradCamPlusPlus"):
        assert explain.setting_for(setting, name) == {"repeats": 4}
    assert "overrides" in setting  # the caller's setting is left alone


def pool_file(frame: pd.DataFrame, path):
    """A pool table written as the references stage writes it."""
    io.write_table(frame.astype({c: np.float32 for c in frame if c.startswith("g")}), path)
    return path


def test_sample_pools(tmp_path):
    genes = ["g1", "g2"]
    universal = pd.DataFrame({"reference": [0, 1, 2], "g2": [1.0, 2, 3], "g1": [4.0, 5, 6]})
    universal = pool_file(universal, tmp_path / "universal.parquet")
    pools = draws.sample_pools(universal, "universal", ["b", "a"], genes)
    assert pools.values.shape == (1, 3, 2) and pools.values.dtype == torch.float32
    np.testing.assert_array_equal(pools.values[0], [[4, 1], [5, 2], [6, 3]])
    assert pools.group.tolist() == [0, 0]  # one shared pool, not a copy per sample
    specific = pd.DataFrame(
        {"reference": [0, 1, 0, 1], "class": ["a", "a", "b", "b"],
         "g1": [1.0, 2, 3, 4], "g2": [5.0, 6, 7, 8]}
    )  # fmt: skip
    specific = pool_file(specific, tmp_path / "specific.parquet")
    pools = draws.sample_pools(specific, "specific", ["b", "a", "b"], genes)
    assert pools.values.shape == (2, 2, 2)
    rows = pools.rows(np.array([[0, 1], [1, 0], [1, 1]]))  # samples x K from each own pool
    np.testing.assert_array_equal(rows, [[[3, 7], [4, 8]], [[2, 6], [1, 5]], [[4, 8], [4, 8]]])
    # the rows of some of the samples: their own pools
    np.testing.assert_array_equal(
        pools.rows(np.array([[1], [0]]), slice(1, 3)), [[[2, 6]], [[3, 7]]]
    )
    only_b = draws.sample_pools(specific, "specific", ["b"], genes)  # a's rows are not read
    np.testing.assert_array_equal(only_b.values, [[[3, 7], [4, 8]]])
    assert only_b.values.untyped_storage().nbytes() == 2 * 2 * 4  # one pool, not a copy
    c_pool = pd.DataFrame({"reference": [0, 1], "class": ["c", "b"], "g1": [1.0, 2], "g2": 3.0})
    c_pool = pool_file(c_pool, tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="classes \\['a', 'b'\\]"):  # a has no pool
        draws.sample_pools(c_pool, "specific", ["a", "b"], genes)


def constant_pools(n: int, size: int) -> np.ndarray:
    """Sample i's pool: row r is the constant 100 (i + 1) + r + 1 in every gene."""
    values = 100 * (np.arange(n)[:, None] + 1) + np.arange(size)[None, :] + 1
    return np.repeat(values[:, :, None], N_GENES, axis=2).astype(np.float32)


def recorder(monkeypatch):
    """Wrap the Captum backend's `attribute`: record (inputs, baselines) of every call."""
    calls, original = [], captum_backend.attribute

    def wrapped(name, model, inputs, target, baselines=None, *args, **kwargs):
        calls.append((inputs.detach().clone(), None if baselines is None else baselines.clone()))
        return original(name, model, inputs, target, baselines, *args, **kwargs)

    monkeypatch.setattr(captum_backend, "attribute", wrapped)
    return calls


def baseline_values(model, baselines: torch.Tensor) -> torch.Tensor:
    """Each baseline row (gene vector or grid) -> its constant value; asserts it is constant."""
    genes = model.genes(baselines)
    assert torch.equal(genes, genes[:, :1].expand_as(genes))
    if baselines.dim() == 4:  # the CNN's padding cells stay 0
        assert float(baselines.flatten(1)[:, N_GENES:].abs().sum()) == 0
    return genes[:, 0]


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("name", ["DeepLift", "IntegratedGradients"])
def test_each_repeat_draws_k_references_from_the_samples_pool(monkeypatch, arch, name):
    model = make(arch)
    x, _, target = data(10, n=3)
    repeats, k, size = 4, 3, 10
    pools = constant_pools(len(x), size)
    calls = recorder(monkeypatch)
    net = model
    setting = {"repeats": repeats, "references": {"type": "universal", "count": k}}
    out = estimates(model, name, x, target, setting, pools, io.rng(1, "refs"), 5)
    assert [i for i, _ in out] == list(range(repeats * k))
    assert len(calls) == repeats * k
    used = torch.stack([baseline_values(net, base) for _, base in calls])  # calls x samples
    per_repeat = used.view(repeats, k, len(x))
    draws = []
    for i in range(len(x)):
        rows = per_repeat[:, :, i] - 100 * (i + 1) - 1  # the pool rows drawn
        assert torch.equal(rows, rows.round()) and rows.min() >= 0 and rows.max() < size
        for r in range(repeats):  # K distinct references per repeat
            assert len(set(rows[r].tolist())) == k
        draws.append({tuple(sorted(rows[r].tolist())) for r in range(repeats)})
    assert any(len(d) > 1 for d in draws)  # repeats draw their own references
    # the inputs are the samples themselves (the CNN's as grids)
    for inputs, _ in calls:
        assert_close(inputs, net.prepare(x))


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_deepliftshap_takes_k_references_in_one_call_per_sample(monkeypatch, arch):
    model = make(arch)
    x, _, target = data(11, n=3)
    repeats, k, size = 2, 4, 6
    pools = constant_pools(len(x), size)
    calls = recorder(monkeypatch)
    net = model
    setting = {"repeats": repeats, "references": {"type": "universal", "count": k}}
    out = estimates(model, "DeepLiftShap", x, target, setting, pools, io.rng(2, "s"))
    assert [i for i, _ in out] == list(range(repeats))
    assert all(a.shape == (len(x), N_GENES) for _, a in out)
    assert len(calls) == repeats * len(x)
    for c, (inputs, base) in enumerate(calls):
        i = c % len(x)
        assert_close(inputs, net.prepare(x[i : i + 1]))
        rows = baseline_values(net, base) - 100 * (i + 1) - 1
        assert len(rows) == k and len(set(rows.tolist())) == k
        assert rows.min() >= 0 and rows.max() < size


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("name", ["DeepLift", "IntegratedGradients", "DeepLiftShap"])
def test_zero_pool_computes_one_estimate_per_repeat(monkeypatch, tmp_path, arch, name):
    """All references equal (the zero pool): one call per repeat gives its K equal estimates
    (DeepLiftShap over K equal baselines is DeepLift), the same values as the K calls."""
    model = make(arch)
    x, _, target = data(17, n=3)
    repeats, k = 2, 3
    genes = [f"g{i}" for i in range(N_GENES)]
    zero = pool_file(pd.DataFrame(0.0, index=range(5), columns=genes), tmp_path / "zero.parquet")
    pools = draws.sample_pools(zero, "zero", ["a"] * len(x), genes)
    setting = {"repeats": repeats, "references": {"type": "zero", "count": k}}
    # without dropout, against Captum on the eval-mode model with zero baselines
    p0 = copy.deepcopy(model)
    p0.dropout.p = 0.0
    calls = recorder(monkeypatch)
    out = estimates(p0, name, x, target, setting, pools, io.rng(7, "z"), 10)
    per_repeat = 1 if name == "DeepLiftShap" else k
    assert [i for i, _ in out] == list(range(repeats * per_repeat))
    assert len(calls) == repeats
    inputs = p0.prepare(x)
    zeros = torch.zeros_like(inputs[: k if name == "DeepLiftShap" else len(x)])
    want = p0.genes(captum_call(name, reference(p0, None), inputs, target, zeros, 10))
    for _, a in out:
        assert_close(a, want, **TOL)
    # with dropout: equal within a repeat, different between repeats
    out = estimates(model, name, x, target, setting, pools, io.rng(7, "z"), 10)
    values = torch.stack([a for _, a in out]).view(repeats, per_repeat, len(x), N_GENES)
    assert torch.equal(values, values[:, :1].expand_as(values))
    assert (values[0, 0] - values[1, 0]).abs().max() > 1e-4


@pytest.mark.parametrize(
    ("name", "setting", "count"),
    [
        ("DeepLift", {"repeats": 3, "references": {"type": "universal", "count": 2}}, 6),
        ("IntegratedGradients", {"repeats": 3, "references": {"type": "u", "count": 2}}, 6),
        ("DeepLiftShap", {"repeats": 3, "references": {"type": "universal", "count": 2}}, 3),
        ("Saliency", {"repeats": 3, "references": {"type": "universal", "count": 2}}, 3),
        ("InputXGradient", {"repeats": 3}, 3),
        ("Saliency", {"repeats": 3, "smoothgrad": {"copies": 2, "sd": 1.0}}, 6),
        ("DeepLift", {"repeats": 2, "references": {"type": "u", "count": 2},
                      "smoothgrad": {"copies": 3, "sd": 0.5}}, 12),
        ("GuidedBackprop", {}, 1),
    ],
)  # fmt: skip
def test_number_of_estimates(name, setting, count):
    model = make_mlp()
    x, _, target = data(12, n=3)
    strategy = explain.setting_for(setting, name)
    pools = constant_pools(len(x), 5)
    blocks = explain.explain_model(
        model, name, x.numpy(), target.numpy(), strategy, pools, io.rng(3, "n"),
        replicates=3, keep_estimates=True, ig_steps=5,
    )  # fmt: skip
    assert [(r, e) for r, e, _ in blocks] == [(r, e) for r in range(3) for e in range(count)]
    assert all(v.shape == (len(x), N_GENES) and v.dtype == np.float32 for _, _, v in blocks)
    scores = explain.explain_model(
        model, name, x.numpy(), target.numpy(), strategy, pools, io.rng(3, "n"),
        replicates=3, ig_steps=5,
    )  # fmt: skip
    assert [(r, e) for r, e, _ in scores] == [(0, None), (1, None), (2, None)]


def test_smoothgrad_copies_are_noisy_and_share_the_repeats_mask(monkeypatch):
    model = make_mlp()
    x, _, target = data(13, n=3)
    calls = recorder(monkeypatch)
    setting = {"repeats": 2, "smoothgrad": {"copies": 3, "sd": 1.0}}
    estimates(model, "Saliency", x, target, setting, None, io.rng(4, "sg"))
    assert len(calls) == 6
    noise = torch.stack([inputs - x for inputs, _ in calls])
    assert 0.6 < float(noise.std()) < 1.4  # N(0, sd = 1)
    assert all((noise[i] - noise[j]).abs().max() > 0.1 for i in range(6) for j in range(i))


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("score", ["abs_then_mean", "mean_then_abs"])
@pytest.mark.parametrize("name", ["Saliency", "DeepLift"])
def test_replicate_scores_reduce_the_estimates(arch, score, name):
    model = make(arch)
    x, _, target = data(14, n=4)
    setting = explain.setting_for(
        {"repeats": 3, "references": {"type": "universal", "count": 2}}, name
    )
    pools = np.random.default_rng(0).uniform(0, 2, (len(x), 6, N_GENES)).astype(np.float32)
    args = (model, name, x.numpy(), target.numpy(), setting, pools)
    kept = explain.explain_model(*args, io.rng(5, "s"), replicates=2, keep_estimates=True)
    scores = explain.explain_model(*args, io.rng(5, "s"), replicates=2, score=score)
    assert len(scores) == 2
    for replicate, estimate, values in scores:
        assert estimate is None
        est = np.stack([v for r, _, v in kept if r == replicate]).astype(np.float64)
        want = np.abs(est).mean(0) if score == "abs_then_mean" else np.abs(est.mean(0))
        np.testing.assert_allclose(values, want, rtol=1e-5, atol=1e-7)
    # signed estimates (Saliency too) make the two scores differ
    assert any((v < 0).any() for _, _, v in kept)
    if score == "mean_then_abs":
        other = explain.explain_model(*args, io.rng(5, "s"), replicates=2)
        assert np.abs(other[0][2] - scores[0][2]).max() > 1e-4
    assert np.abs(scores[0][2] - scores[1][2]).max() > 1e-6  # replicates differ


# --- 6. the CNN's grid mapped back to genes --------------------------------------------------


def test_cnn_attributions_map_back_to_the_models_gene_order():
    order = np.random.default_rng(7).permutation(N_GENES)
    model = make_cnn(dropout=0.0, order=order)
    x, _, target = data(15)
    blocks = explain.explain_model(
        model, "Saliency", x.numpy(), target.numpy(), {"repeats": 1}, None, io.rng(6, "c")
    )
    ((_, _, got),) = blocks
    assert got.shape == (len(x), N_GENES)
    grid = Saliency(reference(model, None)).attribute(model.prepare(x), target=target)
    cells = grid.flatten(1)
    assert cells[:, N_GENES:].abs().sum() > 0  # padding cells have gradients, dropped below
    want = np.empty((len(x), N_GENES), dtype=np.float32)
    for k in range(N_GENES):  # grid cell k holds gene order[k]
        want[:, order[k]] = cells[:, k].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    # the grid itself holds gene order[k] at cell k
    assert torch.equal(model.prepare(x).flatten(1)[:, :N_GENES], x[:, order])


# --- 7. seed streams -------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_same_seed_stream_same_blocks_other_seed_other_blocks(arch):
    model = make(arch)
    x, _, target = data(16, n=3)
    setting = {"repeats": 2, "references": {"type": "universal", "count": 2}}
    pools = np.random.default_rng(1).uniform(0, 2, (len(x), 8, N_GENES)).astype(np.float32)

    def blocks(seed):
        return explain.explain_model(
            model, "DeepLift", x.numpy(), target.numpy(), setting, pools,
            io.rng(seed, "explain"), replicates=2,
        )  # fmt: skip

    first, again, other = blocks(1), blocks(1), blocks(2)
    for a, b in zip(first, again, strict=True):
        assert a[:2] == b[:2] and np.array_equal(a[2], b[2])
    assert np.abs(first[0][2] - other[0][2]).max() > 1e-4
    # without references (dropout alone) another seed differs too
    sal = [
        explain.explain_model(model, "Saliency", x.numpy(), target.numpy(), {"repeats": 1},
                              None, io.rng(s, "e"))[0][2]
        for s in (1, 1, 2)
    ]  # fmt: skip
    assert np.array_equal(sal[0], sal[1]) and np.abs(sal[0] - sal[2]).max() > 1e-4


# --- 8. explained samples --------------------------------------------------------------------


def sample_sheet():
    """12 samples of 4 classes in 3 tissues; test samples: 3 of a, 2 of b, 2 of c, 1 of d."""
    rows = [
        ("s00", "a", "t1", "test"), ("s01", "b", "t1", "test"), ("s02", "a", "t1", "train"),
        ("s03", "c", "t2", "test"), ("s04", "a", "t1", "test"), ("s05", "d", "t3", "test"),
        ("s06", "b", "t1", "test"), ("s07", "c", "t2", "train"), ("s08", "a", "t1", "test"),
        ("s09", "c", "t2", "test"), ("s10", "d", "t3", "train"), ("s11", "b", "t1", "train"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["sample", "class", "tissue", "split"])


def test_explained_samples_all_test_samples_of_the_focus_tissues():
    sheet = sample_sheet()
    got = explain.explained_samples(sheet, {"split": "test"}, ["t1", "t2"], 0)
    assert got.tolist() == [0, 1, 3, 4, 6, 8, 9]
    got = explain.explained_samples(sheet, {"split": "train"}, ["t1"], 0)
    assert got.tolist() == [2, 11]


def test_explained_samples_at_most_per_class_seeded():
    sheet = sample_sheet()
    results = set()
    for seed in range(20):
        got = explain.explained_samples(
            sheet, {"split": "test", "per_class": 2}, ["t1", "t2"], seed
        )
        assert got.dtype == np.int64 and list(got) == sorted(got)
        picked = sheet.iloc[got]
        assert (picked["split"] == "test").all() and picked["tissue"].isin(["t1", "t2"]).all()
        assert picked["class"].value_counts().to_dict() == {"a": 2, "b": 2, "c": 2}
        assert {1, 6, 3, 9} <= set(got.tolist())  # classes at or under the limit: all kept
        assert np.array_equal(got, explain.explained_samples(
            sheet, {"split": "test", "per_class": 2}, ["t1", "t2"], seed))  # fmt: skip
        results.add(tuple(got.tolist()))
    assert len(results) > 1  # the choice among a's 3 test samples depends on the seed


# --- 9. run() end to end ---------------------------------------------------------------------


CLASSES = ["brain_normal", "brain_tumour", "liver_normal", "lung_normal"]
TISSUES = ["brain", "brain", "liver", "lung"]


def write_inputs(tmp_path, arch):
    """Expression, samples (rows in another order than the expression), references, models."""
    genes = [f"ENSG{i:03d}" for i in range(N_GENES)]
    r = np.random.default_rng(0)
    ids = [f"S{i:02d}" for i in range(24)]
    cls = np.arange(24) % 4
    split = np.where(np.arange(24) % 8 < 4, "test", "train")
    io.write_expression(ids, genes, r.uniform(0, 6, (24, N_GENES)), tmp_path / "expr.parquet")
    sheet = pd.DataFrame(
        {"sample": ids, "class": [CLASSES[c] for c in cls], "class_index": cls,
         "tissue": [TISSUES[c] for c in cls],
         "status": ["cancer" if c == 1 else "normal" for c in cls], "split": split}
    ).iloc[::-1]  # fmt: skip
    io.write_table(sheet, tmp_path / "samples.parquet")
    universal = pd.DataFrame(r.uniform(0, 2, (7, N_GENES)).astype(np.float32), columns=genes)
    universal.insert(0, "reference", np.arange(7))
    io.write_table(universal, tmp_path / "universal.parquet")
    specific = pd.DataFrame(r.uniform(0, 2, (12, N_GENES)).astype(np.float32), columns=genes)
    specific.insert(0, "class", np.repeat(CLASSES[:3], 4))
    specific.insert(0, "reference", np.tile(np.arange(4), 3))
    io.write_table(specific, tmp_path / "specific.parquet")
    paths = []
    for i, name in enumerate(["m01", "m02"]):
        if arch == "mlp":
            net = make_mlp(seed=i)
            kwargs = {"n_genes": N_GENES, "n_classes": N_CLASSES, "hidden": 8, "dropout": 0.25}
        else:
            order = np.random.default_rng(i).permutation(N_GENES).tolist()
            net = make_cnn(seed=6 - 2 * i, order=order)
            kwargs = {"n_genes": N_GENES, "n_classes": N_CLASSES, "order": order, "side": 8,
                      "channels": (2, 4, 4), "kernels": (3, 3, 3), "dropout": 0.25}  # fmt: skip
        path = tmp_path / "models" / arch / name / "model.pt"
        train.save_model(net, arch, kwargs, genes, path)
        paths.append(str(path))
    return genes, paths


EXPLAIN_CONFIG = {
    "samples": {"split": "test", "per_class": 2},
    "focus_tissues": ["brain", "liver"],
    "target": "true",
    "replicates": 3,
    "replicate_models": ["m01"],
    "score": "abs_then_mean",
    "ig_steps": 8,
    "device": "cpu",
}


@pytest.mark.parametrize(
    ("arch", "explainer", "setting", "config"),
    [
        ("mlp", "DeepLift", {"repeats": 2, "references": {"type": "specific", "count": 2}}, {}),
        ("mlp", "Saliency", {"repeats": 2, "overrides": {"Saliency": {"repeats": 3}},
                             "references": {"type": "universal", "count": 2}},
         {"score": "mean_then_abs"}),
        ("cnn", "IntegratedGradients",
         {"repeats": 2, "references": {"type": "universal", "count": 2}},
         {"target": "predicted"}),
        ("cnn", "GuidedGradCamPlusPlus", {"repeats": 2, "keep_estimates": True}, {}),
    ],
)  # fmt: skip
def test_run_end_to_end(tmp_path, arch, explainer, setting, config):
    genes, paths = write_inputs(tmp_path, arch)
    explain_config = {**EXPLAIN_CONFIG, **config}
    outputs = [str(tmp_path / "out" / f"{name}.parquet") for name in ("m01", "m02")]
    explain.run(
        expression=tmp_path / "expr.parquet", samples=tmp_path / "samples.parquet",
        models=paths,
        references={k: tmp_path / f"{k}.parquet" for k in ("universal", "specific")},
        arch=arch, explainer=explainer, setting_name="opt", setting=setting,
        explain_config=explain_config, seed=42, outputs=outputs,
    )  # fmt: skip
    # what run() should have done, step by step
    ids, _, x = io.read_expression(tmp_path / "expr.parquet")
    sheet = io.read_table(tmp_path / "samples.parquet").set_index("sample").loc[ids]
    test = sheet[(sheet["split"] == "test") & sheet["tissue"].isin(["brain", "liver"])]
    rows = explain.explained_samples(
        sheet.reset_index(), explain_config["samples"], ["brain", "liver"], 42
    )
    explained = sheet.index[rows].tolist()
    assert len(explained) == 6 and set(explained) <= set(test.index)
    assert sheet.loc[explained, "class"].value_counts().to_dict() == dict.fromkeys(CLASSES[:3], 2)
    strategy = explain.setting_for(setting, explainer)
    pools = None
    if "references" in strategy:
        kind = strategy["references"]["type"]
        pools = draws.sample_pools(tmp_path / f"{kind}.parquet", kind,
                                   sheet.loc[explained, "class"].tolist(), genes)  # fmt: skip
    keep = setting.get("keep_estimates", False)
    per_block = setting["repeats"] if keep else 1  # rows per sample and replicate
    for path, out, name, replicates in zip(paths, outputs, ["m01", "m02"], [3, 1], strict=True):
        frame = io.read_table(out)
        head = ["sample", "replicate", "estimate"] if keep else ["sample", "replicate"]
        assert list(frame.columns) == head + genes
        assert all(frame[g].dtype == np.float32 for g in genes)
        assert len(frame) == replicates * per_block * len(explained)
        assert sorted(frame["replicate"].unique()) == list(range(replicates))
        assert frame["sample"].tolist() == explained * (replicates * per_block)
        model = train.load_model(path)
        xs = x[rows]
        target = sheet.loc[explained, "class_index"].to_numpy()
        if explain_config["target"] == "predicted":
            with torch.no_grad():
                target = model(model.prepare(torch.as_tensor(xs))).argmax(1).numpy()
        want = explain.explain_model(
            model, explainer, xs, target, strategy, pools,
            io.rng(42, "explain", arch, explainer, "opt", name), replicates=replicates,
            score=explain_config["score"], keep_estimates=keep, ig_steps=8,
        )  # fmt: skip
        np.testing.assert_allclose(
            frame[genes].to_numpy(), np.concatenate([v for _, _, v in want]), rtol=1e-6
        )
        if keep:
            assert frame["estimate"].tolist() == [e for _, e, _ in want for _ in explained]
        if replicates > 1:
            first = frame[frame["replicate"] == 0][genes].to_numpy()
            second = frame[frame["replicate"] == 1][genes].to_numpy()
            assert np.abs(first - second).max() > 1e-6


def test_store_top_keeps_each_samples_top_genes_in_long_form(tmp_path):
    values = np.array([[0.1, 0.5, 0.5, 0.2], [0.9, 0.0, 0.3, 0.3]], dtype=np.float32)
    path = tmp_path / "m01.parquet"
    explain.write_attributions([(0, None, values)], ["s1", "s2"], ["g1", "g2", "g3", "g4"], path, 2)
    frame = io.read_table(path)
    assert list(frame.columns) == ["sample", "replicate", "rank", "gene", "score"]
    assert frame["gene"].tolist() == ["g2", "g3", "g1", "g3"]  # ties (g2/g3, g3/g4) by gene order
    assert frame["rank"].tolist() == [1, 2, 1, 2]
    np.testing.assert_allclose(frame["score"], [0.5, 0.5, 0.9, 0.3])


def test_explained_sample_sets_by_status_and_tissue():
    sheet = pd.DataFrame(
        {"class": ["n_a", "c_a", "c_b", "c_b", "n_b"], "tissue": ["a", "a", "b", "b", "b"],
         "status": ["normal", "cancer", "cancer", "cancer", "normal"],
         "split": ["test", "test", "train", "test", "test"]}
    )  # fmt: skip
    cancers = {"split": "all", "tissues": "all", "status": "cancer"}
    assert explain.explained_samples(sheet, cancers, ["a"], 0).tolist() == [1, 2, 3]
    focus_test = {"split": "test", "tissues": "focus", "status": "any"}
    assert explain.explained_samples(sheet, focus_test, ["b"], 0).tolist() == [3, 4]


def test_normal_samples_are_a_tissues_normal_class_or_all_of_a_tissue_without_one():
    """The curves' status normal: tissue a's normal sample; tissue c, cancer only, all of its
    own; d's sample without status is not normal, but d has no normal class."""
    sheet = pd.DataFrame(
        {"class": ["n_a", "c_a", "c_c", "c_c2", "x_d"], "tissue": ["a", "a", "c", "c", "d"],
         "status": ["normal", "cancer", "cancer", "cancer", None], "split": "test"}
    )  # fmt: skip
    normal = {"split": "test", "tissues": "focus", "status": "normal"}
    assert explain.explained_samples(sheet, normal, ["a", "c", "d"], 0).tolist() == [0, 2, 3, 4]
    assert explain.explained_samples(sheet, normal, ["a"], 0).tolist() == [0]


def test_a_stopped_job_keeps_its_finished_models(tmp_path, monkeypatch):
    """A job stopped after its first model (the rerun finds its outputs deleted, as Snakemake
    deletes a stopped job's outputs) takes that model's attributions from the staged file,
    explains only the second, and writes what an uninterrupted job writes; a staged file of
    other settings is not taken."""
    genes, paths = write_inputs(tmp_path, "mlp")
    setting = {"repeats": 2}

    def run(folder, **changes):
        explain.run(
            expression=tmp_path / "expr.parquet", samples=tmp_path / "samples.parquet",
            models=paths, references={}, arch="mlp", explainer="Saliency", setting_name="plain",
            setting={**setting, **changes}, explain_config=EXPLAIN_CONFIG, seed=4,
            outputs=[str(tmp_path / folder / f"{m}.parquet") for m in ("m01", "m02")],
        )  # fmt: skip
        return [(tmp_path / folder / f"{m}.parquet").read_bytes() for m in ("m01", "m02")]

    whole = run("whole")
    explained, original = [], explain.explain_model

    def stopped_at_the_second(model, *args, **kwargs):
        explained.append(model)
        if len(explained) == 2:
            raise KeyboardInterrupt  # the job is killed
        return original(model, *args, **kwargs)

    monkeypatch.setattr(explain, "explain_model", stopped_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        run("stopped")
    assert not list((tmp_path / "stopped").glob("*.parquet"))  # no output of a stopped job
    assert len(list((tmp_path / "stopped").glob(".m01.parquet.*.staged"))) == 1
    monkeypatch.setattr(explain, "explain_model", original)
    calls = []
    monkeypatch.setattr(
        explain, "load_model", lambda p, *a: calls.append(p) or train.load_model(p, *a)
    )
    assert run("stopped") == whole
    assert calls == [paths[1]]  # the first model was not explained again
    assert not list((tmp_path / "stopped").glob(".*staged"))
    with pytest.raises(KeyboardInterrupt):  # stopped again, then rerun with other settings
        monkeypatch.setattr(explain, "explain_model", stopped_at_the_second)
        explained.clear()
        run("other")
    monkeypatch.setattr(explain, "explain_model", original)
    calls.clear()
    run("other", repeats=3)
    assert calls == paths  # the staged file of repeats 2 was not taken
