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
from typing import NamedTuple

import pandas as pd
import yaml

from txai import curves, plan
from txai.budget import (
    CHUNK_VALUES,
    DEFAULT_MEMORY_MB,
    cnn_row_bytes,
    cnn_training_row_bytes,
    rows_within,
)
from txai.config import (
    explainers_by_arch,
    grid_side,
    model_ids,
    setting_for,
)
from txai.explainers import TABLE

BYTES = 4  # float32 everywhere a matrix is held
MB = 1_000_000
BASE_MB = 1_000  # Python, torch and pandas themselves
BACKWARD = 3  # a forward and a backward pass cost about three forwards
SOURCE_GENES = 60_000  # genes of a GENCODE-wide source matrix (Xena's toil: 60,498)
PARSE_MB_S = 20  # text matrices parsed by pandas' C reader (assumed)
COLUMN_KB = 45  # pandas reading a Parquet table, per column (measured: 800 MB for 19,241 genes)


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
    out = dict(plan.declared_size(config)[0])
    out.setdefault("largest_class", 3 * math.ceil(out["samples"] / out["classes"]))
    return out


def activations_mb(config: dict) -> float:
    """Host memory of the largest CNN training batch's activations, where the CNN may train on
    the CPU (train.device cpu or auto); 0 with train.device: cuda (they are on the GPU)."""
    if config["train"]["device"] == "cuda":
        return 0.0
    spec = config["train"]["cnn"]
    side = grid_side(size(config)["genes"], spec["grid_multiple"])
    row = cnn_training_row_bytes(spec["channels"], side)
    return max(spec["batch_size"]) * row / MB


def focus_classes(config: dict, status: str = "any") -> int:
    """Classes of the focus tissues (`plan.focus`) of one status, or all: normal counts a tissue
    without a normal class by all of its classes, whose samples are explained instead
    (`txai.explain.explained_samples`)."""
    classes = plan.focus(config).classes.values()
    if status == "normal":
        return max(1, sum(c["normal"] or c["any"] for c in classes))
    return max(1, sum(c[status] for c in classes))


def explained_classes(config: dict, setting: dict) -> int:
    """Classes a setting explains: the focus tissues' (of its status), or all."""
    spec = {**config["explain"]["samples"], **setting.get("samples", {})}
    classes = size(config)["classes"]
    if spec.get("tissues", "focus") == "focus":
        classes = min(classes, focus_classes(config, spec.get("status", "any")))
    return classes


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
    return explained_classes(config, setting) * per_class


def conv_flops(config: dict) -> list[float]:
    """Multiply-adds x 2 of each of the CNN's convolutions for one sample ('same' padding, a
    2 x 2 pool after each)."""
    dims, spec = size(config), config["train"]["cnn"]
    side = grid_side(dims["genes"], spec["grid_multiple"])
    widths = [1, *spec["channels"]]
    return [
        2.0 * (side // 2**layer) ** 2 * kernel**2 * widths[layer] * widths[layer + 1]
        for layer, kernel in enumerate(spec["kernels"])
    ]


def forward_flops(config: dict, arch: str) -> float:
    """Multiply-adds x 2 of one sample's forward pass."""
    dims, spec = size(config), config["train"][arch]
    genes, classes = dims["genes"], dims["classes"]
    if arch == "mlp":
        return 2.0 * (genes * spec["hidden"] + spec["hidden"] * classes)
    return sum(conv_flops(config)) + 2.0 * spec["channels"][-1] * classes


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
    """Forward-backward passes of the Captum backend per explained sample for one replicate of
    one model: each reference of an estimate, each of its passes (the path's points, Grad-CAM's
    own pass)."""
    n = estimates(strategy, explainer) * TABLE[explainer].passes(config["explain"]["ig_steps"])
    if "references" in strategy and TABLE[explainer].averages_references:
        n *= strategy["references"]["count"]
    return n


def replicate_factor(config: dict, setting: dict, models: list[str]) -> int:
    """Explanations per batch: one per model, `replicates` for the replicate models."""
    replicates = setting.get("replicates", config["explain"]["replicates"])
    chosen = set(config["explain"]["replicate_models"])
    return sum(replicates if m in chosen else 1 for m in models)


class Work(NamedTuple):
    """What one replicate of one explainer asks of a fast path: the samples, the setting's
    repeats, copies (noisy or x itself), references per sample and whether they are all equal
    (the zero pool), and the batch budget of the device it runs on."""

    n: int
    repeats: int
    copies: int
    noisy: bool
    references: int  # 0 without references
    equal: bool
    memory_mb: float
    cpu: bool


def work(config: dict, arch: str, explainer: str, setting: dict) -> Work:
    """The Work of an explain job's replicates, on the device the config runs them on."""
    strategy = setting_for(setting, explainer)
    smooth = strategy.get("smoothgrad", {})
    refs = strategy.get("references", {})
    cpu = config["train"]["device"] == "cpu"
    memory = config["explain"]["memory_mb"] or DEFAULT_MEMORY_MB["cpu" if cpu else "cuda"]
    return Work(explained(config, setting), strategy.get("repeats", 1), smooth.get("copies", 1),
                bool(smooth.get("sd")), refs.get("count", 0), refs.get("type") == "zero",
                memory, cpu)  # fmt: skip


def mlp_flops(w: Work, genes: int, hidden: int, pool_rows: int) -> float:
    """Matmul FLOPs of one replicate of the MLP fast path (`txai.fast`): the hidden layer of
    the inputs, of the reference pools and of every noisy copy, and one product of W' per
    estimate row (a reference of each sample, or each sample)."""
    rows = w.repeats * w.copies * w.n * (w.references if w.references and not w.equal else 1)
    hidden_rows = w.n + pool_rows + (w.repeats * w.copies * w.n if w.noisy else 0)
    return 2.0 * genes * hidden * (hidden_rows + rows)


def cnn_flops(w: Work, explainer: str, convs: list[float], channels: list[int], side: int,
              genes: int, ig_steps: int) -> float:  # fmt: skip
    """Convolution FLOPs of one replicate of the CNN fast path (`txai.fast_cnn`), by running its
    batching with counts instead of tensors: which trunk rows go forward (inputs that every
    repeat shares once while a batch takes all samples), and which go backward (every row of
    every estimate; IntegratedGradients' steps up to the first convolution, summed before it).
    `convs`: forward FLOPs of each convolution for one row."""
    record = TABLE[explainer]
    halves = 2 if record.rule == "deeplift" else 1
    steps = ig_steps if record.path else 0
    rows_budget = rows_within(w.memory_mb, cnn_row_bytes(channels, side))
    # a copy's estimates: (trunk inputs shared by every repeat, references per sample)
    if not w.references or w.equal:
        kinds = [(not w.noisy, 1)]
    elif record.averages_references:
        kinds = [(False, w.references)]
    else:
        kinds = [(False, 1)] * w.references
    items = []  # (shared, references, first step, steps): IG's steps in groups that fit
    for shared, k in kinds:
        group = max(1, rows_budget // k)
        spans = [(i, min(group, steps - i)) for i in range(0, steps, group)] if steps else [(0, 0)]
        items += [(shared, k, first, count) for first, count in spans]
    state = {"flops": 0.0, "cached": None}

    def rows(item):  # trunk rows of one sample, both halves
        return item[1] * max(item[3], 1) * halves

    def chunk(pending):
        groups = []
        for item in pending:
            last = groups[-1] if groups else []
            fits = sum(map(rows, last)) + rows(item) <= rows_budget
            if last and fits and item[2:] == last[0][2:]:
                last.append(item)
            else:
                groups.append([item])
        for group in groups:
            per_sample = sum(map(rows, group))
            whole = per_sample * w.n <= rows_budget
            if all(item[0] for item in group):  # one forward for all, kept while whole
                forward = 0 if whole and state["cached"] == group[0][2:] else rows(group[0])
                state["cached"] = group[0][2:] if whole else state["cached"]
            else:
                forward = per_sample
            state["flops"] += w.n * forward * sum(convs)
            for _, k, _, count in group:  # IG: each step to conv2, then their sum through conv1
                per_step = sum(convs[1:]) * count + convs[0] if count else sum(convs)
                state["flops"] += w.n * k * halves * per_step

    pending, repeats = [], 0
    for _ in range(w.repeats):
        pending += items * w.copies
        repeats += 1
        values = sum(w.n * item[1] * max(item[3], 1) for item in pending) * channels[0] * side**2
        held = (repeats * w.copies if w.noisy else 1) * w.n * genes * 4  # x, or the noisy copies
        if (w.cpu and values >= CHUNK_VALUES) or 4 * held >= w.memory_mb * 2**20:
            chunk(pending)
            pending, repeats = [], 0
    chunk(pending)
    return state["flops"]


def explain_flops(config: dict, arch: str, explainer: str, setting: dict, models: list) -> float:
    """One explain job: the matmul and convolution FLOPs of each replicate of each of its
    models, as the fast path counts them, or Captum's passes with `explain.fast: false`."""
    replicates = replicate_factor(config, setting, models)
    if not config["explain"]["fast"]:  # Captum's backend: each pass over the whole model
        passes_ = passes(config, setting_for(setting, explainer), explainer)
        return (
            BACKWARD
            * forward_flops(config, arch)
            * explained(config, setting)
            * passes_
            * (replicates)
        )
    w, dims, spec = work(config, arch, explainer, setting), size(config), config["train"][arch]
    if arch == "mlp":
        strategy = setting_for(setting, explainer)
        kind = strategy.get("references", {}).get("type")
        pools = config["references"]["pool_size"] if kind else 0
        pools *= explained_classes(config, setting) if kind == "specific" else 1
        per = mlp_flops(w, dims["genes"], spec["hidden"], pools)
    else:
        side = grid_side(dims["genes"], spec["grid_multiple"])
        per = cnn_flops(w, explainer, conv_flops(config), spec["channels"], side, dims["genes"],
                        config["explain"]["ig_steps"])  # fmt: skip
    return per * replicates


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
    wide_mb = math.ceil(genes * COLUMN_KB / 1000)  # pandas reading a table of a column a gene
    if stage == "cohort":  # chunked source reading + the output and its transposed copy
        return BASE_MB + matrix_mb(config, 6)
    if stage == "data":  # text parsing in float64, the log2 copy and the float32 output; a
        # Parquet matrix costs pandas' reader a fixed amount per column
        return BASE_MB + matrix_mb(config, 10) + wide_mb
    if stage == "references":  # the matrix + the pools in float32 + one drawn in float64
        pools = focus_classes(config) if "specific" in references["types"] else 1
        return BASE_MB + matrix_mb(config, 2) + pools_mb * (pools + 2)
    if stage == "train":  # the matrix, its tensors and an up-sampled epoch; a CNN's batch of
        # activations where it may train on the CPU (not with train.device: cuda)
        cnn = job.get("arch", "cnn") == "cnn"
        return BASE_MB + matrix_mb(config, 6) + (math.ceil(activations_mb(config)) if cnn else 0)
    if stage == "explain":
        setting, explainer = job["setting"], job["explainer"]
        kinds = plan.references(setting, [explainer])  # specific: the explained classes'
        pools = sum(explained_classes(config, setting) if k == "specific" else 1 for k in kinds)
        return (
            BASE_MB + workspace_mb(config) + pools_mb * pools
            + math.ceil(explained(config, setting) * genes * BYTES / MB)  # its rows alone
            + 3 * attribution_mb(config, setting, explainer, job["models"])
        )  # fmt: skip
    if stage == "sanity":  # a training run, then every explainer's plain attributions
        return mem_mb(config, "train", **job) + workspace_mb(config)
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
    return 2 * BASE_MB + wide_mb  # tables and figures, some of them reading a gene-wide table


SANITY_LAYERS = {"mlp": 2, "cnn": 4}  # txai.sanity.LAYERS: each randomised twice


def training_precision(config: dict) -> str:
    """train.precision where the config trains: `auto` is bf16 on a GPU, fp32 on the CPU."""
    choice = config["train"]["precision"]
    if choice == "auto":
        return "fp32" if config["train"]["device"] == "cpu" else "bf16"
    return choice


def rate(config: dict, precision: str) -> float:
    """FLOP/s of one job in that arithmetic (`hpc.rates`): the configured GPU's, or the CPU's
    per thread times the job's threads when train.device is cpu."""
    hpc = config["hpc"]
    if config["train"]["device"] == "cpu":
        return hpc["rates"]["cpu"][precision]["tflops"] * 1e12 * config["train"]["threads"]
    return hpc["rates"][hpc["gpu"]][precision]["tflops"] * 1e12


def sanity_flops(config: dict, arch: str) -> tuple[float, float]:
    """(training, attribution) FLOPs of a sanity job: the permuted-label model, then every
    explainer's plain setting on the trained model and each variant."""
    setting = config["explain"]["settings"]["plain"][arch]
    explain = sum(explain_flops(config, arch, e, setting, ["m01"])
                  for e in explainers_by_arch(config)[arch])  # fmt: skip
    ratio = config["sanity"]["epochs"] / epochs(config, arch)
    variants = 2 + 2 * SANITY_LAYERS[arch]  # trained, randomised, permuted labels
    return ratio * train_flops(config, arch), variants * explain


def seconds(config: dict, stage: str, **job) -> float:
    """Compute seconds of one job of a GPU stage: training at train.precision's rate,
    attribution at fp32's."""
    arch, train = job["arch"], rate(config, training_precision(config))
    if stage == "train":  # one model, or the `models` of a packed job
        return len(job.get("models", [None])) * train_flops(config, arch) / train
    if stage == "crossval":
        return (config["train"]["crossval_folds"] - 1) * train_flops(config, arch) / train
    fp32 = rate(config, "fp32")
    if stage == "sanity":
        training, attribution = sanity_flops(config, arch)
        return training / train + attribution / fp32
    explainers = job.get("explainers") or [job["explainer"]]  # a pack runs them in turn
    flops = sum(explain_flops(config, arch, e, job["setting"], job["models"]) for e in explainers)
    return flops / fp32


def runtime_min(config: dict, stage: str, **job) -> int:
    """Minutes to ask for: compute seconds (GPU stages) or the data volume at disk speed."""
    hpc = config["hpc"]
    if stage in ("train", "crossval", "explain", "sanity"):
        minutes = seconds(config, stage, **job) / 60
    elif stage == "cohort":  # parsing the sources' text: every gene they hold, ~8 bytes a value
        minutes = size(config)["samples"] * SOURCE_GENES * 8 / MB / PARSE_MB_S / 60
    else:  # reading and writing: the matrix a few times at the assumed disk speed
        minutes = matrix_mb(config, 4) / hpc["disk_mb_s"] / 60
    return max(hpc["min_runtime"], math.ceil(hpc["margin"] * minutes))


def on_attempt(config: dict, kind: str, first: int, attempt: int) -> int:
    """A job's request of `kind` (mem_mb or runtime) on its `attempt` (1, 2, ...): the first
    times 1 + hpc.retry_growth x (attempt - 1); a runtime never above hpc.max_runtime."""
    hpc = config["hpc"]
    grown = math.ceil(first * (1 + hpc["retry_growth"] * (attempt - 1)))
    return min(grown, hpc["max_runtime"]) if kind == "runtime" else grown


COST = plan.Cost(seconds, runtime_min)  # how txai.plan sizes and packs jobs


def table(config: dict) -> pd.DataFrame:
    """Per stage: jobs, TFLOP, compute hours (GPU hours on the configured GPU), largest job's
    memory, disk."""
    rows = []
    for arch in ("mlp", "cnn"):
        ids = model_ids(config["train"][arch])
        model_mb = BYTES * parameters(config, arch) / MB
        flops = train_flops(config, arch) * (len(ids) + config["train"]["crossval_folds"] - 1)
        hours = (len(ids) * seconds(config, "train", arch=arch)
                 + seconds(config, "crossval", arch=arch)) / 3600  # fmt: skip
        jobs = len(plan.train_batches(config, arch, COST)) + 1  # and cross-validation
        rows.append((f"train {arch}", jobs, flops, hours, mem_mb(config, "train", arch=arch),
                     len(ids) * model_mb))  # fmt: skip
        jobs = plan.explain_jobs(config, arch, COST)
        flops = sum(explain_flops(config, arch, j.explainer, j.spec, j.models) for j in jobs)
        memory = max(mem_mb(config, "explain", arch=arch, explainer=j.explainer, setting=j.spec,
                            models=j.models) for j in jobs)  # fmt: skip
        disk = sum(attribution_mb(config, j.spec, j.explainer, j.models) for j in jobs)
        packs = len(plan.explain_packs(config, arch, COST))
        rows.append((f"explain {arch}", packs, flops, flops / rate(config, "fp32") / 3600,
                     memory, disk))  # fmt: skip
        sanity = seconds(config, "sanity", arch=arch)
        rows.append((f"sanity {arch}", 1, sum(sanity_flops(config, arch)), sanity / 3600,
                     mem_mb(config, "sanity", arch=arch), 0.0))  # fmt: skip
    rows.append(("data", 2, 0.0, 0.0, mem_mb(config, "data"), matrix_mb(config, 3)))
    for stage in ("reproducibility", "curves", "annotate", "differential"):
        rows.append((stage, 1, 0.0, 0.0, mem_mb(config, stage), 0.0))
    frame = pd.DataFrame(
        rows, columns=["stage", "jobs", "flops", "gpu_hours", "max_mem_mb", "disk_mb"]
    )
    frame["tflop"] = frame.pop("flops") / 1e12
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
