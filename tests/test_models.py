"""The paper's MLP and CNN (PAPER-DIGEST.md section 2): sizes, grid mapping, module hygiene."""

import re

import numpy as np
import pytest
import torch
from torch import nn

from txai import models

G, C = 19241, 82  # the paper's genes and classes


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_mlp_parameter_count_at_paper_settings():
    # Linear(G, 128): 19241 * 128 + 128 = 2,462,976
    # BatchNorm1d(128): weight + bias = 2 * 128 = 256
    # Linear(128, 82): 128 * 82 + 82 = 10,578
    # total 2,462,976 + 256 + 10,578 = 2,473,810
    model = models.MLP(G, C)
    assert n_params(model) == 19241 * 128 + 128 + 2 * 128 + 128 * 82 + 82 == 2_473_810
    assert tuple(model.hidden.weight.shape) == (128, G)
    assert tuple(model.out.weight.shape) == (C, 128)
    assert model.dropout.p == 0.25


def test_cnn_parameter_count_at_paper_settings():
    # conv1 1*64*5*5 + 64 = 1,664          bn1 2*64 = 128
    # conv2 64*128*5*5 + 128 = 204,928     bn2 2*128 = 256
    # conv3 128*256*3*3 + 256 = 295,168    bn3 2*256 = 512
    # bn after global pooling 2*256 = 512  linear 256*82 + 82 = 21,074
    # total 1,664 + 128 + 204,928 + 256 + 295,168 + 512 + 512 + 21,074 = 524,242
    model = models.CNN(G, C)
    assert n_params(model) == 524_242
    assert model.side == 144
    assert tuple(model.conv1.weight.shape) == (64, 1, 5, 5)
    assert tuple(model.conv2.weight.shape) == (128, 64, 5, 5)
    assert tuple(model.conv3.weight.shape) == (256, 128, 3, 3)
    assert tuple(model.out.weight.shape) == (C, 256)
    # the gene order is a buffer (saved with the weights), not a parameter
    assert model.order.numel() == G and not model.order.requires_grad


@pytest.mark.parametrize(
    ("n_genes", "multiple", "side"),
    [
        (19241, 8, 144),  # ceil(sqrt(19241)) = 139 -> 144
        (2000, 8, 48),  # ceil(44.72) = 45 -> 48
        (64, 8, 8),  # exactly 8 x 8
        (65, 8, 16),  # ceil(8.06) = 9 -> 16
        (1, 8, 8),
        (65, 3, 9),  # 9 is already a multiple of 3
        (50, 4, 8),  # ceil(7.07) = 8
    ],
)
def test_grid_side(n_genes, multiple, side):
    assert models.grid_side(n_genes, multiple) == side


def test_build_by_name():
    assert isinstance(models.build("mlp", 10, 3, hidden=4), models.MLP)
    cnn = models.build("cnn", 10, 3, channels=(2, 2, 2), kernels=(3, 3, 3))
    assert isinstance(cnn, models.CNN) and cnn.side == 8
    with pytest.raises(KeyError):
        models.build("rnn", 10, 3)


def test_output_shapes_at_paper_settings():
    torch.manual_seed(0)
    x = torch.randn(3, G)
    mlp = models.MLP(G, C).eval()
    assert mlp.prepare(x) is x
    assert tuple(mlp(x).shape) == (3, C)
    cnn = models.CNN(G, C).eval()
    grid = cnn.prepare(x)
    assert tuple(grid.shape) == (3, 1, 144, 144)
    with torch.no_grad():
        logits = cnn(grid)
    assert tuple(logits.shape) == (3, C)
    assert torch.isfinite(logits).all()


# --- grid mapping -------------------------------------------------------------------------------


@pytest.fixture
def mapped():
    """A 50-gene CNN on an 8 x 8 grid with a random order; gene g has the value 100 + g."""
    n = 50
    order = np.random.default_rng(7).permutation(n)
    model = models.CNN(n, 3, order=order, side=8, channels=(2, 2, 2), kernels=(3, 3, 3))
    x = torch.stack([100.0 + torch.arange(n, dtype=torch.float32), -torch.arange(n) - 1.0])
    return model, order, x


def test_prepare_places_gene_order_k_in_cell_k_row_by_row(mapped):
    model, order, x = mapped
    grid = model.prepare(x)
    assert tuple(grid.shape) == (2, 1, 8, 8)
    # cell k sits at row k // 8, column k % 8 and holds gene order[k]
    for k in (0, 1, 7, 8, 9, 23, 42, 49):
        g = int(order[k])
        assert grid[0, 0, k // 8, k % 8].item() == 100.0 + g
        assert grid[1, 0, k // 8, k % 8].item() == -g - 1.0
    # cell (6, 1) is k = 49, the last gene; (6, 2) is k = 50, the first padding cell
    assert grid[0, 0, 6, 1].item() == 100.0 + order[49]
    assert grid[0, 0, 6, 2].item() == 0.0


def test_prepare_padding_is_zero_and_each_gene_in_one_cell(mapped):
    model, order, x = mapped
    cells = model.prepare(x).reshape(2, 64)
    assert torch.equal(cells[:, 50:], torch.zeros(2, 14))
    # values 100..149 are all distinct: each appears in exactly one cell
    values = cells[0, :50].tolist()
    assert sorted(values) == [100.0 + g for g in range(50)]
    for g in range(50):
        assert (cells[0] == 100.0 + g).sum().item() == 1
        assert torch.nonzero(cells[0] == 100.0 + g).item() == int(np.flatnonzero(order == g)[0])


def test_genes_inverts_prepare_and_drops_padding(mapped):
    model, order, x = mapped
    assert torch.equal(model.genes(model.prepare(x)), x)
    # arbitrary values in the padding cells are dropped
    grid = model.prepare(x).clone()
    grid.view(2, 64)[:, 50:] = 1234.5
    assert torch.equal(model.genes(grid), x)
    # genes() reads cell k as gene order[k]
    grid = torch.arange(64, dtype=torch.float32).view(1, 1, 8, 8)
    back = model.genes(grid)[0]
    for k in (0, 13, 49):
        assert back[order[k]].item() == float(k)


def test_fixed_order_is_identity():
    model = models.CNN(10, 2, side=8, channels=(2, 2, 2), kernels=(3, 3, 3))
    x = torch.arange(1.0, 11.0).unsqueeze(0)
    cells = model.prepare(x).reshape(-1)
    assert cells[:10].tolist() == list(range(1, 11))
    assert cells[10:].abs().sum().item() == 0.0


def test_bad_order_or_side_raise():
    kw = dict(channels=(2, 2, 2), kernels=(3, 3, 3))
    with pytest.raises(ValueError, match="permutation"):
        models.CNN(5, 2, order=[0, 1, 2, 3, 3], **kw)
    with pytest.raises(ValueError, match="permutation"):
        models.CNN(5, 2, order=[0, 1, 2, 3], **kw)
    with pytest.raises(ValueError, match="permutation"):
        models.CNN(5, 2, order=[1, 2, 3, 4, 5], **kw)
    with pytest.raises(ValueError, match="cannot hold"):
        models.CNN(65, 2, side=8, **kw)
    models.CNN(64, 2, side=8, **kw)  # exactly full is fine


# --- module hygiene (PITFALLS.md 3-4: Captum's DeepLift) -----------------------------------------


def leaf_calls(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """How often each leaf module runs in one forward pass."""
    calls = {name: 0 for name, m in model.named_modules() if not list(m.children())}
    handles = [
        m.register_forward_hook(lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
        for name, m in model.named_modules()
        if name in calls
    ]
    try:
        with torch.no_grad():
            model(model.prepare(x))
    finally:
        for h in handles:
            h.remove()
    return calls


def count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def test_mlp_modules_each_run_once():
    model = models.MLP(20, 3, hidden=8).eval()
    calls = leaf_calls(model, torch.randn(4, 20))
    assert calls == {"hidden": 1, "bn": 1, "relu": 1, "dropout": 1, "out": 1}
    assert count(model, nn.ReLU) == 1
    relu_calls = sum(calls[n] for n, m in model.named_modules() if isinstance(m, nn.ReLU))
    assert relu_calls == 1


def test_cnn_modules_each_run_once():
    model = models.CNN(50, 3, side=8, channels=(2, 3, 4), kernels=(3, 3, 3)).eval()
    calls = leaf_calls(model, torch.randn(4, 50))
    assert set(calls) == {
        "conv1", "pool1", "bn1", "relu1", "conv2", "pool2", "bn2", "relu2",
        "conv3", "pool3", "bn3", "relu3", "dropout", "gap", "bn4", "relu4", "out",
    }  # fmt: skip
    assert set(calls.values()) == {1}
    assert count(model, nn.ReLU) == 4
    assert count(model, nn.MaxPool2d) == 3
    # no ReLU or pool object is shared between two attribute names
    relus = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.MaxPool2d))]
    assert len({id(m) for m in relus}) == 7
    # every ReLU runs as its module, once (a functional relu is ruled out by the composition test
    # below, which recomputes the output from the modules alone)
    relu_calls = sum(calls[n] for n, m in model.named_modules() if isinstance(m, nn.ReLU))
    assert relu_calls == 4


def test_cnn_forward_is_the_documented_composition():
    """Recompute the forward pass from the modules in the documented order (no hidden ops)."""
    torch.manual_seed(1)
    m = models.CNN(50, 3, side=8, channels=(2, 3, 4), kernels=(3, 3, 3)).eval()
    for bn in (m.bn1, m.bn2, m.bn3, m.bn4):  # non-trivial running statistics
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(5, 50)
    h = m.prepare(x)
    for conv, bn in ((m.conv1, m.bn1), (m.conv2, m.bn2), (m.conv3, m.bn3)):
        h = torch.clamp(bn(torch.nn.functional.max_pool2d(conv(h), 2)), min=0)
    assert tuple(h.shape) == (5, 4, 1, 1)  # 8 -> 4 -> 2 -> 1, 'same' convolutions
    expected = m.out(torch.clamp(m.bn4(h.mean(dim=(2, 3))), min=0))
    with torch.no_grad():
        assert torch.allclose(m(m.prepare(x)), expected, atol=1e-6)


def test_mlp_forward_is_the_documented_composition():
    torch.manual_seed(2)
    m = models.MLP(20, 3, hidden=8).eval()
    m.bn.running_mean.uniform_(-0.5, 0.5)
    m.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(6, 20)
    z = (x @ m.hidden.weight.T + m.hidden.bias - m.bn.running_mean) / torch.sqrt(
        m.bn.running_var + m.bn.eps
    ) * m.bn.weight + m.bn.bias
    expected = torch.clamp(z, min=0) @ m.out.weight.T + m.out.bias
    with torch.no_grad():
        assert torch.allclose(m(x), expected, atol=1e-5)


def nondeterministic_on_cuda() -> set[str]:
    """The torch.nn modules PyTorch documents as having no deterministic CUDA kernel (they raise
    under torch.use_deterministic_algorithms(True))."""
    doc = torch.use_deterministic_algorithms.__doc__
    section = doc[doc.index("normally-nondeterministic operations will throw") :]
    section = section[: section.index("\n\n", section.index("* "))]
    return set(re.findall(r"torch\.nn\.(\w+)`", section))


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_models_use_no_module_without_a_deterministic_cuda_kernel(arch):
    listed = nondeterministic_on_cuda()
    assert {"AdaptiveAvgPool2d", "MaxUnpool2d"} <= listed  # the list was found
    kwargs = {"side": 16, "channels": (2, 3, 4), "kernels": (3, 3, 3)} if arch == "cnn" else {}
    used = {type(m).__name__ for m in models.build(arch, 200, 3, **kwargs).modules()}
    assert used & listed == set()


def test_cnn_global_pool_averages_the_whole_map():
    model = models.CNN(200, 3, side=24, channels=(2, 3, 4), kernels=(3, 3, 3)).eval()
    h = torch.randn(5, 4, 3, 3)
    torch.testing.assert_close(model.gap(h).flatten(1), h.mean(dim=(2, 3)))
