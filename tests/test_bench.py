"""bench/gpu.py --quick runs on the CPU: every explainer of both architectures, the training
epochs in each arithmetic, and the CPU compared with itself (no difference)."""

import json
import subprocess
import sys

from conftest import REPO

from txai.explainers import TABLE


def test_the_gpu_benchmark_runs_quick_on_the_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["device"] == "cpu"
    for arch in ("mlp", "cnn"):
        for precision in ("fp32", "tf32", "bf16"):
            assert report["training_epoch"][arch][precision]["tflop_per_s"] > 0
    names = {f"{a}/{n}" for a in ("mlp", "cnn") for n, e in TABLE.items()
             if a == "cnn" or not e.convolutional}  # fmt: skip
    assert set(report["attribution"]) == names
    for figures in report["attribution"].values():
        assert figures["tflop_per_s"] > 0 and figures["max_rel_diff_vs_cpu"] == 0.0


def test_the_attribution_benchmark_runs_small(tmp_path):
    """bench/attribution.py at tiny sizes: every explainer's naive and fast timings and ratio."""
    out = tmp_path / "attribution.json"
    args = (
        "--models 1 --repeats 2 --references 2 --calls 1 --cnn-genes 100 --cnn-models 1 "
        "--cnn-repeats 2 --cnn-calls 1"
    ).split()
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "attribution.py"), *args, "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    assert len(results) == 6 + 8 and all(r["ratio"] > 0 for r in results.values())
