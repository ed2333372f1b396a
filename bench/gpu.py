"""Benchmark: what a GPU job sustains (for `hpc.rates`), and are its attributions the CPU's.

At the paper's dimensions (19,241 genes, 82 classes, the CNN's 64-128-256 channels on a 144 x
144 grid): one training epoch of each architecture in each arithmetic (fp32, tf32, bf16), and
each explainer's attribution throughput on both architectures, FLOPs counted as `txai.scale`
counts them. Every explainer's scores are compared with the CPU's on the same draws (the largest
difference relative to the largest score). On a machine without CUDA it runs on the CPU, so the
CPU is compared with itself. `--quick` takes small dimensions (a test runs it on the CPU).
JSON to stdout and --out.

    python bench/gpu.py [--quick] [--out results/bench/gpu.json]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from output import write  # noqa: E402  (bench/output.py, beside this script)

from txai import explain, models, scale, train  # noqa: E402
from txai.budget import DEFAULT_MEMORY_MB  # noqa: E402
from txai.config import grid_side, setting_for  # noqa: E402
from txai.explainers import TABLE  # noqa: E402

PAPER = {"genes": 19_241, "classes": 82, "channels": [64, 128, 256], "rows": 8192, "samples": 16}
QUICK = {"genes": 400, "classes": 6, "channels": [4, 8, 8], "rows": 256, "samples": 3}
KERNELS = [5, 5, 3]
SETTING = {"repeats": 4, "references": {"type": "universal", "count": 4}}  # per explainer
IG_STEPS = 16


def synced(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(arch: str, dims: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    if arch == "mlp":
        return models.MLP(dims["genes"], dims["classes"])
    return models.CNN(dims["genes"], dims["classes"], channels=dims["channels"], kernels=KERNELS)


def convolutions(dims: dict) -> list[float]:
    """Forward FLOPs of each of the CNN's convolutions for one sample."""
    side = grid_side(dims["genes"])
    widths = zip([1, *dims["channels"][:2]], dims["channels"], strict=True)
    return [2.0 * (side // 2**i) ** 2 * k**2 * a * b
            for i, ((a, b), k) in enumerate(zip(widths, KERNELS, strict=True))]  # fmt: skip


def forward(arch: str, dims: dict) -> float:
    if arch == "mlp":
        return 2.0 * (dims["genes"] * 128 + 128 * dims["classes"])
    return sum(convolutions(dims)) + 2.0 * dims["channels"][-1] * dims["classes"]


def epoch(arch: str, dims: dict, precision: str, device: torch.device) -> dict:
    """One training epoch (plus its validation pass) at `dims["rows"]` rows, batch 256."""
    r = np.random.default_rng(0)
    x = torch.as_tensor(r.normal(3, 2, (dims["rows"], dims["genes"])).astype(np.float32))
    y = torch.as_tensor(r.integers(dims["classes"], size=dims["rows"]))
    model = build(arch, dims).to(device)
    if device.type == "cuda" and arch == "cnn":
        model = model.to(memory_format=torch.channels_last)
    data = tuple(t.to(device) for t in (x, y, x[:256], y[:256]))
    hp = {"lr": 1e-3, "weight_decay": 1e-3, "batch_size": 256, "max_epochs": 1,
          "early_stopping": 5, "lr_patience": 5, "lr_factor": 0.25,
          "precision": precision}  # fmt: skip
    synced(device)
    start = time.perf_counter()
    train.fit(model, data, hp, seed=0)
    synced(device)
    seconds = time.perf_counter() - start
    flops = scale.BACKWARD * forward(arch, dims) * (dims["rows"] + 256)
    return {"seconds": seconds, "tflop_per_s": flops / seconds / 1e12}


def attribution(arch: str, explainer: str, dims: dict, device: torch.device) -> dict:
    """One replicate of `dims["samples"]` samples on `device`, and the same draws on the CPU."""
    r = np.random.default_rng(1)
    n = dims["samples"]
    x = r.uniform(0, 8, (n, dims["genes"])).astype(np.float32)
    target = r.integers(dims["classes"], size=n)
    pools = np.repeat(r.uniform(0, 2, (1, 30, dims["genes"])).astype(np.float32), n, axis=0)
    strategy = setting_for(SETTING, explainer)

    def scores(on: torch.device) -> tuple[np.ndarray, float]:
        model = build(arch, dims).eval().to(on)
        synced(on)
        start = time.perf_counter()
        blocks = explain.explain_model(model, explainer, x, target, strategy, pools,
                                       np.random.default_rng(2), ig_steps=IG_STEPS)  # fmt: skip
        synced(on)
        return blocks[0][2], time.perf_counter() - start

    here, seconds = scores(device)
    cpu, _ = scores(torch.device("cpu"))
    refs = strategy.get("references", {}).get("count", 0)
    budget = DEFAULT_MEMORY_MB[device.type]
    work = scale.Work(n, strategy["repeats"], 1, False, refs, False, budget, device.type == "cpu")
    if arch == "mlp":
        flops = scale.mlp_flops(work, dims["genes"], 128, 30 * n if refs else 0)
    else:
        flops = scale.cnn_flops(work, explainer, convolutions(dims), dims["channels"],
                                grid_side(dims["genes"]), dims["genes"], IG_STEPS)  # fmt: skip
    return {"seconds": seconds, "tflop_per_s": flops / seconds / 1e12,
            "max_rel_diff_vs_cpu": float(np.abs(here - cpu).max() / np.abs(cpu).max())}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small dimensions (seconds on a CPU)")
    parser.add_argument("--out", default="results/bench/gpu.json")
    args = parser.parse_args()
    dims = QUICK if args.quick else PAPER
    device = train.device("auto")
    report = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "machine": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
        },  # fmt: skip
        "dimensions": dims,
        "training_epoch": {
            arch: {p: epoch(arch, dims, p, device) for p in ("fp32", "tf32", "bf16")}
            for arch in ("mlp", "cnn")
        },
        "attribution": {
            f"{arch}/{name}": attribution(arch, name, dims, device)
            for arch in ("mlp", "cnn")
            for name, record in TABLE.items()
            if arch == "cnn" or not record.convolutional
        },
    }
    write(report, args.out)


if __name__ == "__main__":
    main()
