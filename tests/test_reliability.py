"""Reliability (issue 11): a killed run resumes without redoing finished work and ends with an
uninterrupted run's bytes; the same config gives the same bytes, another seed other numbers; a
moved project reruns nothing (issue 25).

Every run here is compared with the session's one uninterrupted run of the tiny config
(`tiny_reference` in conftest.py)."""

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, TINY, result_files, snakemake

from txai.io import InputError
from txai.workflow import job

RUN = ("-s", str(REPO / "Snakefile"), "--cores", "2", "--configfile", str(TINY))


def incomplete(root: Path) -> set[str]:
    """Outputs Snakemake has marked incomplete: a job that started and was not seen to finish.

    Its records in .snakemake/incomplete are named by the output's path in URL-safe base64,
    split into folders ('@' + part) when longer than a file name may be."""
    folder = root / ".snakemake" / "incomplete"
    marked = set()
    for record in folder.rglob("*"):
        if record.is_file() and record.name != "migration_underway":
            name = "".join(part.removeprefix("@") for part in record.relative_to(folder).parts)
            marked.add(base64.urlsafe_b64decode(name).decode())
    return marked


def stamps(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime in ns) of every output under root/results; a rewrite changes both."""
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in (root / "results").rglob("*")
        if p.is_file() and not p.name.endswith(".tmp")
    }


def kill_during(root: Path, prefix: str) -> None:
    """Start the tiny run in `root` and SIGKILL Snakemake and its jobs (the process group, as a
    lost node or an out-of-memory kill does) once a job writing under `prefix` has started."""
    with open(root / "killed.log", "w") as log:
        run = subprocess.Popen(
            [sys.executable, "-m", "snakemake", *RUN],
            cwd=root, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 600
        while not any(path.startswith(prefix) for path in incomplete(root)):
            assert run.poll() is None, (root / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"no job writing {prefix} started"
            time.sleep(0.01)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()


@pytest.mark.parametrize("prefix", ["results/models/", "results/attributions/"])
def test_a_killed_run_resumes_to_the_same_bytes(prefix, tiny_reference, tmp_path):
    kill_during(tmp_path, prefix)
    running = incomplete(tmp_path)
    assert any(path.startswith(prefix) for path in running)
    finished = {p: stamp for p, stamp in stamps(tmp_path).items() if p not in running}
    assert finished  # the data stage at least

    # The killed run left its lock. Snakemake asks for what a user then does: remove the lock,
    # then (when a killed job left an output) rerun its incomplete jobs; such an output it
    # reports first, while building the DAG, before it looks at the lock.
    assert list((tmp_path / ".snakemake" / "locks").iterdir())
    done = snakemake(*RUN, cwd=tmp_path)
    assert done.returncode != 0, done.stderr[-3000:]
    assert "--unlock" in done.stderr or "--rerun-incomplete" in done.stderr, done.stderr[-3000:]
    assert snakemake(*RUN, "--unlock", cwd=tmp_path).returncode == 0
    done = snakemake(*RUN, cwd=tmp_path)
    if done.returncode != 0:
        assert "--rerun-incomplete" in done.stderr, done.stderr[-3000:]
        done = snakemake(*RUN, "--rerun-incomplete", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    after = stamps(tmp_path)
    rewritten = [p for p, stamp in finished.items() if p in after and after[p] != stamp]
    assert rewritten == []  # no finished job ran again
    consumed = [p for p in finished if p not in after]
    assert all(not (tiny_reference / p).exists() for p in consumed)  # only temporary files went
    assert not list((tmp_path / "results").rglob("*.tmp"))  # the killed writers' files are gone
    assert result_files(tmp_path) == result_files(tiny_reference)


def test_the_same_config_gives_the_same_bytes(tiny_reference, tmp_path):
    """Every output, Parquet, model weights, tables and figures (PNG and PDF) included."""
    done = snakemake(*RUN, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    files = result_files(tmp_path)
    assert {Path(p).suffix for p in files} >= {".parquet", ".pt", ".tsv", ".png", ".pdf"}
    assert files == result_files(tiny_reference)
    for pdf in (tmp_path / "results/figures").glob("*.pdf"):
        assert b"/CreationDate" not in pdf.read_bytes(), pdf


def test_a_moved_project_reruns_nothing(tiny_reference, tmp_path):
    """A finished project copied with `cp -a` (the workflow, its results, logs and Snakemake's
    records, modification times kept) plans no job in the copy: no rule's params, inputs or logs
    hold an absolute path."""
    # Not config/: the reference ran from a folder without config/config.yaml, on the tiny
    # config alone, and so does its copy.
    for name in ("Snakefile", "workflow", "envs", "src", "resources", "tests/config"):
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, tmp_path / name)
    shutil.copytree(tiny_reference, tmp_path, symlinks=True, dirs_exist_ok=True)
    done = snakemake("-n", "--configfile", "tests/config/tiny.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Nothing to be done" in done.stdout, done.stdout[-3000:]  # its reasons, if not


def test_another_seed_changes_every_stochastic_step(tiny_reference, tmp_path):
    """The reference's cohort, read as a user's files, with another master seed: the split,
    a reference pool, the weights and the attributions change; the normalised data do not."""
    config = yaml.safe_load(TINY.read_text())
    cohort = tiny_reference / "results/cohort"
    sheet = pd.read_csv(cohort / "samples.tsv", sep="\t")
    size = {"samples": len(sheet), "genes": config["cohort"]["demo"]["genes"],
            "classes": sheet["class"].nunique()}  # fmt: skip
    config["seed"] += 1
    config["cohort"] = {
        "source": "files",
        "name": "the tiny cohort, another seed",
        "files": {
            "expression": str(cohort / "counts.parquet"),
            "samples": str(cohort / "samples.tsv"),
            "genes": str(cohort / "genes.parquet"),
            "genesets": str(cohort / "genesets.gmt"),
            "scale": "counts",
            "protein_coding_only": True,
        },
        "size": size,
    }
    config["hpc"]["pack_minutes"] = 0  # one model a job: only the targets below train
    (tmp_path / "seed.yaml").write_text(yaml.safe_dump(config))
    attribution = "results/attributions/mlp/DeepLiftShap/plain/m01.parquet"
    targets = ["results/models/mlp/m01/model.pt", "results/models/cnn/m01/model.pt", attribution]
    done = snakemake(
        "-s", str(REPO / "Snakefile"), *targets, "--cores", "2", "--configfile", "seed.yaml",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    def both(name: str) -> list[pd.DataFrame]:
        return [pd.read_parquet(root / name) for root in (tmp_path, tiny_reference)]

    pd.testing.assert_frame_equal(*both("results/data/expression.parquet"))
    new, old = both("results/data/samples.parquet")
    assert (new["split"] != old["split"]).any()
    new, old = both("results/references/universal.parquet")  # the plain MLP's references
    assert not new.equals(old)
    for arch in ("mlp", "cnn"):
        weights = [
            torch.load(root / f"results/models/{arch}/m01/model.pt", weights_only=False)
            for root in (tmp_path, tiny_reference)
        ]
        first = next(iter(weights[0]["state_dict"]))
        assert not torch.equal(weights[0]["state_dict"][first], weights[1]["state_dict"][first])
    new, old = both(attribution)
    assert not new.equals(old)


@pytest.fixture
def torch_flags(monkeypatch):
    """Restores PyTorch's global determinism settings after a test changed them."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    cudnn = torch.backends.cudnn
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(), cudnn.benchmark,
             cudnn.deterministic, torch.get_num_threads())  # fmt: skip
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    cudnn.benchmark, cudnn.deterministic = saved[2:4]
    torch.set_num_threads(saved[4])


def test_a_job_asks_pytorch_for_deterministic_kernels(torch_flags, tmp_path):
    torch.backends.cudnn.benchmark = True
    with job(SimpleNamespace(log=[str(tmp_path / "job.log")], threads=1)):
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()  # warns, never fails a job
        assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert torch.get_num_threads() == 1


def test_bad_input_ends_a_job_with_its_message_alone(torch_flags, tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit) as stop, job(SimpleNamespace(log=[str(log)], threads=1)):
        raise InputError("samples.tsv: line 3 (sample 's2'), column 'status': fix the cell.")
    assert stop.value.code == 1
    assert log.read_text().endswith(
        "txai ERROR: samples.tsv: line 3 (sample 's2'), column 'status': fix the cell.\n"
    )
    assert "Traceback" not in log.read_text()


def test_a_finished_job_logs_where_it_ran(torch_flags, tmp_path):
    log = tmp_path / "job.log"
    with job(SimpleNamespace(log=[str(log)], threads=1)):
        torch.zeros(3).sum()
    last = log.read_text().splitlines()[-1]
    assert "txai INFO: ran on {'device': 'cpu', 'peak_host_mb': " in last
    assert "'precision': {'cuda_matmul': " in last and "'cudnn_conv': " in last
