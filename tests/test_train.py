"""Training as the paper does (PAPER-DIGEST.md section 2): sampling, splits, seeds, checkpoints."""

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from txai import io, models, train
from txai.io import InputError

COMMON = dict(
    max_epochs=30, early_stopping=15, lr_patience=5, lr_factor=0.25, val_fraction=0.1,
    device="cpu", checkpoint_every=0, accuracy_floor=0.5, crossval_folds=2,
)  # fmt: skip
MLP = dict(models=2, hidden=16, dropout=0.25, lr=[0.01], weight_decay=[0.001], batch_size=[32])
CNN = dict(
    models=2, same_order_models=2, order="random", grid_multiple=8, channels=[2, 4, 4],
    kernels=[3, 3, 3], dropout=0.25, lr=[0.01], weight_decay=[0.001], batch_size=[32],
)  # fmt: skip
CONFIGS = {"mlp": MLP, "cnn": CNN}
SEED = 11


@pytest.fixture(autouse=True)
def one_thread():
    """One CPU thread: faster on a small shared machine, and bit-for-bit reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def synthetic(n_classes=5, per_class=30, n_genes=50, signal=3.0, test_per_class=6, seed=0):
    """Log-expression with a planted class signal: class c is up by `signal` on genes 5c..5c+4.

    Returns x (samples x genes, float32), y (class index) and the train mask (the rest is test).
    """
    r = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per_class)
    x = r.normal(5.0, 1.0, (y.size, n_genes)).astype(np.float32)
    for c in range(n_classes):
        x[y == c, 5 * c : 5 * c + 5] += signal
    train_mask = np.ones(y.size, dtype=bool)
    for c in range(n_classes):
        train_mask[r.permutation(np.flatnonzero(y == c))[:test_per_class]] = False
    return x, y, train_mask


def gene_table(n_genes=50) -> pd.DataFrame:
    return pd.DataFrame(
        {"gene": [f"G{j:03d}" for j in range(n_genes)],
         "chrom": [str(1 + j % 3) for j in range(n_genes)],
         "start": [1000 * j for j in range(n_genes)]}
    )  # fmt: skip


def common(**changes) -> dict:
    return {**COMMON, **changes}


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def accuracy_of(net, x, y, rows) -> float:
    logits = train.predict(net, torch.tensor(x[rows]))
    return float((logits.argmax(1).numpy() == y[rows]).mean())


# --- sampling and splits -----------------------------------------------------------------------


def test_upsample_balances_classes():
    labels = np.random.default_rng(0).permutation(np.repeat([0, 1, 2], [3, 7, 12]))
    rows = train.upsample(labels, np.random.default_rng(1))
    assert rows.shape == (36,) and rows.dtype.kind == "i"
    assert rows.min() >= 0 and rows.max() < labels.size
    assert Counter(labels[rows].tolist()) == {0: 12, 1: 12, 2: 12}
    # every original row appears at least once; the largest class's rows exactly once
    assert set(rows.tolist()) == set(range(labels.size))
    largest = np.flatnonzero(labels == 2)
    assert sorted(rows[np.isin(rows, largest)].tolist()) == sorted(largest.tolist())
    # shuffled, not class by class
    assert not np.all(np.diff(labels[rows]) >= 0)


def test_upsample_is_deterministic_for_a_seeded_generator():
    labels = np.repeat([0, 1, 2], [3, 7, 12])
    a = train.upsample(labels, np.random.default_rng(5))
    b = train.upsample(labels, np.random.default_rng(5))
    c = train.upsample(labels, np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_upsample_skips_absent_class_indices():
    labels = np.array([0, 0, 2, 2, 2, 2])  # class 1 absent
    rows = train.upsample(labels, np.random.default_rng(0))
    assert Counter(labels[rows].tolist()) == {0: 4, 2: 4}


def test_validation_mask_per_class():
    # counts 1, 10, 26, 5, 2 at fraction 0.1: round(0.1 * n) = -, 1, 3, 0 -> 1, 0 -> 1
    labels = np.random.default_rng(0).permutation(np.repeat([0, 1, 2, 3, 4], [1, 10, 26, 5, 2]))
    mask = train.validation_mask(labels, 0.1, np.random.default_rng(3))
    assert mask.dtype == bool and mask.shape == labels.shape
    assert [int(mask[labels == c].sum()) for c in range(5)] == [0, 1, 3, 1, 1]
    # fraction 0.5: round(5.0) = 5, round(13.0) = 13, round(2.5) -> 2 (half to even), round(1) = 1
    mask = train.validation_mask(labels, 0.5, np.random.default_rng(3))
    assert [int(mask[labels == c].sum()) for c in range(5)] == [0, 5, 13, 2, 1]
    again = train.validation_mask(labels, 0.5, np.random.default_rng(3))
    other = train.validation_mask(labels, 0.5, np.random.default_rng(4))
    assert np.array_equal(mask, again) and not np.array_equal(mask, other)


def test_folds_are_stratified():
    counts = [10, 7, 3, 1, 6]
    labels = np.random.default_rng(0).permutation(np.repeat(range(5), counts))
    k = 3
    fold = train.folds(labels, k, np.random.default_rng(1))
    assert fold.shape == labels.shape
    assert set(fold.tolist()) <= set(range(k))
    for c, n in enumerate(counts):
        per_fold = np.bincount(fold[labels == c], minlength=k)
        assert per_fold.sum() == n  # each row assigned exactly once
        assert all(abs(m - n / k) < 1 for m in per_fold), (c, per_fold)
    # 6 rows in 3 folds: exactly 2 each; 10 rows: 4, 3, 3
    assert np.bincount(fold[labels == 4], minlength=k).tolist() == [2, 2, 2]
    assert sorted(np.bincount(fold[labels == 0], minlength=k).tolist()) == [3, 3, 4]
    assert not np.array_equal(fold, train.folds(labels, k, np.random.default_rng(2)))


# --- hyperparameters and gene orders -----------------------------------------------------------


def test_hyperparameters_cycle_through_the_grid():
    arch = dict(lr=[0.1, 0.2], weight_decay=[0.001], batch_size=[8, 16])
    # itertools.product order: (0.1, 8), (0.1, 16), (0.2, 8), (0.2, 16)
    expected = [(0.1, 8), (0.1, 16), (0.2, 8), (0.2, 16), (0.1, 8), (0.1, 16)]
    for i, (lr, batch) in enumerate(expected, start=1):
        hp = train.hyperparameters(arch, COMMON, f"m{i:02d}")
        assert (hp["lr"], hp["weight_decay"], hp["batch_size"]) == (lr, 0.001, batch)
    assert train.hyperparameters(arch, COMMON, "s02")["batch_size"] == 16
    hp = train.hyperparameters(arch, COMMON, "m01")
    assert hp == dict(
        max_epochs=30, early_stopping=15, lr_patience=5, lr_factor=0.25, val_fraction=0.1,
        lr=0.1, weight_decay=0.001, batch_size=8,
    )  # fmt: skip


def test_arch_level_max_epochs_overrides_common():
    arch = dict(lr=[0.1], weight_decay=[0.001], batch_size=[8], max_epochs=7)
    hp = train.hyperparameters(arch, COMMON, "m01")
    assert hp["max_epochs"] == 7 and hp["early_stopping"] == 15


def test_gene_order_fixed_random_shared():
    genes = gene_table(40)
    assert np.array_equal(train.gene_order("fixed", genes, SEED, "m01"), np.arange(40))
    m1 = train.gene_order("random", genes, SEED, "m01")
    m2 = train.gene_order("random", genes, SEED, "m02")
    assert sorted(m1.tolist()) == list(range(40)) and sorted(m2.tolist()) == list(range(40))
    assert not np.array_equal(m1, m2) and not np.array_equal(m1, np.arange(40))
    assert np.array_equal(m1, train.gene_order("random", genes, SEED, "m01"))  # stable
    assert not np.array_equal(m1, train.gene_order("random", genes, SEED + 1, "m01"))
    s1 = train.gene_order("shared", genes, SEED, "s01")
    s2 = train.gene_order("shared", genes, SEED, "s02")
    assert np.array_equal(s1, s2) and sorted(s1.tolist()) == list(range(40))
    assert not np.array_equal(s1, m1)


def test_gene_order_genomic():
    genes = pd.DataFrame(
        {"gene": [f"g{i}" for i in range(10)],
         "chrom": ["10", "X", "1", "2", "1", "chr2", "Y", "X", "MT", "chr9"],
         "start": [5, 100, 500, 50, 20, 10, 1, 50, 3, 7]}
    )  # fmt: skip
    # chromosome 1: g4 (20), g2 (500); 2: g5 (10), g3 (50); 9: g9; 10: g0; X: g7 (50), g1 (100);
    # then Y: g6; then MT: g8
    order = train.gene_order("genomic", genes, SEED, "m01")
    assert order.tolist() == [4, 2, 5, 3, 9, 0, 7, 1, 6, 8]
    numeric = genes.assign(chrom=[10, 23, 1, 2, 1, 2, 24, 23, 25, 9])  # integer chromosomes
    assert train.gene_order("genomic", numeric, SEED, "m01").tolist() == order.tolist()


def test_gene_order_genomic_needs_coordinates():
    genes = gene_table(5)
    genes.loc[2, "chrom"] = None
    with pytest.raises(InputError, match="genomic"):
        train.gene_order("genomic", genes, SEED, "m01")
    genes = gene_table(5).assign(chrom=None, start=None)  # annotation without coordinates
    with pytest.raises(InputError, match="genomic"):
        train.gene_order("genomic", genes, SEED, "m01")


# --- scores ------------------------------------------------------------------------------------


def test_class_scores_by_hand():
    truth = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 2, 2])
    # confusion (rows truth, columns predicted): [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # precision 2/2, 1/2, 1/2; recall 2/3, 1/2, 1/1
    # F1 a: 2 * 1 * 2/3 / (5/3) = 0.8; b: 0.5; c: 2 * 0.5 * 1 / 1.5 = 2/3
    table = train.class_scores(truth, predicted, ["a", "b", "c"]).set_index("class")
    assert table.index.tolist() == ["a", "b", "c", "accuracy", "macro"]
    assert table["precision"].tolist() == pytest.approx([1, 0.5, 0.5, 4 / 6, 2 / 3])
    assert table["recall"].tolist() == pytest.approx([2 / 3, 0.5, 1, 4 / 6, 13 / 18])
    assert table["f1"].tolist() == pytest.approx([0.8, 0.5, 2 / 3, 4 / 6, 59 / 90])
    assert table["support"].tolist() == [3, 2, 1, 6, 6]


def test_class_scores_class_never_predicted_scores_zero():
    # class b is never predicted and class c never occurs: 0/0 counts as 0, not NaN
    truth = np.array([0, 0, 1, 1])
    predicted = np.array([0, 0, 0, 0])
    table = train.class_scores(truth, predicted, ["a", "b", "c"]).set_index("class")
    # a: precision 2/4, recall 1, F1 2 * 0.5 / 1.5 = 2/3
    assert table["precision"].tolist() == pytest.approx([0.5, 0, 0, 0.5, 0.5 / 3])
    assert table["recall"].tolist() == pytest.approx([1, 0, 0, 0.5, 1 / 3])
    assert table["f1"].tolist() == pytest.approx([2 / 3, 0, 0, 0.5, 2 / 9])
    assert table["support"].tolist() == [2, 2, 0, 4, 4]


# --- training ----------------------------------------------------------------------------------


def fit_data(seed=0):
    """(x_train, y_train, x_val, y_val) of the synthetic data, as fit() takes them."""
    x, y, train_mask = synthetic(seed=seed)
    xt, yt = torch.tensor(x), torch.tensor(y)
    val = torch.zeros(y.size, dtype=torch.bool)
    val[torch.arange(0, y.size, 10)] = True  # 15 rows, 3 per class
    fit_rows = torch.as_tensor(train_mask) & ~val
    return xt[fit_rows], yt[fit_rows], xt[val], yt[val]


def fresh(arch: str, init_seed: int):
    torch.manual_seed(init_seed)
    if arch == "mlp":
        return models.MLP(50, 5, hidden=16)
    order = np.random.default_rng(0).permutation(50)
    return models.CNN(50, 5, order=order, side=8, channels=(2, 4, 4), kernels=(3, 3, 3))


HP = dict(lr=0.01, weight_decay=0.001, batch_size=32, max_epochs=6, early_stopping=100,
          lr_patience=1, lr_factor=0.5)  # fmt: skip


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_same_seed_same_weights(arch):
    x, y, train_mask = synthetic()
    runs = [
        train.train_model(arch, model, CONFIGS[arch], common(max_epochs=3), seed, x, y,
                          train_mask, gene_table())[0].state_dict()
        for model, seed in (("m01", SEED), ("m01", SEED), ("m01", SEED + 1), ("m02", SEED))
    ]  # fmt: skip
    assert state_equal(runs[0], runs[1])
    assert not torch.equal(runs[0]["out.weight"], runs[2]["out.weight"])  # another seed
    assert not torch.equal(runs[0]["out.weight"], runs[3]["out.weight"])  # another model


class Interrupted(Exception):
    """Stands in for a preempted job."""


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_resume_from_checkpoint_matches_uninterrupted_run(arch, tmp_path, monkeypatch):
    data = fit_data()
    plain = fresh(arch, 1)
    plain_history = train.fit(plain, data, HP, seed=5)
    whole = fresh(arch, 1)
    history = train.fit(whole, data, HP, seed=5, checkpoint=tmp_path / "a.pt", checkpoint_every=2)
    weights = whole.state_dict()
    assert history["epoch"] == 6 and len(history["history"]) == 6
    assert history["best_epoch"] >= 4  # the best weights come from after the interruption
    assert history == plain_history and state_equal(weights, plain.state_dict())

    calls = {"n": 0}
    real = train.predict

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # predict runs once per epoch, after its training steps
            raise Interrupted
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "predict", flaky)
    checkpoint = tmp_path / "b.pt"
    with pytest.raises(Interrupted):
        train.fit(fresh(arch, 1), data, HP, seed=5, checkpoint=checkpoint, checkpoint_every=2)
    assert torch.load(checkpoint, weights_only=False)["state"]["epoch"] == 2

    calls["n"] = -100  # no more interruptions
    resumed = fresh(arch, 1)  # a new object, as a restarted job builds it
    again = train.fit(resumed, data, HP, seed=5, checkpoint=checkpoint, checkpoint_every=2)
    assert calls["n"] == -100 + 4  # epochs 3 to 6 only
    assert again == history
    assert state_equal(resumed.state_dict(), weights)


def noise_data():
    """(x_train, y_train, x_val, y_val) with no signal: the validation loss soon rises."""
    x, y, _ = synthetic(signal=0.0)
    rows = torch.as_tensor(np.random.default_rng(0).permutation(y.size))
    xt, yt = torch.tensor(x)[rows], torch.tensor(y)[rows]
    return xt[:100], yt[:100], xt[100:], yt[100:]


def test_fit_early_stops_and_keeps_the_best_epoch(tmp_path):
    data = noise_data()
    hp = {**HP, "lr": 0.05, "max_epochs": 40, "early_stopping": 2}
    checkpoint = tmp_path / "c.pt"
    first = fresh("mlp", 1)
    history = train.fit(first, data, hp, seed=5, checkpoint=checkpoint, checkpoint_every=1)
    losses = [h["val_loss"] for h in history["history"]]
    assert [h["epoch"] for h in history["history"]] == list(range(1, history["epoch"] + 1))
    assert history["epoch"] == history["best_epoch"] + 2 < 40  # stopped early
    assert history["best_loss"] == min(losses) == losses[history["best_epoch"] - 1]
    # the model holds the best epoch's weights, not the last epoch's
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["state"]["epoch"] == history["epoch"]
    assert state_equal(first.state_dict(), saved["state"]["best"])
    assert not torch.equal(first.state_dict()["out.weight"], saved["model"]["out.weight"])
    val_loss = torch.nn.functional.cross_entropy(train.predict(first, data[2]), data[3]).item()
    assert val_loss == pytest.approx(history["best_loss"], rel=1e-6)

    # a job killed after fit() stopped (checkpoint at that epoch) must not train on when rerun
    resumed = fresh("mlp", 1)
    again = train.fit(resumed, data, hp, seed=5, checkpoint=checkpoint, checkpoint_every=1)
    assert again == history
    assert state_equal(resumed.state_dict(), first.state_dict())


def test_resume_keeps_the_learning_rate_schedule(tmp_path):
    """A resumed run carries on the scheduler's state. Here epochs 2 and 3 are both worse than
    epoch 1, so with patience 1 the rate halves after epoch 3; a scheduler that forgot its state
    would count epoch 3 as a new best, keep the rate, and later epochs would differ."""
    data = noise_data()
    hp = {**HP, "lr": 0.05, "lr_patience": 1, "lr_factor": 0.5}
    whole = train.fit(fresh("mlp", 1), data, hp, seed=5)
    losses = [h["val_loss"] for h in whole["history"]]
    assert losses[0] < min(losses[1], losses[2])
    checkpoint = tmp_path / "e.pt"
    with pytest.raises(Interrupted):
        _interrupt_after(3, data, hp, checkpoint)  # leaves the epoch-2 checkpoint
    assert train.fit(fresh("mlp", 1), data, hp, seed=5, checkpoint=checkpoint) == whole


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    """A checkpoint left by a run with other hyperparameters (a failed job, then a config change)
    must not be resumed: the new run equals one that never saw it."""
    data = fit_data()
    checkpoint = tmp_path / "d.pt"
    with pytest.raises(Interrupted):
        _interrupt_after(3, data, HP, checkpoint)  # leaves the epoch-2 checkpoint
    assert checkpoint.exists()
    hp = {**HP, "lr": 0.02}
    clean = fresh("mlp", 1)
    expected = train.fit(clean, data, hp, seed=5)
    net = fresh("mlp", 1)
    assert train.fit(net, data, hp, seed=5, checkpoint=checkpoint, checkpoint_every=2) == expected
    assert state_equal(net.state_dict(), clean.state_dict())


def _interrupt_after(epochs: int, data, hp, checkpoint):
    """fit() from the MLP `fresh("mlp", 1)`, checkpointing every 2 epochs, that stops with
    Interrupted when epoch `epochs` + 1 validates."""
    real, calls = train.predict, {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > epochs:
            raise Interrupted
        return real(*args, **kwargs)

    train.predict = flaky
    try:
        train.fit(fresh("mlp", 1), data, hp, seed=5, checkpoint=checkpoint, checkpoint_every=2)
    finally:
        train.predict = real


@pytest.mark.parametrize(("arch", "floor"), [("mlp", 0.9), ("cnn", 0.8)])
def test_tiny_run_beats_chance(arch, floor):
    x, y, train_mask = synthetic()
    # channels 2, 4, 4 reach 0.67-0.77 in 25 epochs: a little wider is still tiny and fast
    config = {**CONFIGS[arch], "channels": [4, 8, 16]} if arch == "cnn" else MLP
    net, kwargs, record = train.train_model(
        arch, "m01", config, common(max_epochs=25), SEED, x, y, train_mask, gene_table()
    )
    accuracy = accuracy_of(net, x, y, ~train_mask)
    assert accuracy >= floor, accuracy  # chance is 0.2 with 5 classes
    assert record["n_train"] + record["n_validation"] == train_mask.sum() == 120
    assert record["n_validation"] == 5 * 2  # max(1, round(0.1 * 24)) per class
    assert record["epochs_run"] == 25 and 1 <= record["best_epoch"] <= 25


# --- run(): files on disk ----------------------------------------------------------------------


def write_inputs(folder, x, y, train_mask):
    """expression, samples and genes files as the data stage writes them (sheet shuffled)."""
    samples = [f"S{i:03d}" for i in range(y.size)]
    genes = gene_table(x.shape[1])
    io.write_expression(samples, genes["gene"].tolist(), x, folder / "expression.parquet")
    sheet = pd.DataFrame(
        {"sample": samples, "class": [f"class{c}" for c in y], "class_index": y,
         "split": np.where(train_mask, "train", "test")}
    ).sample(frac=1, random_state=0)  # fmt: skip
    io.write_table(sheet, folder / "samples.parquet")
    io.write_table(genes, folder / "genes.parquet")
    return {name: folder / f"{name}.parquet" for name in ("expression", "samples", "genes")}


def run(inputs, out, arch="mlp", model="m01", **changes):
    train.run(
        **inputs, arch=arch, models=[model], arch_config=CONFIGS[arch],
        common=common(max_epochs=8, **changes), seed=SEED,
        out_models=[out / "model.pt"], out_metas=[out / "meta.json"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("arch", "model", "kind"),
    [("mlp", "m02", None), ("cnn", "m01", "random"), ("cnn", "s01", "shared")],
)
def test_run_writes_model_and_meta(arch, model, kind, tmp_path, monkeypatch):
    x, y, train_mask = synthetic()
    inputs = write_inputs(tmp_path, x, y, train_mask)
    seen, saves = [], []
    real_predict, real_save = train.predict, train.save_torch

    def recording(model, xs, *args, **kwargs):
        logits = real_predict(model, xs, *args, **kwargs)
        seen.append((xs.clone(), logits.clone()))
        return logits

    def saving(obj, path):
        saves.append(Path(path).name)
        real_save(obj, path)

    monkeypatch.setattr(train, "predict", recording)
    monkeypatch.setattr(train, "save_torch", saving)
    # 8 epochs of the 2-4-4 CNN reach only 0.57-0.67 here: a floor well below that
    run(inputs, tmp_path / "a", arch=arch, model=model, accuracy_floor=0.3, checkpoint_every=2)
    monkeypatch.undo()

    # checkpoints at epochs 2, 4, 6, 8 and at the end, then the model; the checkpoint is gone
    assert saves == ["checkpoint.pt"] * 5 + ["model.pt"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["meta.json", "model.pt"]
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert set(meta) >= {
        "arch", "model", "seed", "hyperparameters", "order", "gene_order", "classes",
        "test_accuracy", "epochs_run", "best_epoch", "n_train", "n_validation", "n_test",
    }  # fmt: skip
    assert (meta["arch"], meta["model"]) == (arch, model)
    assert meta["seed"] == int(io.rng(SEED, "train", arch, model).integers(2**31))
    assert meta["classes"] == [f"class{c}" for c in range(5)]
    assert (meta["n_train"], meta["n_validation"], meta["n_test"]) == (110, 10, 30)
    assert meta["epochs_run"] == 8 and 1 <= meta["best_epoch"] <= 8
    hp = meta["hyperparameters"]
    assert {k: hp[k] for k in ("lr", "weight_decay", "batch_size", "max_epochs")} == dict(
        lr=0.01, weight_decay=0.001, batch_size=32, max_epochs=8
    )
    gene_ids = gene_table()["gene"].tolist()
    if arch == "mlp":
        assert meta["order"] is None and meta["gene_order"] == gene_ids
        assert hp["hidden"] == 16
    else:
        order = train.gene_order(kind, gene_table(), SEED, model)
        assert meta["order"] == kind
        assert meta["gene_order"] == [gene_ids[i] for i in order] != gene_ids
        assert hp["channels"] == [2, 4, 4] and hp["side"] == 8

    # the saved model predicts the logits run() computed before saving
    test_rows, logits = seen[-1]
    assert torch.equal(test_rows, torch.tensor(x[~train_mask]))
    loaded = train.load_model(tmp_path / "a" / "model.pt")
    assert not loaded.training
    again = train.predict(loaded, test_rows)
    assert torch.equal(again, logits)
    accuracy = float((again.argmax(1).numpy() == y[~train_mask]).mean())
    assert meta["test_accuracy"] == accuracy >= (0.9 if arch == "mlp" else 0.3)
    if arch == "cnn":
        assert loaded.order.tolist() == order.tolist()

    # the same inputs give the same bytes
    run(inputs, tmp_path / "b", arch=arch, model=model, accuracy_floor=0.3, checkpoint_every=2)
    for name in ("model.pt", "meta.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_run_below_accuracy_floor_fails_without_model(tmp_path, monkeypatch):
    x, y, train_mask = synthetic(signal=0.0)  # labels carry no signal
    inputs = write_inputs(tmp_path, x, y, train_mask)
    seen = []
    real = train.predict
    monkeypatch.setattr(train, "predict", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    with pytest.raises(train.AccuracyError) as caught:
        run(inputs, tmp_path / "out", model="m02", accuracy_floor=0.9)
    accuracy = float((seen[-1].argmax(1).numpy() == y[~train_mask]).mean())
    assert accuracy < 0.9
    message = str(caught.value)
    assert "mlp m02" in message and f"{accuracy:.4f}" in message
    assert re.search(r"floor 0\.9\b", message)
    assert not (tmp_path / "out" / "model.pt").exists()
    assert not (tmp_path / "out" / "meta.json").exists()


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_bf16_training_through_its_cpu_twin(arch):
    """The GPU's default training arithmetic on the CPU: forward passes in bfloat16 under
    autocast, weights and optimiser in float32; it learns as float32 training does."""
    data = fit_data()
    seen = []
    model = fresh(arch, 1)
    first = model.hidden if arch == "mlp" else model.conv1
    first.register_forward_hook(lambda m, i, o: seen.append(o.dtype) if m.training else None)
    history = train.fit(model, data, {**HP, "precision": "bf16"}, seed=5)
    assert set(seen) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    plain = train.fit(fresh(arch, 1), data, HP, seed=5)  # fp32, the default
    assert history["best_loss"] == pytest.approx(plain["best_loss"], rel=0.1)
    assert history["best_loss"] != plain["best_loss"]  # another arithmetic
    if arch == "mlp":  # the tiny CNN learns little in six epochs, in either arithmetic
        assert history["history"][-1]["val_acc"] >= 0.9


def test_the_arithmetic_is_chosen_and_set_explicitly():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert (
        train.precision_for("auto", cpu) == "fp32" and train.precision_for("auto", cuda) == "bf16"
    )
    assert train.precision_for("tf32", cpu) == "tf32"
    for kind, mode in (("tf32", "tf32"), ("bf16", "ieee"), ("fp32", "ieee")):
        train.float32_arithmetic(kind)
        assert io.float32_precision(torch) == {"cuda_matmul": mode, "cudnn_conv": mode}


def test_a_stopped_packed_job_trains_no_model_twice(tmp_path, monkeypatch):
    """A job of three models stopped while training the third: its rerun (Snakemake deleted
    the outputs) resumes the first two at their last epoch and the third where it was, to the
    bytes of an uninterrupted job; the checkpoints are gone once the job ends."""
    x, y, train_mask = synthetic()
    inputs = write_inputs(tmp_path, x, y, train_mask)
    models = ["m01", "m02", "m03"]

    def packed(folder):
        out = [tmp_path / folder / m for m in models]
        train.run(
            **inputs, arch="mlp", models=models, arch_config=CONFIGS["mlp"],
            common=common(max_epochs=8, checkpoint_every=2), seed=SEED,
            out_models=[o / "model.pt" for o in out], out_metas=[o / "meta.json" for o in out],
        )  # fmt: skip
        return [(o / name).read_bytes() for o in out for name in ("model.pt", "meta.json")]

    whole = packed("whole")
    epochs, real = [], train.predict

    def stopped(model, xs, *args, **kwargs):  # predict runs once per epoch, then for the test
        epochs.append(1)
        if len(epochs) == 2 * 9 + 5:  # two models (8 epochs and the test each), then 5 epochs
            raise KeyboardInterrupt
        return real(model, xs, *args, **kwargs)

    monkeypatch.setattr(train, "predict", stopped)
    with pytest.raises(KeyboardInterrupt):
        packed("stopped")
    for m in models:  # as Snakemake deletes a stopped job's outputs
        for name in ("model.pt", "meta.json"):
            (tmp_path / "stopped" / m / name).unlink(missing_ok=True)
    epochs.clear()
    monkeypatch.setattr(train, "predict", lambda *a, **k: epochs.append(1) or real(*a, **k))
    assert packed("stopped") == whole
    assert len(epochs) == 1 + 1 + (8 - 4) + 1  # the first two: their test; the third: on from 4
    assert not list((tmp_path / "stopped").rglob("checkpoint.pt"))
