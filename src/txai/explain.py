"""Gene contribution scores: each explainer composed with the paper's settings, one job's I/O.

PAPER-DIGEST.md sections 3-4 and PITFALLS.md decide what is computed here:
- dropout stays on while explaining (BatchNorm in eval mode): each repeat draws one dropout mask,
  shared by every row of its explainer calls (the inputs and all their baselines), so
  completeness holds within a repeat;
- an estimate is one explainer call for one (repeat, reference, noisy copy); DeepLiftShap takes
  its K references in one call. R repeats x K references give R x K estimates;
- score = mean over estimates of |attribution| (`abs_then_mean`) or |mean| (`mean_then_abs`);
- the target is the sample's true class (or the predicted one, by config);
- CNN attributions are computed on the grid and mapped back to genes, padding dropped.
The draws come from `txai.draws`; a backend (`txai.backend`) turns them into estimates, the
first of BACKENDS that serves the model and explainer (Captum's serves every one).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from txai import captum_backend, fast, fast_cnn, io
from txai.backend import Backend, Task
from txai.budget import DEFAULT_MEMORY_MB
from txai.config import setting_for
from txai.draws import as_pools, dropouts, repeats, sample_pools
from txai.explainers import TABLE, Explainer
from txai.train import device, float32_arithmetic, load_model

log = logging.getLogger(__name__)

BACKENDS: tuple[Backend, ...] = (fast, fast_cnn, captum_backend)  # the exact rewritten paths first


def backend_for(model: nn.Module, explainer: Explainer, use_fast: bool = True) -> Backend:
    """The first backend that serves `explainer` on `model` (Captum's alone without `use_fast`)."""
    for backend in BACKENDS if use_fast else (captum_backend,):
        if backend.serves(model, explainer):
            return backend
    raise ValueError(f"no backend computes {explainer.name} on a {type(model).__name__}")


def explain_model(
    model: nn.Module,
    explainer: str,
    x: np.ndarray,
    target: np.ndarray,
    setting: dict,
    pools,
    seed_stream: np.random.Generator,
    replicates: int = 1,
    score: str = "abs_then_mean",
    keep_estimates: bool = False,
    ig_steps: int = 50,
    use_fast: bool = True,
    memory_mb: float | None = None,
) -> list[tuple[int, int | None, np.ndarray]]:
    """Explain samples with one model: (replicate, estimate or None, samples x genes) blocks.

    `x` (samples x genes) and `target`: arrays, or tensors already on the model's device;
    `setting`: the explainer's strategy (`config.setting_for`); `pools`: the samples' reference
    pools (`draws.Pools`, or an array samples x pool x genes) or None. The work runs on the
    model's device; the blocks come back as float32 arrays. Without `keep_estimates` each
    replicate gives one block of scores; with it, one block of signed attributions per estimate
    (the curves subsample them). `use_fast` takes the exact rewritten paths where they apply,
    Captum's otherwise. `memory_mb` bounds a batch's working memory (default: by device type,
    `budget.DEFAULT_MEMORY_MB`).
    """
    record = TABLE[explainer]
    backend = backend_for(model, record, use_fast)
    float32_arithmetic("fp32")  # attribution in full float32 (a rescale rule needs it)
    device = next(model.parameters()).device
    xt = torch.as_tensor(x, dtype=torch.float32, device=device)
    signed = keep_estimates or score == "mean_then_abs"
    pools = None if pools is None else as_pools(pools).to(device)
    target = torch.as_tensor(target, dtype=torch.long, device=device)
    budget = memory_mb or DEFAULT_MEMORY_MB[device.type]
    task = Task(record, xt, target, pools, ig_steps, signed, budget)
    dropout = dropouts(model)
    blocks = []
    for replicate in range(replicates):
        draws = repeats(xt, setting, record, task.pools, seed_stream, dropout)
        total, index = torch.zeros_like(xt), 0
        for attr, times in backend.estimates(model, task, draws):
            attr = attr.detach()
            for _ in range(times):
                if keep_estimates:
                    blocks.append((replicate, index, attr.cpu().numpy()))
                total += attr.abs() if score == "abs_then_mean" else attr
                index += 1
        if not keep_estimates:
            blocks.append((replicate, None, (total / index).abs().cpu().numpy()))
    return blocks


def run(
    *,
    expression,
    samples,
    models: list,
    references: dict,
    arch: str,
    explainer: str,
    setting_name: str,
    setting: dict,
    explain_config: dict,
    seed: int,
    outputs: list,
) -> None:
    """Explain the configured samples with each model on the configured device
    (`explain_config["device"]`, as train.device); one Parquet file per model."""
    warnings.filterwarnings("ignore", category=UserWarning, module=r"captum\.")
    dev = device(explain_config["device"])
    ids, _ = io.expression_ids(expression)
    sheet = io.read_table(samples).set_index("sample").loc[ids].reset_index()
    spec = {**explain_config["samples"], **setting.get("samples", {})}
    chosen = explained_samples(sheet, spec, explain_config["focus_tissues"], seed)
    _, genes, x = io.read_expression(expression, rows=chosen)  # those rows alone
    x, sheet = torch.as_tensor(x, device=dev), sheet.iloc[chosen].reset_index(drop=True)
    strategy = setting_for(setting, explainer)
    pools = None
    if "references" in strategy:
        kind = strategy["references"]["type"]
        pools = sample_pools(references[kind], kind, sheet["class"].tolist(), genes).to(dev)
    log.info("%s %s %s: %d samples on %s", arch, explainer, setting_name, len(x), dev)
    read = [expression, samples, *references.values()]  # written anew, they get new stamps
    job = [arch, explainer, setting_name, setting, explain_config, seed, *map(io.stamp, read)]
    staged = [
        io.staged(out, *job, io.stamp(path)) for path, out in zip(models, outputs, strict=True)
    ]
    todo = list(zip(models, staged, strict=True))
    for path, stage in tqdm(todo, desc=f"{arch} {explainer} {setting_name}", unit="model",
                            disable=None):  # fmt: skip
        if stage.exists():
            log.info("%s: finished before this job was stopped, taken from %s", path, stage)
            continue
        model = load_model(path, genes, dev)
        name = Path(path).parent.name
        target = sheet["class_index"].to_numpy().copy()
        if explain_config["target"] == "predicted":
            with torch.no_grad():
                target = model(model.prepare(x)).argmax(1).cpu().numpy()
        stream = io.rng(seed, "explain", arch, explainer, setting_name, name)
        replicates = setting.get("replicates", explain_config["replicates"])
        blocks = explain_model(
            model, explainer, x, target, strategy, pools, stream,
            replicates=replicates if name in explain_config["replicate_models"] else 1,
            score=explain_config["score"],
            keep_estimates=setting.get("keep_estimates", False),
            ig_steps=explain_config["ig_steps"],
            use_fast=explain_config.get("fast", True),
            memory_mb=explain_config.get("memory_mb"),
        )  # fmt: skip
        top = explain_config["top_k"] if setting.get("store") == "top" else None
        write_attributions(blocks, sheet["sample"].tolist(), genes, stage, top)
        log.info("%s %s %s %s: %d blocks", arch, explainer, setting_name, name, len(blocks))
    for stage, out in zip(staged, outputs, strict=True):
        os.replace(stage, out)


def write_attributions(
    blocks, samples: list[str], genes: list[str], path, top: int | None = None
) -> None:
    """`attributions/...parquet`: sample, replicate, [estimate], one float32 column per gene.

    With `top` (large sample sets), only each sample's `top` genes are kept, in long form:
    sample, replicate, rank, gene, score (ties broken by gene order).
    """
    frames = []
    for replicate, estimate, values in blocks:
        if top is not None:
            order = np.argsort(-values, axis=1, kind="stable")[:, :top]
            frame = pd.DataFrame(
                {"rank": np.tile(np.arange(1, order.shape[1] + 1), len(samples)),
                 "gene": np.asarray(genes)[order].ravel(),
                 "score": np.take_along_axis(values, order, axis=1).ravel().astype(np.float32)}
            )  # fmt: skip
            frame.insert(0, "replicate", replicate)
            frame.insert(0, "sample", np.repeat(samples, order.shape[1]))
            frames.append(frame)
            continue
        frame = pd.DataFrame(values.astype(np.float32), columns=genes)
        if estimate is not None:
            frame.insert(0, "estimate", estimate)
        frame.insert(0, "replicate", replicate)
        frame.insert(0, "sample", samples)
        frames.append(frame)
    io.write_table(pd.concat(frames, ignore_index=True), path)


def explained_samples(sheet: pd.DataFrame, spec: dict, focus_tissues: list[str], seed: int):
    """Row indices of the explained samples, in table order.

    `spec`: `split` (test, train or all), `tissues` (focus: the focus tissues' classes; all),
    `status` (normal, cancer or any; normal takes all samples of a tissue without a normal
    class), `per_class` (at most this many a class, seeded choice).
    """
    mask = pd.Series(True, index=sheet.index)
    if spec.get("tissues", "focus") == "focus":
        mask &= sheet["tissue"].isin(focus_tissues)
    if spec.get("split", "test") != "all":
        mask &= sheet["split"] == spec.get("split", "test")
    status = spec.get("status", "any")
    if status != "any":
        wanted = sheet["status"] == status
        if status == "normal":
            wanted |= ~wanted.groupby(sheet["tissue"]).transform("any")
        mask &= wanted
    r = io.rng(seed, "explained samples")
    chosen = []
    for _, group in sheet[mask].groupby("class", sort=True):
        idx = group.index.to_numpy()
        limit = spec.get("per_class")
        chosen += list(r.choice(idx, limit, replace=False) if limit and limit < idx.size else idx)
    return np.sort(np.array(chosen, dtype=np.int64))
