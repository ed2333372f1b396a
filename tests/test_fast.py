"""The fast path equals the Captum path on the same model, inputs, masks and references."""

import numpy as np
import pytest
import torch

from txai import explain, fast, models

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


@pytest.mark.parametrize("explainer", fast.EXPLAINERS)
@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize(
    ("score", "keep"), [("abs_then_mean", False), ("mean_then_abs", False), ("abs_then_mean", True)]
)
def test_fast_path_equals_captum_path(mlp, inputs, explainer, setting, score, keep):
    x, target, pools = inputs
    strategy = explain.setting_for(SETTINGS[setting], explainer)
    runs = [
        explain.explain_model(
            mlp,
            explainer,
            x,
            target,
            strategy,
            pools,
            np.random.default_rng(5),
            replicates=2,
            score=score,
            keep_estimates=keep,
            ig_steps=20,
            use_fast=use_fast,
        )  # fmt: skip
        for use_fast in (False, True)
    ]
    captum, quick = runs
    assert [b[:2] for b in quick] == [b[:2] for b in captum]  # same replicates and estimates
    largest = max(np.abs(b[2]).max() for b in captum)
    assert largest > 0
    for (_, _, a), (_, _, b) in zip(captum, quick, strict=True):
        assert np.abs(a - b).max() <= 1e-5 * largest


def test_zero_references_and_a_single_reference(mlp, inputs):
    """The zero pool (all references equal) and K = 1 take the same shortcuts on both paths."""
    x, target, _ = inputs
    zero = np.zeros((N_SAMPLES, 5, N_GENES), dtype=np.float32)
    for explainer in ("DeepLift", "DeepLiftShap", "IntegratedGradients"):
        for count in (1, 3):
            setting = {"repeats": 2, "references": {"type": "zero", "count": count}}
            a, b = (
                explain.explain_model(
                    mlp,
                    explainer,
                    x,
                    target,
                    setting,
                    zero,
                    np.random.default_rng(1),
                    ig_steps=10,
                    use_fast=use_fast,
                )[0][2]  # fmt: skip
                for use_fast in (False, True)
            )
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * np.abs(a).max())


def test_fold_matches_eval_mode_batchnorm(mlp):
    x = torch.randn(8, N_GENES)
    weight, bias = fast.fold(mlp)
    expected = mlp.bn(mlp.hidden(x))
    torch.testing.assert_close(x @ weight.T + bias, expected, rtol=1e-5, atol=1e-5)


def test_applies_only_to_the_mlp():
    cnn = models.CNN(N_GENES, N_CLASSES, channels=(2, 4, 4), kernels=(3, 3, 3))
    assert fast.applies(models.MLP(N_GENES, N_CLASSES), "DeepLift")
    assert not fast.applies(cnn, "DeepLift")
