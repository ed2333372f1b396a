"""Training the MLP and CNN ensembles as the paper does (PAPER-DIGEST.md section 2).

Adam on cross-entropy, weight decay 1e-3, batch 256, up-sampling every epoch, ReduceLROnPlateau on
the validation loss (factor 0.25, patience 5), early stopping keeping the best checkpoint. The
validation set is carved per model from the shared training split; the test split is never seen.
A checkpoint every few epochs lets a preempted job resume to the weights of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import pickle
import platform
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from txai import io, models
from txai.io import InputError, TxaiError

log = logging.getLogger(__name__)

JITTERED = ("lr", "weight_decay", "batch_size")


class AccuracyError(TxaiError):
    """A trained model is below the accuracy floor of the config."""


def device(choice: str = "auto") -> torch.device:
    """`cuda` when present (or asked for), else the CPU. Asked for where there is none, the
    job stops, naming the node: the check belongs to the node a job runs on, not the workflow."""
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise InputError(
            f"config key 'train.device': cuda, but {platform.node()} has no CUDA device that "
            f"torch {torch.__version__} ({build}) can use. Run the job on a node with a GPU "
            "(profiles/slurm sends training and attribution to its GPU partition), or set "
            "train.device: auto (the CPU where there is no GPU)."
        )
    return torch.device(choice)


def precision_for(choice: str, dev: torch.device) -> str:
    """train.precision: `auto` is bf16 on CUDA (autocast), fp32 on the CPU."""
    if choice == "auto":
        return "bf16" if dev.type == "cuda" else "fp32"
    return choice


def float32_arithmetic(kind: str) -> None:
    """Set PyTorch's float32 arithmetic on the GPU explicitly, never inheriting its default
    (TF32 convolutions): TF32 matmuls and convolutions for `tf32`, full precision otherwise
    (`fp32`; `bf16` autocasts and keeps the rest in full precision). No effect on the CPU."""
    mode = "tf32" if kind == "tf32" else "ieee"
    torch.backends.cuda.matmul.fp32_precision = mode
    torch.backends.cudnn.conv.fp32_precision = mode


def hyperparameters(arch_config: dict, common: dict, model: str) -> dict:
    """One model's hyperparameters: the config grid's combination number (index mod grid size)."""
    grid = list(itertools.product(*(arch_config[key] for key in JITTERED)))
    index = int(model[1:]) - 1
    chosen = dict(zip(JITTERED, grid[index % len(grid)], strict=True))
    keys = ("max_epochs", "early_stopping", "lr_patience", "lr_factor", "val_fraction")
    return {**{k: arch_config.get(k, common[k]) for k in keys}, **chosen}


def gene_order(kind: str, genes: pd.DataFrame, seed: int, model: str) -> np.ndarray:
    """Grid order of the genes (canonical indices): fixed, random (per model), shared, genomic."""
    n = len(genes)
    if kind == "fixed":
        return np.arange(n)
    if kind == "genomic":
        if genes[["chrom", "start"]].isna().any().any():
            raise io.InputError(
                "config: train.cnn.order: genomic needs chrom and start for every gene; the gene "
                "annotation (cohort.files.genes) lacks some. Use order: random or fixed."
            )
        # Numbered chromosomes in numeric order, then X, Y, M/MT, then any other contig by name.
        # (Not by hash(): string hashes differ between Python processes.)
        chrom = genes["chrom"].astype(str).str.removeprefix("chr")
        number = pd.to_numeric(chrom, errors="coerce")
        named = chrom.map({"X": 0, "Y": 1, "M": 2, "MT": 2}).fillna(3)
        keys = (genes["start"].to_numpy(), chrom.to_numpy(dtype=str), named.to_numpy())
        return np.lexsort((*keys, number.fillna(0).to_numpy(), number.isna().to_numpy()))
    stream = ("order", "shared") if kind == "shared" else ("order", model)
    return io.rng(seed, *stream).permutation(n)


def validation_mask(labels: np.ndarray, fraction: float, r: np.random.Generator) -> np.ndarray:
    """Per class, max(1, round(fraction * n)) rows for validation (none from a 1-row class)."""
    mask = np.zeros(labels.size, dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if idx.size > 1:
            mask[r.permutation(idx)[: max(1, round(fraction * idx.size))]] = True
    return mask


def upsample(labels: np.ndarray, r: np.random.Generator) -> np.ndarray:
    """Row indices of one epoch: every class up to the largest class's size, shuffled.

    Each class contributes all its rows, then rows drawn at random (with replacement) until it
    has as many as the largest class.
    """
    counts = np.bincount(labels)
    target = counts.max()
    parts = []
    for c in np.flatnonzero(counts):
        idx = np.flatnonzero(labels == c)
        parts += [idx, r.choice(idx, target - idx.size, replace=True)]
    return r.permutation(np.concatenate(parts))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    """Class logits in eval mode (BatchNorm running statistics, no dropout)."""
    model.eval()
    return torch.cat([model(model.prepare(x[i : i + batch])) for i in range(0, len(x), batch)])


def fit(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    hp: dict,
    seed: int,
    checkpoint: Path | None = None,
    checkpoint_every: int = 0,
    label: str = "",
) -> dict:
    """Train `model` in place to its best validation loss; return the training history.

    `data` = (x_train, y_train, x_val, y_val) on the model's device. `hp["precision"]` (default
    fp32): bf16 runs the forward passes under autocast (weights, optimiser and the loss stay
    float32), tf32 lets the GPU's matmuls and convolutions use TF32. With `checkpoint`, the
    state is saved every `checkpoint_every` epochs and a run restarted from it reaches the same
    weights as one never interrupted.
    """
    x_train, y_train, x_val, y_val = data
    precision = hp.get("precision", "fp32")
    float32_arithmetic(precision)
    bf16 = torch.autocast(x_train.device.type, torch.bfloat16, enabled=precision == "bf16")
    torch.manual_seed(seed)
    r = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=hp["lr_factor"], patience=hp["lr_patience"]
    )
    loss_fn = nn.CrossEntropyLoss()
    cuda = x_train.is_cuda
    state = {"epoch": 0, "best_loss": math.inf, "best_epoch": 0, "best": None, "history": []}
    run_id = fingerprint(model, data, hp, seed) if checkpoint is not None else None
    saved = None
    if checkpoint is not None and checkpoint.exists():
        saved = torch.load(checkpoint, map_location=x_train.device, weights_only=False)
        if saved.get("fingerprint") != run_id:  # left by a run of other settings or data
            log.warning("%s: ignoring %s, written by another run", label, checkpoint)
            saved = None
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"].cpu())  # map_location moved it to the device
        if cuda:
            torch.cuda.set_rng_state(saved["cuda_rng"].cpu(), x_train.device)
        r.bit_generator.state = saved["numpy_rng"]
        state = saved["state"]
        log.info("%s: resumed from %s at epoch %d", label, checkpoint, state["epoch"])
    labels = y_train.cpu().numpy()
    bar = tqdm(
        total=hp["max_epochs"], initial=state["epoch"], desc=label, unit="epoch", disable=None
    )
    # the early-stopping test also guards a resume from a checkpoint of the epoch that stopped
    while (
        state["epoch"] < hp["max_epochs"]
        and state["epoch"] - state["best_epoch"] < hp["early_stopping"]
    ):
        model.train()
        order = torch.as_tensor(upsample(labels, r), device=x_train.device)
        for i in range(0, len(order), hp["batch_size"]):
            rows = order[i : i + hp["batch_size"]]
            if len(rows) < 2:  # BatchNorm needs two rows
                continue
            opt.zero_grad()
            with bf16:
                logits = model(model.prepare(x_train[rows]))
            loss_fn(logits.float(), y_train[rows]).backward()
            opt.step()
        with bf16:
            logits = predict(model, x_val).float()
        val_loss = loss_fn(logits, y_val).item()
        val_acc = (logits.argmax(1) == y_val).float().mean().item()
        sched.step(val_loss)
        state["epoch"] += 1
        state["history"].append({"epoch": state["epoch"], "val_loss": val_loss, "val_acc": val_acc})
        if val_loss < state["best_loss"]:
            state.update(best_loss=val_loss, best_epoch=state["epoch"])
            state["best"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        bar.update()
        bar.set_postfix(val_loss=f"{val_loss:.4f}", val_acc=f"{val_acc:.3f}")
        log.info(
            "%s epoch %d/%d: validation loss %.4f, accuracy %.4f, learning rate %.2g",
            label, state["epoch"], hp["max_epochs"], val_loss, val_acc, opt.param_groups[0]["lr"],
        )  # fmt: skip
        if checkpoint is not None and checkpoint_every and state["epoch"] % checkpoint_every == 0:
            save_torch(
                checkpointed(model, opt, sched, r, run_id, state, x_train.device), checkpoint
            )
    bar.close()
    if checkpoint is not None:  # the last epoch: a rerun of a stopped job resumes here
        save_torch(checkpointed(model, opt, sched, r, run_id, state, x_train.device), checkpoint)
    model.load_state_dict(state["best"])
    log.info(
        "%s: %d epochs, best validation loss %.4f at epoch %d",
        label,
        state["epoch"],
        state["best_loss"],
        state["best_epoch"],
    )
    return {k: state[k] for k in ("epoch", "best_epoch", "best_loss", "history")}


def checkpointed(model, opt, sched, r, run_id: str, state: dict, where: torch.device) -> dict:
    """Everything a resumed `fit` needs to go on as if never stopped."""
    return {
        "fingerprint": run_id,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(where) if where.type == "cuda" else None,
        "numpy_rng": r.bit_generator.state,
        "state": state,
    }


def fingerprint(model: nn.Module, data: tuple, hp: dict, seed: int) -> str:
    """Identifies one training run (initial weights, data, hyperparameters, seed): a checkpoint
    is resumed only by the run that wrote it, not after a change of config or inputs."""
    digest = hashlib.sha256(repr(model).encode())
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().numpy().tobytes())
    summary = [[list(t.shape), float(t.double().sum())] for t in data]
    digest.update(json.dumps([hp, seed, summary], sort_keys=True, default=str).encode())
    return digest.hexdigest()


def save_torch(obj, path) -> None:
    """torch.save atomically. Saved through memory: torch names the archive's folder after the
    file, and the temporary file's random name would make every save's bytes differ."""
    buffer = BytesIO()
    torch.save(obj, buffer)
    with io.atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def save_model(model: nn.Module, arch: str, kwargs: dict, genes: list[str], path) -> None:
    """`model.pt`: architecture name, constructor arguments, weights and the canonical gene ids."""
    saved = {"arch": arch, "kwargs": kwargs, "state_dict": model.state_dict(), "genes": genes}
    save_torch(saved, path)


def check_genes(trained: list[str] | None, genes: list[str], path) -> None:
    """A model applies only to data with the genes it was trained on, in the same order."""
    if trained == genes:
        return
    fix = "retrain (delete results/models) or run this cohort in its own working directory."
    if trained is None:
        raise io.InputError(f"{path}: the model holds no gene list (an older txai saved it): {fix}")
    shared = min(len(trained), len(genes))
    i = next((i for i in range(shared) if trained[i] != genes[i]), shared)
    model_gene, data_gene = (f"'{n[i]}'" if i < len(n) else "nothing" for n in (trained, genes))
    raise io.InputError(
        f"{path}: the model was trained on {len(trained)} genes, the data have {len(genes)}; "
        f"gene {i + 1} is {model_gene} in the model and {data_gene} in the data. The models come "
        f"from a run with another gene set: {fix}"
    )


def load_model(path, genes: list[str] | None = None, map_location="cpu") -> nn.Module:
    """Rebuild a saved model on `map_location`; with `genes` (the data's), refuse one trained
    on other genes."""
    try:
        saved = torch.load(path, map_location=map_location, weights_only=False)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as e:
        raise InputError(
            f"{path}: cannot be read as a model ({str(e).split('. ')[0]}): the file is truncated "
            "or corrupt, e.g. copied while it was written. Delete it and rerun: its training job "
            "runs again."
        ) from e
    if genes is not None:
        check_genes(saved.get("genes"), list(genes), path)
    model = models.build(saved["arch"], **saved["kwargs"])
    model.load_state_dict(saved["state_dict"])
    return model.to(map_location).eval()


def architecture_kwargs(arch: str, arch_config: dict, n_genes: int, n_classes: int) -> dict:
    """Constructor arguments of one architecture from its config block."""
    kwargs = {"n_genes": n_genes, "n_classes": n_classes, "dropout": arch_config["dropout"]}
    if arch == "mlp":
        kwargs["hidden"] = arch_config["hidden"]
    else:
        kwargs["side"] = models.grid_side(n_genes, arch_config["grid_multiple"])
        kwargs["channels"] = tuple(arch_config["channels"])
        kwargs["kernels"] = tuple(arch_config["kernels"])
    return kwargs


def load_split(expression, samples) -> tuple[list[str], np.ndarray, pd.DataFrame]:
    """Genes, expression (samples x genes) and the sample table with the shared split."""
    sample_ids, genes, x = io.read_expression(expression)
    sheet = io.read_table(samples).set_index("sample").loc[sample_ids].reset_index()
    return genes, x, sheet


def train_model(
    arch: str,
    model: str,
    arch_config: dict,
    common: dict,
    seed: int,
    x: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    genes: pd.DataFrame,
    checkpoint: Path | None = None,
    stream: tuple = (),
) -> tuple[nn.Module, dict, dict]:
    """Train one model on the rows `train` (validation carved from them); the rest is unseen.

    Returns the model (on its device, best weights), its constructor arguments and a record of
    hyperparameters, seed, gene order and history. `stream` separates the random streams of
    models trained for other purposes (cross-validation folds).
    """
    n_classes = int(y.max()) + 1
    dev = device(common["device"])
    precision = precision_for(common.get("precision", "auto"), dev)
    hp = {**hyperparameters(arch_config, common, model), "precision": precision}
    model_seed = int(io.rng(seed, "train", arch, model, *stream).integers(2**31))
    kwargs = architecture_kwargs(arch, arch_config, x.shape[1], n_classes)
    order_kind = None
    if arch == "cnn":
        order_kind = "shared" if model.startswith("s") else arch_config["order"]
        kwargs["order"] = gene_order(order_kind, genes, seed, model).tolist()
    log.info("%s %s on %s in %s (%d CPU threads)", arch, model, dev, precision,
             torch.get_num_threads())  # fmt: skip
    torch.manual_seed(model_seed)
    net = models.build(arch, **kwargs).to(dev)
    if dev.type == "cuda" and arch == "cnn":  # cuDNN's faster convolution layout
        net = net.to(memory_format=torch.channels_last)
    val = np.zeros_like(train)
    val[np.flatnonzero(train)] = validation_mask(
        y[train], hp["val_fraction"], io.rng(seed, "validation", arch, model, *stream)
    )
    fit_rows = train & ~val
    xt, yt = torch.tensor(x, device=dev), torch.tensor(y, device=dev)
    data = tuple(t[torch.as_tensor(rows)] for rows in (fit_rows, val) for t in (xt, yt))
    label = " ".join([arch, model, *map(str, stream)])
    history = fit(net, data, hp, model_seed, checkpoint, common["checkpoint_every"], label)
    record = {
        "seed": model_seed,
        "hyperparameters": {**hp, **{k: v for k, v in kwargs.items() if k != "order"}},
        "order": order_kind,
        "best_val_loss": history["best_loss"],
        "best_val_accuracy": history["history"][history["best_epoch"] - 1]["val_acc"],
        "epochs_run": history["epoch"],
        "best_epoch": history["best_epoch"],
        "n_train": int(fit_rows.sum()),
        "n_validation": int(val.sum()),
        "device": str(dev) if dev.type == "cpu" else f"{dev} ({torch.cuda.get_device_name(dev)})",
        "float32": io.float32_precision(torch),
    }
    return net, kwargs, record


def run(
    *,
    expression,
    samples,
    genes,
    arch: str,
    models: list[str],
    arch_config: dict,
    common: dict,
    seed: int,
    out_models: list,
    out_metas: list,
) -> None:
    """Train models of an ensemble on the shared split, one after another; write each one's
    `model.pt` and `meta.json` when it is trained.

    Each model trains from its own checkpoint (`checkpoint.pt` beside its files), kept until
    every model of the job is written: a stopped job's rerun, whose outputs Snakemake deleted,
    resumes each model where it was, a finished one at its last epoch, so no model is trained
    twice.
    """
    gene_ids, x, sheet = load_split(expression, samples)
    y = sheet["class_index"].to_numpy()
    train = (sheet["split"] == "train").to_numpy()
    annotation = io.read_table(genes)
    checkpoints = [Path(out).with_name("checkpoint.pt") for out in out_models]
    for model, out_model, out_meta, checkpoint in zip(
        models, out_models, out_metas, checkpoints, strict=True
    ):
        net, kwargs, record = train_model(
            arch, model, arch_config, common, seed, x, y, train, annotation, checkpoint
        )
        test = ~train
        predicted = predict(net, torch.tensor(x[test], device=device(common["device"])))
        test_acc = float((predicted.argmax(1).cpu().numpy() == y[test]).mean())
        floor = common["accuracy_floor"]
        if test_acc < floor:
            raise AccuracyError(
                f"model {arch} {model}: test accuracy {test_acc:.4f} is below the accuracy floor "
                f"{floor} (train.accuracy_floor). Train longer (train.max_epochs), adjust its "
                "hyperparameters, or lower the floor."
            )
        save_model(net.cpu(), arch, kwargs, gene_ids, out_model)
        order = kwargs.get("order", range(len(gene_ids)))
        meta = {
            "arch": arch,
            "model": model,
            **record,
            "gene_order": [gene_ids[i] for i in order],
            "classes": sorted(sheet["class"].unique()),
            "test_accuracy": test_acc,
            "n_test": int(test.sum()),
        }
        io.write_json(meta, out_meta)
        log.info("%s %s: test accuracy %.4f", arch, model, test_acc)
    for checkpoint in checkpoints:
        checkpoint.unlink(missing_ok=True)


def folds(labels: np.ndarray, k: int, r: np.random.Generator) -> np.ndarray:
    """Stratified fold number (0..k-1) per row: each class shuffled and dealt out in turn."""
    fold = np.empty(labels.size, dtype=np.int64)
    for c in np.unique(labels):
        idx = r.permutation(np.flatnonzero(labels == c))
        fold[idx] = np.arange(idx.size) % k
    return fold


def class_scores(truth: np.ndarray, predicted: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """Per class precision, recall, F1 and support; rows `accuracy` and `macro` summarise."""
    n = len(classes)
    cm = np.bincount(truth * n + predicted, minlength=n * n).reshape(n, n)
    hits = np.diag(cm).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(hits / cm.sum(axis=0))
        recall = np.nan_to_num(hits / cm.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    table = pd.DataFrame(
        {"class": classes, "precision": precision, "recall": recall, "f1": f1,
         "support": cm.sum(axis=1)}
    )  # fmt: skip
    accuracy = hits.sum() / cm.sum()
    summary = pd.DataFrame(
        {"class": ["accuracy", "macro"], "precision": [accuracy, precision.mean()],
         "recall": [accuracy, recall.mean()], "f1": [accuracy, f1.mean()],
         "support": [cm.sum(), cm.sum()]}
    )  # fmt: skip
    return pd.concat([table, summary], ignore_index=True)


def crossval(
    *,
    expression,
    samples,
    genes,
    arch: str,
    arch_config: dict,
    common: dict,
    seed: int,
    out_predictions,
    out_scores,
) -> None:
    """k-fold cross-validation over all samples with the ensemble's first model's settings.

    Predictions are pooled over the folds (the paper's performance estimate).
    """
    gene_ids, x, sheet = load_split(expression, samples)
    y = sheet["class_index"].to_numpy()
    classes = sorted(sheet["class"].unique())
    fold = folds(y, common["crossval_folds"], io.rng(seed, "crossval", arch))
    predicted = np.empty_like(y)
    for k in range(common["crossval_folds"]):
        held = fold == k
        net, _, _ = train_model(
            arch, "m01", arch_config, common, seed, x, y, ~held, io.read_table(genes),
            stream=("crossval", k),
        )  # fmt: skip
        logits = predict(net, torch.tensor(x[held], device=device(common["device"])))
        predicted[held] = logits.argmax(1).cpu().numpy()
    io.write_table(
        pd.DataFrame(
            {"sample": sheet["sample"], "class": sheet["class"], "fold": fold,
             "predicted": [classes[i] for i in predicted]}
        ),
        out_predictions,
    )  # fmt: skip
    scores = class_scores(y, predicted, classes)
    io.write_table(scores, out_scores)
    log.info("%s cross-validation: accuracy %.4f, macro-F1 %.4f", arch, *scores["f1"].iloc[-2:])


def metrics(meta_paths: list) -> pd.DataFrame:
    """One row per model from its `meta.json`: accuracy, epochs, seed and hyperparameters."""
    rows = []
    for path in meta_paths:
        meta = json.loads(Path(path).read_text())
        hp = meta["hyperparameters"]
        rows.append(
            {"model": meta["model"], "order": meta["order"], "seed": meta["seed"],
             "test_accuracy": meta["test_accuracy"], "best_val_loss": meta["best_val_loss"],
             "best_val_accuracy": meta["best_val_accuracy"], "epochs_run": meta["epochs_run"],
             "best_epoch": meta["best_epoch"], **{k: hp[k] for k in JITTERED}}
        )  # fmt: skip
    return pd.DataFrame(rows)
