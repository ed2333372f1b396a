"""Resource records (issue 23): every job records its declared memory and its measured peak
(`txai.workflow.job`), and `python -m txai.resources` fails on a job above its `mem_mb`."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from txai import resources
from txai.io import InputError, write_json
from txai.workflow import job


def record(rule: str, mem_mb: int | None, peak_host_mb: int) -> dict:
    return {"rule": rule, "mem_mb": mem_mb, "runtime": 5, "device": "cpu",
            "peak_host_mb": peak_host_mb, "peak_gpu_mb": None, "seconds": 1.0}  # fmt: skip


def cli(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "txai.resources", str(root)],
                          capture_output=True, text=True)  # fmt: skip


def test_check_names_each_job_above_its_declared_memory(tmp_path):
    folder = tmp_path / "benchmarks" / "resources"
    write_json(record("train", 1000, 1200), folder / "train" / "mlp" / "m01.json")
    write_json(record("train", 1000, 800), folder / "train" / "mlp" / "m02.json")
    write_json(record("provenance", None, 5000), folder / "provenance.json")

    offenders = resources.check(tmp_path)
    assert [(r["path"], r["peak_host_mb"]) for r in offenders] == [
        ("benchmarks/resources/train/mlp/m01.json", 1200)
    ]
    done = cli(tmp_path)
    assert done.returncode == 1
    assert "OVER: train (benchmarks/resources/train/mlp/m01.json) peaked at 1200 MB" in done.stdout
    assert done.stdout.count("OVER:") == 1 and "m02.json" in done.stdout
    assert "provenance.json" in done.stdout  # listed, not failed
    assert "1 job(s) declared no mem_mb" in done.stdout

    (folder / "train" / "mlp" / "m01.json").unlink()
    assert resources.check(tmp_path) == []
    assert cli(tmp_path).returncode == 0


def test_no_record_is_a_failure(tmp_path):
    done = cli(tmp_path)
    assert done.returncode == 1
    assert "No resource record" in done.stdout and "nothing was checked" in done.stdout


def fake_snakemake(log: str) -> SimpleNamespace:
    return SimpleNamespace(log=[log], rule="train", threads=1,
                           resources=SimpleNamespace(mem_mb=1234, runtime=7))  # fmt: skip


def test_a_job_records_its_declaration_and_peak(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # a job without PyTorch
    (tmp_path / "logs" / "train" / "mlp").mkdir(parents=True)
    with job(fake_snakemake("logs/train/mlp/m01.log")):
        held = np.ones(200 * 2**20 // 8)  # 200 MiB, every page touched
    del held
    written = json.loads((tmp_path / "benchmarks/resources/train/mlp/m01.json").read_text())
    assert written.pop("peak_host_mb") >= 200
    assert written.pop("seconds") >= 0
    assert written == {"rule": "train", "mem_mb": 1234, "runtime": 7,
                       "device": "cpu", "peak_gpu_mb": None}  # fmt: skip

    with pytest.raises(SystemExit), job(fake_snakemake("logs/train/mlp/m02.log")):
        raise InputError("a failed job records its resources too")
    assert (tmp_path / "benchmarks/resources/train/mlp/m02.json").exists()
    assert not (tmp_path / "results").exists()


def test_the_tiny_run_fits_its_declared_memory(tiny_reference):
    logs = tiny_reference / "logs"
    expected = {
        str(resources.FOLDER / log.relative_to(logs).with_suffix(".json"))
        for log in logs.rglob("*.log")
    }
    found = resources.records(tiny_reference)
    assert {r["path"] for r in found} == expected  # one record per job with a log
    rules = {r["rule"] for r in found}
    assert {"train_mlp_m01_m03", "train_cnn_m01_s02"} <= rules  # packed training jobs
    assert any(rule.startswith("explain_") for rule in rules)
    assert all(r["mem_mb"] and r["runtime"] and r["peak_host_mb"] > 0 for r in found)
    assert resources.check(tiny_reference) == [], resources.table(found)
