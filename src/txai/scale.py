"""What each job costs, from the config alone: memory, runtime, FLOPs and disk.

Snakemake asks for `mem_mb` and `runtime` before any input exists (a dry run shows them, a
cluster schedules by them), so they are computed from the cohort's declared size and the
config's models, repeats, references and samples, never from input files. `python -m txai.scale
config/paper.yaml` prints the per-stage table the README quotes.

The estimates are upper bounds: every model trains for `max_epochs`, classes are as large as
the largest, and attribution counts Captum's passes without the fast paths' sharing.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
import yaml

from txai import curves, plan
from txai.config import (
    DEFAULT_MEMORY_MB,
    explainers_by_arch,
    grid_side,
    model_ids,
    setting_for,
)
from txai.explainers import TABLE

PAPER = {"samples": 27_417, "genes": 19_241, "classes": 82}
BYTES = 4  # float32 everywhere a matrix is held
MB = 1_000_000
BASE_MB = 1_000  # Python, torch and pandas themselves
BACKWARD = 3  # a forward and a backward pass cost about three forwards


def size(config: dict) -> dict:
    """samples, genes, classes and largest_class of the cohort the config describes."""
    cohort = config["cohort"]
    if cohort["source"] == "demo":
        demo = cohort["demo"]
        classes = 2 * len(demo["tissues_with_cancer"]) + len(demo["normal_only_tissues"])
        largest = demo["samples_per_class"][1]
        return {
            "samples": classes * largest,
            "genes": demo["genes"],
            "classes": classes,
            "largest_class": largest,
        }
    out = {**PAPER, **cohort.get("size", {})}
    out.setdefault("largest_class", 3 * math.ceil(out["samples"] / out["classes"]))
    return out


def explained(config: dict, setting: dict) -> int:
    """Samples a setting explains: per class the split's share, capped by per_class.

    A class is taken as twice the mean class size (the paper's focus classes are large ones).
    """
    dims = size(config)
    spec = {**config["explain"]["samples"], **setting.get("samples", {})}
    per_class = min(dims["largest_class"], 2 * math.ceil(dims["samples"] / dims["classes"]))
    if spec.get("split", "test") == "test":
        per_class = math.ceil(config["data"]["test_fraction"] * per_class)
    if spec.get("per_class"):
        per_class = min(per_class, spec["per_class"])
    classes = dims["classes"]
    if spec.get("tissues", "focus") == "focus":
        statuses = 1 if spec.get("status", "any") != "any" else 2
        classes = min(classes, statuses * len(config["focus_tissues"]))
    return classes * per_class


def forward_flops(config: dict, arch: str) -> float:
    """Multiply-adds x 2 of one sample's forward pass."""
    dims, spec = size(config), config["train"][arch]
    genes, classes = dims["genes"], dims["classes"]
    if arch == "mlp":
        return 2.0 * (genes * spec["hidden"] + spec["hidden"] * classes)
    side = grid_side(genes, spec["grid_multiple"])
    flops, channels_in = 0.0, 1
    for layer, (channels, kernel) in enumerate(zip(spec["channels"], spec["kernels"], strict=True)):
        flops += 2.0 * (side // 2**layer) ** 2 * kernel**2 * channels_in * channels
        channels_in = channels
    return flops + 2.0 * channels_in * classes


def parameters(config: dict, arch: str) -> int:
    """Weights of one model (BatchNorm's few left out)."""
    dims, spec = size(config), config["train"][arch]
    if arch == "mlp":
        return (dims["genes"] + 1) * spec["hidden"] + (spec["hidden"] + 1) * dims["classes"]
    widths = [1, *spec["channels"]]
    convolutions = sum(
        (widths[i] * kernel**2 + 1) * widths[i + 1] for i, kernel in enumerate(spec["kernels"])
    )
    return convolutions + (widths[-1] + 1) * dims["classes"]


def epochs(config: dict, arch: str) -> int:
    return config["train"][arch].get("max_epochs", config["train"]["max_epochs"])


def train_flops(config: dict, arch: str) -> float:
    """One model: every epoch up-samples each class to the largest class's training rows."""
    dims, train = size(config), config["train"]
    share = (1 - config["data"]["test_fraction"]) * (1 - train["val_fraction"])
    rows = dims["classes"] * dims["largest_class"] * share
    return BACKWARD * forward_flops(config, arch) * rows * epochs(config, arch)


def estimates(strategy: dict, explainer: str) -> int:
    """Estimates per explained sample in one replicate: repeats x copies x references (one
    estimate a copy for an explainer that averages its references)."""
    n = strategy.get("repeats", 1) * strategy.get("smoothgrad", {}).get("copies", 1)
    if "references" in strategy and not TABLE[explainer].averages_references:
        n *= strategy["references"]["count"]  # setting_for keeps them where they are used
    return n


def passes(config: dict, strategy: dict, explainer: str) -> int:
    """Forward-backward passes per explained sample for one replicate of one model: each
    reference of an estimate, each of its passes (the path's points, Grad-CAM's own pass)."""
    n = estimates(strategy, explainer) * TABLE[explainer].passes(config["explain"]["ig_steps"])
    if "references" in strategy and TABLE[explainer].averages_references:
        n *= strategy["references"]["count"]
    return n


def replicate_factor(config: dict, setting: dict, models: list[str]) -> int:
    """Explanations per batch: one per model, `replicates` for the replicate models."""
    replicates = setting.get("replicates", config["explain"]["replicates"])
    chosen = set(config["explain"]["replicate_models"])
    return sum(replicates if m in chosen else 1 for m in models)


def explain_flops(config: dict, arch: str, explainer: str, setting: dict, models: list) -> float:
    """One explain job: its models, the setting's passes, every explained sample."""
    n = explained(config, setting) * replicate_factor(config, setting, models)
    return (
        BACKWARD
        * forward_flops(config, arch)
        * n
        * passes(config, setting_for(setting, explainer), explainer)
    )


def estimates_stored(setting: dict, explainer: str) -> int:
    """Rows per explained sample and replicate in an attribution file."""
    if not setting.get("keep_estimates"):
        return 1
    return estimates(setting_for(setting, explainer), explainer)


def matrix_mb(config: dict, copies: float = 1.0) -> int:
    dims = size(config)
    return math.ceil(copies * dims["samples"] * dims["genes"] * BYTES / MB)


def attribution_mb(config: dict, setting: dict, explainer: str, models: list) -> int:
    """An explain job's outputs held in memory: samples x genes x stored rows x models."""
    rows = explained(config, setting) * replicate_factor(config, setting, models)
    rows *= estimates_stored(setting, explainer)
    return math.ceil(rows * size(config)["genes"] * BYTES / MB)


def workspace_mb(config: dict) -> int:
    """An attribution batch's working memory on the host (explain.memory_mb): the CPU's
    default when unset, as a job may run there."""
    return config["explain"]["memory_mb"] or DEFAULT_MEMORY_MB["cpu"]


def mem_mb(config: dict, stage: str, **job) -> int:
    """Host memory of one job of `stage` in MB.

    `job`: arch, explainer, setting (the setting's dict) and models where the stage needs them.
    """
    genes = size(config)["genes"]
    references = config["references"]
    pools_mb = math.ceil(references["pool_size"] * genes * BYTES / MB)
    if stage == "cohort":  # chunked source reading + the output and its transposed copy
        return BASE_MB + matrix_mb(config, 6)
    if stage == "data":  # text parsing in float64, the log2 copy and the float32 output
        return BASE_MB + matrix_mb(config, 10)
    if stage == "references":  # the matrix + the focus classes' pools
        return BASE_MB + matrix_mb(config, 2) + pools_mb * 2 * len(config["focus_tissues"])
    if stage == "train":  # the matrix, its tensors and an up-sampled epoch
        return BASE_MB + matrix_mb(config, 6)
    if stage == "explain":
        setting, explainer = job["setting"], job["explainer"]
        kinds = plan.references(setting, [explainer])  # specific: one pool per focus class
        pools = sum(2 * len(config["focus_tissues"]) if k == "specific" else 1 for k in kinds)
        return (
            BASE_MB + workspace_mb(config) + matrix_mb(config, 1) + pools_mb * pools
            + 3 * attribution_mb(config, setting, explainer, job["models"])
        )  # fmt: skip
    if stage == "sanity":  # a training run, then every explainer's plain attributions
        return mem_mb(config, "train") + workspace_mb(config)
    if stage in ("aggregate", "reproducibility"):
        # one (architecture, explainer) at a time: every model's scores and their ranks
        settings, run = config["explain"]["settings"], explainers_by_arch(config)
        arch = job.get("arch")
        held = max(
            attribution_mb(config, settings[name][a], e, model_ids(config["train"][a]))
            for name in ("plain", "optimised")
            for a in ([arch] if arch else ("mlp", "cnn"))
            for e in run[a]
        )
        return BASE_MB + 3 * held
    if stage == "curves":
        run = explainers_by_arch(config)
        held = max(
            attribution_mb(config, setting[a], e, model_ids(config["train"][a])[:1])
            for setting in curves.settings(config["simulate"]).values()
            for a in ("mlp", "cnn")
            for e in run[a]
        )
        return BASE_MB + 3 * config["simulate"]["models"] * held
    if stage in ("annotate", "differential"):  # the matrix in float64, ranks and medians
        return BASE_MB + matrix_mb(config, 6)
    return 2 * BASE_MB  # tables and figures


def runtime_min(config: dict, stage: str, **job) -> int:
    """Minutes to ask for: FLOPs at the assumed throughput (GPU stages) or data volume."""
    hpc = config["hpc"]
    if stage in ("train", "crossval", "explain", "sanity"):
        flops = stage_flops(config, stage, **job)
        if config["train"]["device"] == "cpu":
            rate = hpc["cpu_gflops"] * 1e9 * config["train"]["threads"]
        else:
            rate = hpc["gpu_tflops"] * 1e12
        minutes = flops / rate / 60
    else:  # reading and writing: the matrix a few times at the assumed disk speed
        minutes = matrix_mb(config, 4) / hpc["disk_mb_s"] / 60
    return max(hpc["min_runtime"], math.ceil(hpc["margin"] * minutes))


def stage_flops(config: dict, stage: str, **job) -> float:
    arch = job["arch"]
    if stage == "train":
        return train_flops(config, arch)
    if stage == "crossval":
        folds = config["train"]["crossval_folds"]
        return (folds - 1) * train_flops(config, arch)
    if stage == "sanity":  # a permuted-label model and the explainers over every variant
        layers = 5 if arch == "mlp" else 11
        setting = config["explain"]["settings"]["plain"][arch]
        explain = sum(
            explain_flops(config, arch, e, setting, ["m01"])
            for e in explainers_by_arch(config)[arch]
        )
        ratio = config["sanity"]["epochs"] / epochs(config, arch)
        return ratio * train_flops(config, arch) + 2 * layers * explain
    return explain_flops(config, arch, job["explainer"], job["setting"], job["models"])


def table(config: dict) -> pd.DataFrame:
    """Per stage: jobs, TFLOP, GPU hours at the assumed throughput, largest job's memory, disk."""
    rows = []
    gpu = config["hpc"]["gpu_tflops"] * 1e12 * 3600
    for arch in ("mlp", "cnn"):
        ids = model_ids(config["train"][arch])
        model_mb = BYTES * parameters(config, arch) / MB
        flops = train_flops(config, arch) * len(ids) + stage_flops(config, "crossval", arch=arch)
        rows.append(
            (f"train {arch}", len(ids) + 1, flops, mem_mb(config, "train"), len(ids) * model_mb)
        )
        jobs = plan.explain_jobs(config, arch)
        flops = sum(explain_flops(config, arch, j.explainer, j.spec, j.models) for j in jobs)
        memory = max(mem_mb(config, "explain", arch=arch, explainer=j.explainer, setting=j.spec,
                            models=j.models) for j in jobs)  # fmt: skip
        disk = sum(attribution_mb(config, j.spec, j.explainer, j.models) for j in jobs)
        rows.append((f"explain {arch}", len(jobs), flops, memory, disk))
        rows.append(
            (f"sanity {arch}", 1, stage_flops(config, "sanity", arch=arch),
             mem_mb(config, "sanity", arch=arch), 0.0)
        )  # fmt: skip
    rows.append(("data", 2, 0.0, mem_mb(config, "data"), matrix_mb(config, 3)))
    for stage in ("reproducibility", "curves", "annotate", "differential"):
        rows.append((stage, 1, 0.0, mem_mb(config, stage), 0.0))
    frame = pd.DataFrame(rows, columns=["stage", "jobs", "flops", "max_mem_mb", "disk_mb"])
    frame["tflop"] = frame.pop("flops") / 1e12
    frame["gpu_hours"] = frame["tflop"] * 1e12 / gpu
    return frame[["stage", "jobs", "tflop", "gpu_hours", "max_mem_mb", "disk_mb"]]


def load(configfile) -> dict:
    """A config as Snakemake sees it: config/config.yaml, the file merged over it, defaults."""
    from snakemake.utils import update_config, validate

    root = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((root / "config" / "config.yaml").read_text())
    if configfile:
        update_config(config, yaml.safe_load(Path(configfile).read_text()))
    validate(config, root / "workflow" / "schemas" / "config.schema.yaml")
    return config


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configfile", nargs="?", help="merged over config/config.yaml")
    args = parser.parse_args(argv)
    frame = table(load(args.configfile))
    total = frame[["jobs", "tflop", "gpu_hours", "disk_mb"]].sum()
    frame.loc[len(frame)] = ["total", total["jobs"], total["tflop"], total["gpu_hours"],
                             frame["max_mem_mb"].max(), total["disk_mb"]]  # fmt: skip
    print(frame.to_markdown(index=False, floatfmt=",.1f"))


if __name__ == "__main__":
    main()
