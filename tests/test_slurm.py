"""SLURM integration (issues 11, 12): the tiny config through `--profile slurm` on a real
one-node cluster (tests/slurm/up.sh), checked against a local run byte for byte.

Runs with TXAI_SLURM_IT=1 only (.ci/run sets it), as root on Debian: it installs SLURM from
Debian packages when absent and writes /etc/slurm/slurm.conf and gres.conf, unless a SLURM
configuration it did not write is there (then it skips).
"""

import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, TINY, result_files

pytestmark = pytest.mark.skipif(
    os.environ.get("TXAI_SLURM_IT") != "1",
    reason="SLURM integration test: set TXAI_SLURM_IT=1 (root, Debian; .ci/run does)",
)

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
# What only this cluster needs: no slurmdbd, so squeue (not sacct) reports job states, and no
# accounts; a status check two seconds after submission instead of 40.
TEST_CLUSTER_OPTIONS = [
    "--slurm-status-command", "squeue",
    "--slurm-no-account",
    "--slurm-init-seconds-before-status-checks", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A running one-node cluster; its daemons are stopped afterwards, whatever happened."""
    if os.geteuid() != 0:
        pytest.fail("TXAI_SLURM_IT=1 needs root: it installs SLURM and starts its daemons")
    if not all(shutil.which(command) for command in ("slurmctld", "slurmd", "sbatch", "munged")):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
            check=True, env=env,
        )  # fmt: skip
    state = tmp_path_factory.mktemp("cluster")
    try:
        up = subprocess.run(
            [REPO / "tests/slurm/up.sh", state], capture_output=True, text=True, timeout=120
        )
        if up.returncode == 3:
            pytest.skip(up.stderr.strip())
        assert up.returncode == 0, up.stdout + up.stderr
        yield state
    finally:
        subprocess.run([REPO / "tests/slurm/down.sh", state], timeout=120)


def snakemake(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    return done


def slurm_jobs(workdir: Path) -> list[dict[str, str]]:
    """`scontrol show job` records (kept an hour, MinJobAge) of the jobs run in `workdir`."""
    out = subprocess.run(
        ["scontrol", "show", "job", "--details", "--oneliner"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    records = [dict(t.split("=", 1) for t in line.split() if "=" in t) for line in out.splitlines()]
    return [r for r in records if r.get("WorkDir") == str(workdir)]


def rule_of(job: dict[str, str]) -> str:
    """The rule a job ran: the plugin's comment is rule_<name>[_wildcards_<values>]."""
    return job["Comment"].removeprefix("rule_").split("_wildcards_")[0]


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    """The tiny config through the profile `make install-profile` installed in a fresh HOME."""
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"} | {"HOME": str(home)}
    subprocess.run(["make", "install-profile"], cwd=REPO, env=env, check=True)
    root = tmp_path_factory.mktemp("slurm")
    done = snakemake(
        "-s", str(REPO / "Snakefile"), "--configfile", str(TINY), "--profile", "slurm",
        *TEST_CLUSTER_OPTIONS, cwd=root, env=env,
    )  # fmt: skip
    jobs = slurm_jobs(root)
    assert jobs and all(job["JobState"] == "COMPLETED" for job in jobs)
    return root, jobs, done.stderr


def test_gpu_rules_ran_on_the_gpu_partition_with_a_gpu(slurm_run):
    _, jobs, log = slurm_run
    # The rules whose jobs Snakemake listed with gpu=1 among their resources.
    gpu_job = r"^rule (\w+):\n(?:    .+\n)*?    resources: .*\bgpu=1\b"
    gpu_rules = set(re.findall(gpu_job, log, re.M))
    assert {"train_mlp_m01_m03", "crossval", "sanity_arch", "explain_mlp_b01_plain_1"} <= gpu_rules
    for job in jobs:
        if rule_of(job) in gpu_rules:
            assert job["Partition"] == "gpu" and job["TresPerJob"] == "gres:gpu:1", job
            assert job["JOB_GRES"] == "gpu:fake:1", job  # granted, not only asked for
        else:
            assert job["Partition"] == "cpu" and job["JOB_GRES"] == "(null)", job
    # One GPU: its jobs ran one after another.
    spans = sorted((j["StartTime"], j["EndTime"]) for j in jobs if j["Partition"] == "gpu")
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:], strict=False))


def test_every_job_is_its_own_submission(slurm_run):
    """No job arrays (the plugin can hold back a partial array forever under -j): one sbatch
    per job, each with its own request."""
    _, jobs, log = slurm_run
    assert len(jobs) == len(re.findall(r"^rule \w+:", log, re.M))  # `all` is a localrule
    assert not any("ArrayTaskId" in job for job in jobs)
    explain = {rule_of(job) for job in jobs if rule_of(job).startswith("explain_")}
    assert explain == set(re.findall(r"^rule (explain_\w+):", log, re.M))
    assert len(explain) == 10  # tiny: per architecture, b01 in 2 settings, 3 curve settings


def test_outputs_equal_a_local_run_byte_for_byte(slurm_run, tiny_reference):
    patterns = ("**/*.parquet", "**/*.pt")
    local, cluster = result_files(tiny_reference, patterns), result_files(slurm_run[0], patterns)
    assert sorted(cluster) == sorted(local)
    assert [name for name in local if cluster[name] != local[name]] == []


def minutes(limit: str) -> int:
    """A SLURM time limit ([D-]HH:MM:SS) in minutes."""
    days, _, clock = limit.rpartition("-")
    hours, mins, _ = (int(x) for x in clock.split(":"))
    return int(days or 0) * 1440 + hours * 60 + mins


def test_cancelled_training_resumes_from_its_checkpoint(cluster, tmp_path):
    """Issue 11: a training job cancelled mid-way, as preemption does, is submitted again (the
    profile's retries) with more memory and time (issue 23), and resumes from its checkpoint to
    the weights of an uninterrupted run."""
    config = yaml.safe_load(TINY.read_text())
    # About 20 s of training, a checkpoint every 100 epochs.
    config["train"].update(max_epochs=3000, early_stopping=3000, checkpoint_every=100)
    (tmp_path / "long.yaml").write_text(yaml.safe_dump(config))
    model = "results/models/mlp/m01"
    snakefile, configfile = str(REPO / "Snakefile"), str(tmp_path / "long.yaml")
    args = ["-s", snakefile, f"{model}/model.pt", "--configfile", configfile]
    root = tmp_path / "slurm"
    root.mkdir()
    with open(tmp_path / "slurm.log", "w") as log:
        run = subprocess.Popen(
            [sys.executable, "-m", "snakemake", *args,
             "--profile", str(REPO / "profiles/slurm"), *TEST_CLUSTER_OPTIONS],
            cwd=root, stdout=log, stderr=log,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while not (root / model / "checkpoint.pt").exists():
            assert run.poll() is None and time.monotonic() < deadline, "no checkpoint written"
            time.sleep(0.2)
        queue = subprocess.run(
            ["squeue", "--noheader", "--states=RUNNING", "--format=%i %k %Z"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        job = re.search(rf"^(\d+) rule_train_mlp_m01_m03 {root}$", queue, re.M)[1]
        subprocess.run(["scancel", job], check=True)
        assert run.wait(timeout=600) == 0, (tmp_path / "slurm.log").read_text()[-5000:]
    first, second = sorted((j for j in slurm_jobs(root) if rule_of(j) == "train_mlp_m01_m03"),
                           key=lambda j: int(j["JobId"]))  # fmt: skip
    assert (first["JobState"], second["JobState"]) == ("CANCELLED", "COMPLETED")
    memory = [int(re.fullmatch(r"(\d+)M", j["MinMemoryNode"])[1]) for j in (first, second)]
    assert memory[1] == math.ceil(1.5 * memory[0])  # hpc.retry_growth 0.5
    assert minutes(second["TimeLimit"]) > minutes(first["TimeLimit"])
    train_log = (root / "logs/train/mlp/m01_m03.log").read_text()
    assert re.search(r"resumed from .* at epoch [1-9]", train_log)
    local = tmp_path / "local"
    local.mkdir()
    snakemake(*args, "--cores", "1", cwd=local)
    for name in ("model.pt", "meta.json"):
        assert (root / model / name).read_bytes() == (local / model / name).read_bytes(), name
