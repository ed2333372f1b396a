"""The fast paths run where they apply and equal the Captum backend on the same model, inputs,
masks and references."""

import numpy as np
import pytest
import torch

from txai import captum_backend, explain, fast, fast_cnn, models
from txai.explainers import TABLE

MLP_EXPLAINERS = [name for name, record in TABLE.items() if not record.convolutional]

N_GENES, N_CLASSES, N_SAMPLES = 40, 5, 6


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    model = models.MLP(N_GENES, N_CLASSES, hidden=16)
    model.train()
    for _ in range(5):  # non-trivial BatchNorm running statistics
        model(torch.randn(64, N_GENES) * 2 + 1)
    return model.eval()


@pytest.fixture(scope="module")
def inputs():
    r = np.random.default_rng(0)
    x = np.abs(r.normal(2, 1, (N_SAMPLES, N_GENES))).astype(np.float32)
    pools = np.abs(r.normal(1, 1, (N_SAMPLES, 7, N_GENES))).astype(np.float32)
    return x, np.arange(N_SAMPLES) % N_CLASSES, pools


SETTINGS = {
    "repeats x references": {"repeats": 3, "references": {"type": "universal", "count": 4}},
    "smoothgrad": {
        "repeats": 2,
        "references": {"type": "universal", "count": 2},
        "smoothgrad": {"copies": 2, "sd": 1.0},
    },
}


SCORES = [("abs_then_mean", False), ("mean_then_abs", False), ("abs_then_mean", True)]


@pytest.fixture(autouse=True)
def ran(monkeypatch) -> list:
    """The backends that computed a replicate, in order: each backend's `estimates` spied on."""
    calls = []
    for backend in explain.BACKENDS:

        def spy(model, task, repeats, backend=backend, original=backend.estimates):
            calls.append(backend)
            yield from original(model, task, repeats)

        monkeypatch.setattr(backend, "estimates", spy)
    return calls


def both_paths(ran, model, explainer, x, target, setting, pools, **kwargs):
    """The Captum backend's and the fast path's blocks on the same draws; each ran where it
    should: Captum's when asked for, else the model's fast path, once a replicate."""
    strategy = explain.setting_for(setting, explainer)
    out = []
    fast_path = fast if isinstance(model, models.MLP) else fast_cnn
    for use_fast, backend in ((False, captum_backend), (True, fast_path)):
        ran.clear()
        out.append(
            explain.explain_model(
                model,
                explainer,
                x,
                target,
                strategy,
                pools,
                np.random.default_rng(5),
                ig_steps=20,
                use_fast=use_fast,
                **kwargs,
            )  # fmt: skip
        )
        assert ran == [backend] * kwargs.get("replicates", 1)
    return out


def assert_same(captum, quick):
    assert [b[:2] for b in quick] == [b[:2] for b in captum]  # same replicates and estimates
    largest = max(np.abs(b[2]).max() for b in captum)
    assert largest > 0
    for (_, _, a), (_, _, b) in zip(captum, quick, strict=True):
        assert np.abs(a - b).max() <= 1e-5 * largest


@pytest.mark.parametrize("explainer", MLP_EXPLAINERS)
@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize(("score", "keep"), SCORES)
def test_fast_path_equals_captum_path(ran, mlp, inputs, explainer, setting, score, keep):
    x, target, pools = inputs
    captum, quick = both_paths(
        ran, mlp, explainer, x, target, SETTINGS[setting], pools, replicates=2, score=score,
        keep_estimates=keep,
    )  # fmt: skip
    assert_same(captum, quick)


@pytest.mark.parametrize("explainer", [n for n, e in TABLE.items() if e.references])
@pytest.mark.parametrize("count", [1, 3])
def test_zero_references_and_a_single_reference(ran, mlp, inputs, explainer, count):
    """The zero pool (all references equal) and K = 1 take the same shortcuts on both paths."""
    x, target, _ = inputs
    zero = np.zeros((N_SAMPLES, 5, N_GENES), dtype=np.float32)
    setting = {"repeats": 2, "references": {"type": "zero", "count": count}}
    captum, quick = both_paths(ran, mlp, explainer, x, target, setting, zero, keep_estimates=True)
    per_repeat = 1 if TABLE[explainer].averages_references else count
    assert len(quick) == 2 * per_repeat  # the K equal estimates of each repeat are all counted
    assert_same(captum, quick)


def test_fold_matches_eval_mode_batchnorm(mlp):
    x = torch.randn(8, N_GENES)
    weight, bias = fast.fold(mlp)
    expected = mlp.bn(mlp.hidden(x))
    torch.testing.assert_close(x @ weight.T + bias, expected, rtol=1e-5, atol=1e-5)


def test_each_backend_serves_its_architecture():
    cnn = models.CNN(N_GENES, N_CLASSES, channels=(2, 4, 4), kernels=(3, 3, 3))
    mlp = models.MLP(N_GENES, N_CLASSES)
    for name, record in TABLE.items():
        assert fast.serves(mlp, record) == (not record.convolutional), name
        assert fast_cnn.serves(cnn, record) and not fast_cnn.serves(mlp, record)
        assert not fast.serves(cnn, record)
        assert captum_backend.serves(cnn, record)
        assert captum_backend.serves(mlp, record) == (not record.convolutional)
        backend = explain.backend_for(mlp if not record.convolutional else cnn, record)
        assert backend is (fast if not record.convolutional else fast_cnn)
    with pytest.raises(ValueError, match="no backend computes GuidedGradCam on a MLP"):
        explain.backend_for(mlp, TABLE["GuidedGradCam"])


@pytest.fixture(scope="module")
def cnn():
    """A small CNN whose BatchNorm statistics and affine terms are not the identity, with genes
    in a shuffled grid order and padding cells (50 genes on an 8 x 8 grid)."""
    torch.manual_seed(0)
    order = np.random.default_rng(0).permutation(50)
    model = models.CNN(50, N_CLASSES, order=order, channels=(4, 6, 8), kernels=(3, 3, 3))
    with torch.no_grad():
        for bn in (model.bn1, model.bn2, model.bn3, model.bn4):
            bn.running_mean.normal_(0, 0.3)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def cnn_inputs():
    r = np.random.default_rng(1)
    x = np.abs(r.normal(2, 1, (4, 50))).astype(np.float32)
    pools = np.abs(r.normal(1, 1, (4, 7, 50))).astype(np.float32)
    return x, np.arange(4) % N_CLASSES, pools


CNN_SETTINGS = {
    "universal": ({"repeats": 3, "references": {"type": "universal", "count": 3}}, "pools"),
    "zero": ({"repeats": 3, "references": {"type": "zero", "count": 3}}, "zero"),
    "smoothgrad": (
        {"repeats": 2, "references": {"type": "universal", "count": 2},
         "smoothgrad": {"copies": 2, "sd": 1.0}},
        "pools",
    ),
}  # fmt: skip


@pytest.mark.parametrize("explainer", list(TABLE))
@pytest.mark.parametrize("setting", CNN_SETTINGS)
@pytest.mark.parametrize(("score", "keep"), SCORES)
def test_cnn_fast_path_equals_captum_path(ran, cnn, cnn_inputs, explainer, setting, score, keep):
    x, target, pools = cnn_inputs
    strategy, kind = CNN_SETTINGS[setting]
    pools = np.zeros_like(pools) if kind == "zero" else pools
    captum, quick = both_paths(
        ran,
        cnn,
        explainer,
        x,
        target,
        strategy,
        pools,
        replicates=2,
        score=score,
        keep_estimates=keep,
    )
    assert_same(captum, quick)


@pytest.mark.parametrize(
    "explainer", ["Saliency", "IntegratedGradients", "DeepLift", "DeepLiftShap"]
)
@pytest.mark.parametrize("kind", ["zero", "pools"])
def test_cnn_chunks_split_repeats_and_reuse_the_trunk(
    ran, cnn, cnn_inputs, explainer, kind, monkeypatch
):
    """With room for one estimate a batch, every repeat is its own batch: the trunk's forward
    values are reused across batches (the same inputs: x, zero references) or computed once a
    batch for all its estimates together (drawn references)."""
    x, target, pools = cnn_inputs
    pools = np.zeros_like(pools) if kind == "zero" else pools
    setting = {"repeats": 4, "references": {"type": kind, "count": 2}}
    monkeypatch.setattr(fast_cnn, "CHUNK_VALUES", 1)
    forwards = []
    monkeypatch.setattr(
        fast_cnn, "trunk", lambda m, g, f=fast_cnn.trunk: forwards.append(1) or f(m, g)
    )
    captum, quick = both_paths(ran, cnn, explainer, x, target, setting, pools, keep_estimates=True)
    assert_same(captum, quick)
    halves = 2 if explainer.startswith("DeepLift") else 1
    shared = kind == "zero" or explainer == "Saliency"  # Saliency explains x alone
    assert len(forwards) == halves * (1 if shared else 4)  # else: one forward a repeat


def test_cnn_trunk_matches_the_model(cnn, cnn_inputs):
    """The trunk's forward values and the head reproduce the model's logits; `route` marks one
    argmax per 2 x 2 window."""
    x = torch.as_tensor(cnn_inputs[0])
    grid = cnn.prepare(x)
    blocks = fast_cnn.trunk(cnn, grid)
    torch.testing.assert_close(blocks[-1].y, cnn.relu3(cnn.bn3(cnn.pool3(cnn.conv3(
        cnn.relu2(cnn.bn2(cnn.pool2(cnn.conv2(cnn.relu1(cnn.bn1(cnn.pool1(cnn.conv1(grid))))))))
    )))))  # fmt: skip
    for block in blocks:
        windows = block.route.unfold(2, 2, 2).unfold(3, 2, 2).sum((-2, -1))
        assert torch.equal(windows, torch.ones_like(windows))
        torch.testing.assert_close((block.z * block.route).unfold(2, 2, 2).unfold(3, 2, 2)
                                   .sum((-2, -1)), block.p)  # fmt: skip


SLICED_CNN = ("Saliency", "IntegratedGradients", "DeepLiftShap", "GuidedGradCamPlusPlus")


@pytest.mark.parametrize(("arch", "explainer"), [
    *(("mlp", e) for e in MLP_EXPLAINERS), *(("cnn", e) for e in SLICED_CNN)
])  # fmt: skip
@pytest.mark.parametrize("kind", ["pools", "zero"])
def test_a_small_memory_budget_slices_the_work_not_the_result(
    ran, mlp, cnn, inputs, cnn_inputs, monkeypatch, arch, explainer, kind
):
    """With room for a row or two a batch, the fast paths take a few samples, items or IG steps
    at a time: the estimates equal the unsliced ones (to float rounding), in the same order."""
    model, (x, target, pools) = (mlp, inputs) if arch == "mlp" else (cnn, cnn_inputs)
    pools = np.zeros_like(pools) if kind == "zero" else pools
    setting = explain.setting_for(
        {"repeats": 2, "references": {"type": kind, "count": 3},
         "smoothgrad": {"copies": 2, "sd": 0.5}}, explainer,
    )  # fmt: skip
    backend = fast if arch == "mlp" else fast_cnn
    batches = []
    spied = "_products" if arch == "mlp" else "_batch"
    original = getattr(backend, spied)
    monkeypatch.setattr(backend, spied, lambda *a, **k: batches.append(1) or original(*a, **k))
    blocks = {}
    for budget in (None, 1e-4):
        batches.clear()
        blocks[budget] = explain.explain_model(
            model, explainer, x, target, setting, pools, np.random.default_rng(3), replicates=2,
            keep_estimates=True, ig_steps=4, memory_mb=budget,
        )  # fmt: skip
        counts = len(batches)
    assert counts > 2  # sliced: many small batches
    assert_same(blocks[None], blocks[1e-4])


def test_steps_in_groups_reuse_no_other_groups_forward(cnn, cnn_inputs):
    """IntegratedGradients on the zero pool, one sample, room for two trunk rows: the path's
    steps go two at a time, each group its own forward (the shared trunk cache is per group)."""
    x, target, pools = cnn_inputs
    setting = {"repeats": 2, "references": {"type": "zero", "count": 3}}
    zero = np.zeros_like(pools)[:1]
    room = 2 * fast_cnn.row_bytes(cnn) / 2**20  # two rows
    blocks = [
        explain.explain_model(
            cnn,
            "IntegratedGradients",
            x[:1],
            target[:1],
            setting,
            zero,
            np.random.default_rng(3),
            keep_estimates=True,
            ig_steps=8,
            memory_mb=budget,
        )  # fmt: skip
        for budget in (None, room)
    ]
    assert_same(*blocks)
