"""Sanity checks for explainers (Adebayo et al. 2018): do the top genes depend on what the model
learned?

Model-parameter randomisation re-initialises the model's layers, cascading from the output
layer down and one layer at a time; data randomisation trains a model on permuted class labels.
An explainer that is blind to the model gives about the same scores either way. Every variant
explains the same samples with the same draws (dropout masks, references) as the trained
model, so only the weights differ.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import pandas as pd
import torch
from torch import nn

from txai import explain, io, models, train
from txai.config import setting_for
from txai.draws import sample_pools
from txai.reproducibility import within_blocks

log = logging.getLogger(__name__)

LAYERS = {  # output first; each entry names the modules re-initialised together
    "mlp": {"output": ("out",), "hidden": ("hidden", "bn")},
    "cnn": {
        "output": ("out", "bn4"),
        "block 3": ("conv3", "bn3"),
        "block 2": ("conv2", "bn2"),
        "block 1": ("conv1", "bn1"),
    },
}


def randomised(model: nn.Module, arch: str, layers: list[str], seed: int) -> nn.Module:
    """A copy of `model` with the named layers re-initialised (PyTorch's default init;
    BatchNorm back to the identity with fresh running statistics). The new weights are drawn
    on the CPU, so every device randomises alike; the copy stays on the model's device."""
    device = next(model.parameters()).device
    model = copy.deepcopy(model).cpu()
    torch.manual_seed(seed)
    for layer in layers:
        for name in LAYERS[arch][layer]:
            getattr(model, name).reset_parameters()
    return model.to(device).eval()


def variants(model: nn.Module, arch: str, seed: int):
    """(randomisation, layer, step, model): cascading from the output layer down, then each
    layer alone."""
    names = list(LAYERS[arch])
    for step, layer in enumerate(names, start=1):
        yield "cascading", layer, step, randomised(model, arch, names[:step], seed)
    for step, layer in enumerate(names, start=1):
        yield "independent", layer, step, randomised(model, arch, [layer], seed)


def permuted_model(arch, arch_config, common, seed, x, y, train_rows, genes, epochs):
    """A model trained for `epochs` on permuted labels of the training rows, with early stopping
    and the accuracy floor off: it is validated on its own training rows, so the kept weights
    are the most memorised ones. It is initialised on the CPU and trained on train.device.
    Returns (model, training accuracy)."""
    rows = np.flatnonzero(train_rows)
    shuffled = io.rng(seed, "sanity", "labels", arch).permutation(y[rows])
    dev = train.device(common["device"])
    precision = train.precision_for(common.get("precision", "auto"), dev)
    hp = {**train.hyperparameters(arch_config, common, "m01"), "max_epochs": epochs,
          "early_stopping": epochs + 1, "precision": precision}  # fmt: skip
    kwargs = train.architecture_kwargs(arch, arch_config, x.shape[1], int(y.max()) + 1)
    if arch == "cnn":
        kwargs["order"] = train.gene_order(arch_config["order"], genes, seed, "m01").tolist()
    model_seed = int(io.rng(seed, "sanity", "train", arch).integers(2**31))
    torch.manual_seed(model_seed)
    net = models.build(arch, **kwargs).to(dev)
    xt, yt = torch.as_tensor(x[rows], device=dev), torch.as_tensor(shuffled, device=dev)
    train.fit(net, (xt, yt, xt, yt), hp, model_seed, label=f"{arch} permuted labels")
    net.eval()
    with torch.no_grad():
        predicted = net(net.prepare(xt)).argmax(1).cpu().numpy()
    return net, float((predicted == shuffled).mean())


def compare(trained: np.ndarray, other: np.ndarray, k: int) -> tuple[float, float]:
    """Mean over samples of Spearman's rho and top-k overlap between two score matrices."""
    _, rho, shared = within_blocks(np.stack([trained, other], axis=1), k)
    return float(np.nanmean(rho)), float(shared.mean())


def run(
    *, expression, samples, genes, references: dict, model, arch: str, arch_config: dict,
    common: dict, explainers: list, setting: dict, explain_config: dict, config: dict,
    seed: int, out,
) -> None:  # fmt: skip
    """`sanity/{arch}.parquet`: arch, explainer, randomisation (`cascading`, `independent`,
    `labels`), layer, step, rho, overlap, train_accuracy (the permuted-label model's)."""
    gene_ids, x, sheet = train.load_split(expression, samples)
    spec = {**explain_config["samples"], **setting.get("samples", {})}
    chosen = explain.explained_samples(sheet, spec, explain_config["focus_tissues"], seed)
    target = sheet["class_index"].to_numpy()[chosen]
    dev = train.device(common["device"])
    log.info("%s: explaining and training on %s", arch, dev)
    trained = train.load_model(model, gene_ids, dev)
    y = sheet["class_index"].to_numpy()
    permuted, accuracy = permuted_model(
        arch, arch_config, common, seed, x, y, (sheet["split"] == "train").to_numpy(),
        io.read_table(genes), config["epochs"],
    )  # fmt: skip
    log.info("%s: permuted-label model reached training accuracy %.3f", arch, accuracy)
    models = [("trained", "", 0, trained), *variants(trained, arch, seed)]
    models.append(("labels", "permuted labels", 1, permuted))
    explained = torch.as_tensor(x[chosen], device=dev)  # moved once, explained by every model
    rows = []
    for explainer in explainers:
        strategy = setting_for(setting, explainer)
        pools = None
        if "references" in strategy:
            kind = strategy["references"]["type"]
            classes = sheet["class"].iloc[chosen].tolist()
            pools = sample_pools(references[kind], kind, classes, gene_ids).to(dev)
        scores = {}
        for randomisation, layer, step, net in models:
            stream = io.rng(seed, "sanity", arch, explainer)  # the same draws for every variant
            blocks = explain.explain_model(
                net, explainer, explained, target, strategy, pools, stream,
                score=explain_config["score"], ig_steps=explain_config["ig_steps"],
            )  # fmt: skip
            scores[(randomisation, layer, step)] = blocks[0][2]
        reference = scores.pop(("trained", "", 0))
        for (randomisation, layer, step), values in scores.items():
            rho, shared = compare(reference, values, config["top_k"])
            memorised = accuracy if randomisation == "labels" else np.nan
            rows.append({"arch": arch, "explainer": explainer, "randomisation": randomisation,
                         "layer": layer, "step": step, "rho": rho, "overlap": shared,
                         "train_accuracy": memorised})  # fmt: skip
        log.info("%s %s: %d variants compared", arch, explainer, len(scores))
    io.write_table(pd.DataFrame(rows), out)


def summary(tables: list, threshold: float) -> pd.DataFrame:
    """All checks in one table, with `passes` per explainer: its scores change substantially
    (rho < threshold) both with every layer randomised and with permuted labels. A NaN rho
    (the randomised model's scores are constant, e.g. all zero) counts as changed."""
    table = pd.concat([io.read_table(path) for path in tables], ignore_index=True)
    rho = table["rho"].fillna(0.0)
    cascade = table["randomisation"] == "cascading"
    last = table[cascade].groupby(["arch", "explainer"])["step"].transform("max")
    full = rho[cascade][table.loc[cascade, "step"] == last]
    full.index = pd.MultiIndex.from_frame(table.loc[full.index, ["arch", "explainer"]])
    labels = rho[table["randomisation"] == "labels"]
    labels.index = pd.MultiIndex.from_frame(table.loc[labels.index, ["arch", "explainer"]])
    passes = (full < threshold) & (labels.loc[full.index] < threshold)
    table["passes"] = [
        passes[(a, e)] for a, e in zip(table["arch"], table["explainer"], strict=True)
    ]
    return table


def run_summary(*, tables: list, threshold: float, out) -> None:
    """`sanity/sanity.parquet`: every architecture's checks and verdicts."""
    table = summary(tables, threshold)
    io.write_table(table, out)
    verdict = table.drop_duplicates(["arch", "explainer"])
    for row in verdict.itertuples():
        log.info("%s %s: %s", row.arch, row.explainer, "passes" if row.passes else "fails")
