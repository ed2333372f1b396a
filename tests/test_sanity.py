"""Sanity checks: explainers on a model that ignores genes by construction, randomisation."""

import numpy as np
import pandas as pd
import pytest
import torch

from txai import explain, io, models, sanity
from txai.explainers import TABLE

N_GENES, N_CLASSES, IGNORED = 20, 3, slice(10, 20)


@pytest.fixture(scope="module")
def half_blind():
    """An MLP whose hidden layer has zero weights for genes 10-19: its output ignores them."""
    torch.manual_seed(0)
    model = models.MLP(N_GENES, N_CLASSES, hidden=8).eval()
    with torch.no_grad():
        model.hidden.weight[:, IGNORED] = 0
        model.bn.running_mean.normal_(0, 0.5)
    return model


@pytest.mark.parametrize("explainer", [name for name, e in TABLE.items() if not e.convolutional])
@pytest.mark.parametrize("use_fast", [False, True])
def test_ignored_genes_score_zero(half_blind, explainer, use_fast):
    r = np.random.default_rng(0)
    x = np.abs(r.normal(2, 1, (5, N_GENES))).astype(np.float32)
    pools = np.abs(r.normal(1, 1, (5, 4, N_GENES))).astype(np.float32)
    setting = explain.setting_for(
        {"repeats": 2, "references": {"type": "universal", "count": 2}}, explainer
    )
    scores = explain.explain_model(
        half_blind, explainer, x, np.arange(5) % N_CLASSES, setting, pools,
        np.random.default_rng(1), ig_steps=10, use_fast=use_fast,
    )[0][2]  # fmt: skip
    assert np.all(scores[:, IGNORED] == 0)
    assert scores[:, :10].max() > 0
    randomised = sanity.randomised(half_blind, "mlp", ["hidden"], seed=3)
    other = explain.explain_model(
        randomised, explainer, x, np.arange(5) % N_CLASSES, setting, pools,
        np.random.default_rng(1), ig_steps=10, use_fast=use_fast,
    )[0][2]  # fmt: skip
    assert other[:, IGNORED].max() > 0  # the re-initialised layer sees every gene
    assert sanity.compare(scores, other, k=5)[0] < 0.9


def test_randomised_changes_only_the_named_layers():
    torch.manual_seed(0)
    cnn = models.CNN(30, N_CLASSES, channels=(2, 3, 4), kernels=(3, 3, 3)).eval()
    with torch.no_grad():  # BatchNorm away from its initial identity
        for bn in (cnn.bn1, cnn.bn2, cnn.bn3, cnn.bn4):
            bn.weight.uniform_(0.5, 1.5)
            bn.running_var.uniform_(0.5, 2)
    copy = sanity.randomised(cnn, "cnn", ["output", "block 3"], seed=1)
    changed = {
        name
        for name, value in cnn.state_dict().items()
        if not torch.equal(value, copy.state_dict()[name])
    }
    assert {n.split(".")[0] for n in changed} == {"out", "bn4", "conv3", "bn3"}
    assert torch.equal(copy.bn3.running_var, torch.ones(4))  # fresh statistics
    assert all(
        p.data_ptr() != q.data_ptr()
        for p, q in zip(cnn.parameters(), copy.parameters(), strict=True)
    )


def test_variants_cascade_then_one_at_a_time():
    model = models.MLP(N_GENES, N_CLASSES, hidden=4)
    got = [(kind, layer, step) for kind, layer, step, _ in sanity.variants(model, "mlp", 0)]
    assert got == [
        ("cascading", "output", 1), ("cascading", "hidden", 2),
        ("independent", "output", 1), ("independent", "hidden", 2),
    ]  # fmt: skip


def test_compare_known_values():
    a = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])
    rho, overlap = sanity.compare(a, a[:, ::-1].copy(), k=2)
    assert rho == -1.0 and overlap == 0.0
    assert sanity.compare(a, a * 2, k=2) == (1.0, 2.0)


def test_summary_passes_only_when_both_randomisations_break_the_scores(tmp_path):
    rows = []
    for explainer, cascade, labels in (("A", 0.2, 0.1), ("B", 0.2, 0.7), ("C", 0.8, 0.1)):
        rows += [
            {"arch": "mlp", "explainer": explainer, "randomisation": "cascading",
             "layer": "output", "step": 1, "rho": 0.9},
            {"arch": "mlp", "explainer": explainer, "randomisation": "cascading",
             "layer": "hidden", "step": 2, "rho": cascade},
            {"arch": "mlp", "explainer": explainer, "randomisation": "labels",
             "layer": "permuted labels", "step": 1, "rho": labels},
        ]  # fmt: skip
    io.write_table(pd.DataFrame(rows), tmp_path / "mlp.parquet")
    table = sanity.summary([tmp_path / "mlp.parquet"], threshold=0.5)
    verdict = table.drop_duplicates("explainer").set_index("explainer")["passes"]
    assert verdict.to_dict() == {"A": True, "B": False, "C": False}


def test_permuted_model_memorises_random_labels():
    r = np.random.default_rng(0)
    x = r.normal(0, 1, (60, N_GENES)).astype(np.float32)
    y = np.arange(60) % N_CLASSES
    arch_config = {"hidden": 64, "dropout": 0.0, "lr": [0.01], "weight_decay": [0.0],
                   "batch_size": [16]}  # fmt: skip
    common = {"max_epochs": 1, "early_stopping": 1, "lr_patience": 50, "lr_factor": 0.5,
              "val_fraction": 0.1, "device": "cpu"}  # fmt: skip
    genes = pd.DataFrame({"gene": [f"g{i}" for i in range(N_GENES)]})
    train = np.ones(60, dtype=bool)
    net, accuracy = sanity.permuted_model("mlp", arch_config, common, 1, x, y, train, genes, 150)
    assert accuracy > 0.9  # memorised labels that carry no signal
    assert isinstance(net, models.MLP) and not net.training


def test_summary_counts_constant_scores_as_changed(tmp_path):
    rows = [
        {"arch": "cnn", "explainer": "E", "randomisation": "cascading", "layer": "output",
         "step": 1, "rho": float("nan")},
        {"arch": "cnn", "explainer": "E", "randomisation": "labels", "layer": "permuted labels",
         "step": 1, "rho": 0.2},
    ]  # fmt: skip
    io.write_table(pd.DataFrame(rows), tmp_path / "cnn.parquet")
    assert sanity.summary([tmp_path / "cnn.parquet"], threshold=0.5)["passes"].all()
