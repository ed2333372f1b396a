"""Benchmark: the paper's attribution recipe, Captum's loop against txai's fast paths.

Paper dimensions (19,241 genes, 82 classes, random weights), 4 samples, 60 models x 40 repeats x
60 universal references. The naive loop is one Captum `.attribute` call per sample, repeat,
reference and model (DeepLiftShap: one call per sample, repeat and model with its 60 baselines);
a fixed random subset of calls is timed and scaled linearly to the whole workload. The fast path
runs the whole workload. Both in this process; JSON to stdout and --out.

    python bench/attribution.py [--models 60 --repeats 40 --references 60 --calls 100]
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

from txai import captum_backend, draws, explain, models  # noqa: E402
from txai.explainers import TABLE  # noqa: E402

GENES, CLASSES, HIDDEN, SAMPLES, POOL = 19_241, 82, 128, 4, 2000


def matmul_peak(n: int = 2048, reps: int = 5) -> float:
    """fp32 GFLOP/s of a large square matrix product on this machine, now."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def random_mlp(seed: int) -> models.MLP:
    torch.manual_seed(seed)
    model = models.MLP(GENES, CLASSES, HIDDEN)
    with torch.no_grad():
        model.bn.running_mean.normal_(0, 1)
        model.bn.running_var.uniform_(0.5, 2)
    return model.eval()


def frozen(model: torch.nn.Module) -> torch.nn.Module:
    """The Captum backend's copy of `model`, its dropout mask ready to be drawn per call."""
    net = captum_backend.explainable(model)
    (dropout,) = draws.dropouts(model)
    net.dropout.mask = torch.ones(dropout.shape)
    return net


def naive_calls(explainer: str, models_: int, repeats: int, references: int) -> int:
    """Captum calls of the naive loop for the whole workload."""
    record = TABLE[explainer]
    one_per_reference = record.references and not record.averages_references
    per_sample = repeats * (references if one_per_reference else 1)
    return models_ * SAMPLES * per_sample


def time_naive(explainer, nets, x, target, pool, references, calls, r) -> float:
    """Seconds per naive call, from `calls` calls at random (model, sample, references);
    `pool` holds the references as gene vectors."""
    generator = torch.Generator().manual_seed(0)
    record, seconds = TABLE[explainer], 0.0
    for _ in range(calls):
        net = nets[r.integers(len(nets))]
        net.dropout.mask = draws.dropout_mask(net.dropout.mask.shape, net.dropout.p, generator)
        i = int(r.integers(SAMPLES))
        count = references if record.averages_references else 1
        base = None
        if record.references:
            base = net.prepare(torch.as_tensor(pool[r.choice(len(pool), count, replace=False)]))
        start = time.perf_counter()
        captum_backend.attribute(record, net, net.prepare(x[i : i + 1]), target[i : i + 1], base)
        seconds += time.perf_counter() - start
    return seconds / calls


def time_fast(explainer, models_, x, target, strategy, pools, ig_steps) -> float:
    """Seconds of txai's path for the whole workload (every model, all samples at once)."""
    start = time.perf_counter()
    for seed, model in enumerate(models_):
        explain.explain_model(
            model, explainer, x.numpy(), target.numpy(), strategy, pools,
            np.random.default_rng(seed), ig_steps=ig_steps,
        )  # fmt: skip
    return time.perf_counter() - start


def record(calls: int, timed: int, per_call: float, fast_s: float, attributions: int) -> dict:
    """One explainer's figures: the naive loop scaled from `timed` calls, the fast path."""
    naive_s = per_call * calls
    return {
        "naive_calls": calls,
        "naive_calls_timed": timed,
        "naive_seconds_per_call": per_call,
        "naive_seconds": naive_s,
        "naive_scaled_from_subset": True,
        "fast_seconds": fast_s,
        "naive_attributions_per_s": attributions / naive_s,
        "fast_attributions_per_s": attributions / fast_s,
        "ratio": naive_s / fast_s,
    }


def flops(explainer: str, models_: int, repeats: int, references: int, ig_steps: int) -> float:
    """Multiply-adds x 2 of the fast path: hidden layers of inputs and the pool, the products
    of the hidden-layer factors with W', and the IG path (hidden units x steps)."""
    record = TABLE[explainer]
    k = references if record.references else 1
    per_model = 2 * HIDDEN * GENES * (SAMPLES * repeats * (1 + k))
    if record.references:
        per_model += 2 * HIDDEN * GENES * POOL
    if record.path:
        per_model += 2 * repeats * k * SAMPLES * HIDDEN * ig_steps
    return models_ * per_model


def cnn_flops(model: models.CNN, explainer: str, repeats: int, ig_steps: int) -> float:
    """Multiply-adds x 2 of the CNN fast path's convolutions for one model and all samples
    with zero references: the trunk forward once per distinct input, one backward step per
    repeat and row (two halves for DeepLift; IG's steps folded before the first layer)."""
    side, per_layer = model.side, []
    for conv in (model.conv1, model.conv2, model.conv3):
        per_layer.append(
            2 * conv.in_channels * conv.out_channels * conv.kernel_size[0] ** 2 * side**2
        )
        side //= 2
    layers = sum(per_layer)
    record = TABLE[explainer]
    if record.path:
        forward = ig_steps * layers
        backward = repeats * (ig_steps * (layers - per_layer[0]) + per_layer[0])
    elif record.rule == "deeplift":
        forward, backward = 2 * layers, 2 * repeats * layers
    else:
        forward, backward = layers, repeats * layers
        if record.cam:
            backward += repeats * per_layer[2] / 2  # the plain pass down to conv3's output
    return SAMPLES * (forward + backward)


def cnn_section(args, r: np.random.Generator) -> dict:
    """The CNN's explainers: one Captum call per sample, repeat, reference and model against
    txai's fast path (`txai.fast_cnn`)."""
    genes, k = args.cnn_genes, args.cnn_repeats
    x = torch.as_tensor(np.abs(r.normal(3, 2, (SAMPLES, genes))), dtype=torch.float32)
    target = torch.as_tensor(r.integers(CLASSES, size=SAMPLES))
    cnns = []
    for seed in range(args.cnn_models):
        torch.manual_seed(seed)
        cnns.append(models.CNN(genes, CLASSES).eval())
    nets = [frozen(m) for m in cnns]
    zero = np.zeros((1, k, genes), dtype=np.float32)
    pools = draws.Pools(torch.as_tensor(zero), torch.zeros(SAMPLES, dtype=torch.long))
    setting = {"repeats": args.cnn_repeats, "references": {"type": "zero", "count": k}}
    zero_vectors = np.zeros((k, genes), dtype=np.float32)
    out = {}
    for explainer in TABLE:
        per_call = time_naive(explainer, nets, x, target, zero_vectors, k, args.cnn_calls, r)
        strategy = explain.setting_for(setting, explainer)
        fast_s = time_fast(explainer, cnns, x, target, strategy, pools, args.ig_steps)
        calls = naive_calls(explainer, args.cnn_models, args.cnn_repeats, k)
        entry = record(calls, args.cnn_calls, per_call, fast_s, args.cnn_models * SAMPLES)
        gflop = sum(cnn_flops(m, explainer, args.cnn_repeats, args.ig_steps) for m in cnns) / 1e9
        out[f"cnn/{explainer}"] = {**entry, "fast_gflop": gflop, "fast_gflop_per_s": gflop / fast_s}
        print(f"cnn {explainer}: ratio {out[f'cnn/{explainer}']['ratio']:.1f}", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--references", type=int, default=60)
    parser.add_argument("--calls", type=int, default=100, help="naive calls timed per explainer")
    parser.add_argument("--ig-steps", type=int, default=50)
    parser.add_argument("--cnn-genes", type=int, default=2000)
    parser.add_argument("--cnn-models", type=int, default=2)
    parser.add_argument("--cnn-repeats", type=int, default=20)
    parser.add_argument("--cnn-calls", type=int, default=20, help="naive CNN calls timed")
    parser.add_argument("--out", default="results/bench/attribution.json")
    args = parser.parse_args()

    r = np.random.default_rng(0)
    x = torch.as_tensor(np.abs(r.normal(3, 2, (SAMPLES, GENES))), dtype=torch.float32)
    target = torch.as_tensor(r.integers(CLASSES, size=SAMPLES))
    mu, sigma = r.uniform(0, 6, GENES), r.uniform(0.2, 2, GENES)
    pool = np.clip(r.normal(mu, sigma, (POOL, GENES)), np.maximum(0, mu - sigma), mu + sigma)
    pool = pool.astype(np.float32)
    pools = draws.Pools(torch.as_tensor(pool[None]), torch.zeros(SAMPLES, dtype=torch.long))
    mlps = [random_mlp(seed) for seed in range(args.models)]
    nets = [frozen(m) for m in mlps[:5]]
    setting = {
        "repeats": args.repeats,
        "references": {"type": "universal", "count": args.references},
    }
    peak = matmul_peak()

    results, naive_total, fast_total = {}, 0.0, 0.0
    for explainer in [name for name, record in TABLE.items() if not record.convolutional]:
        per_call = time_naive(explainer, nets, x, target, pool, args.references, args.calls, r)
        calls = naive_calls(explainer, args.models, args.repeats, args.references)
        strategy = explain.setting_for(setting, explainer)
        fast_s = time_fast(explainer, mlps, x, target, strategy, pools, args.ig_steps)
        entry = record(calls, args.calls, per_call, fast_s, args.models * SAMPLES)
        gflop = flops(explainer, args.models, args.repeats, args.references, args.ig_steps) / 1e9
        entry.update(fast_gflop=gflop, fast_gflop_per_s=gflop / fast_s)
        results[f"mlp/{explainer}"] = entry
        naive_total += entry["naive_seconds"]
        fast_total += fast_s
        print(f"mlp {explainer}: ratio {entry['ratio']:.1f}", file=sys.stderr)
    results.update(cnn_section(args, r))
    report = {
        "workload": {
            "genes": GENES, "classes": CLASSES, "samples": SAMPLES, "models": args.models,
            "repeats": args.repeats, "references": args.references, "ig_steps": args.ig_steps,
            "reference_pool": POOL,
        },
        "machine": {
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
            "fp32_matmul_peak_gflop_per_s": peak,
        },
        "results": results,
        "total": naive_total / fast_total,
        "cnn": (
            f"paper widths on a {args.cnn_genes}-gene grid, {args.cnn_models} models x "
            f"{args.cnn_repeats} repeats x {args.cnn_repeats} zero references; the fast path "
            "is txai.fast_cnn (trunk forward once, repeats batched in the backward pass)"
        ),
    }  # fmt: skip
    write(report, args.out)


if __name__ == "__main__":
    main()
