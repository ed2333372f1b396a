"""`make install-profile` (issue 12) and the SLURM profile in a dry run: offline, no SLURM."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, TINY

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
CONFIGS = [*sorted(REPO.glob("config/*.yaml")), TINY]
SLURM_COMMANDS = ("sbatch", "srun", "squeue", "sacct", "sinfo", "scontrol", "scancel")


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment with another HOME, no XDG_CONFIG_HOME unless given."""
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}
    return {**env, "HOME": str(home), **extra}


def install_profile(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "install-profile"], cwd=REPO, env=env, capture_output=True, text=True
    )


def test_installed_profile_is_found_by_name(workdir, tmp_path):
    home = tmp_path / "home"
    done = install_profile(user_env(home))
    assert done.returncode == 0, done.stderr
    installed = home / ".config/snakemake/slurm/config.yaml"
    assert installed.read_bytes() == PROFILE.read_bytes()
    assert yaml.safe_load(installed.read_text())["executor"] == "slurm"
    # A dry run plans the jobs without a cluster: every SLURM command fails and records its call.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name in SLURM_COMMANDS:
        (fake_bin / name).write_text(f"#!/bin/sh\ntouch {tmp_path}/called-{name}\nexit 1\n")
        (fake_bin / name).chmod(0o755)
    env = user_env(home, PATH=f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "slurm", "-n", "-p",
         "--configfile", str(TINY)],
        cwd=workdir, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Using profile slurm" in done.stdout + done.stderr
    # The plugin reads MinJobAge with `scontrol show config` on import and copes with a failure.
    assert not (tmp_path / "called-sbatch").exists()


def routed(rule: str, resources: str) -> str | None:
    """The partition snakemake-executor-plugin-slurm picks for a job with these resources (as a
    dry run prints them) from the profile's partitions.yaml."""
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file

    asks = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)\b", resources)}
    job = SimpleNamespace(name=rule, threads=asks.get("_cores", 1), resources=asks)
    partitions = read_partition_file(REPO / "profiles" / "slurm" / "partitions.yaml")
    return get_best_partition(partitions, job, SimpleNamespace(info=print, debug=print,
                                                               warning=print))  # fmt: skip


@pytest.mark.parametrize(
    "config, extra",
    [
        *((c, []) for c in CONFIGS),
        (REPO / "config/paper.yaml", ["explain:", "  models_per_job: 7"]),
    ],
    ids=lambda x: x.name if isinstance(x, Path) else " ".join(x) or "as shipped",
)
def test_gpu_jobs_go_to_the_gpu_partition(workdir, config, extra):
    """Every job that declares gpu=1, and only those, is sent to the GPU partition by its
    resources alone, in every shipped config's DAG and with other explain batches (new rule
    names); the profile names no rule and sets no partition."""
    profile = yaml.safe_load(PROFILE.read_text())
    assert "set-resources" not in profile
    assert "slurm_partition" not in profile.get("default-resources", {})
    shutil.copytree(REPO / "profiles", workdir / "profiles")
    (workdir / "extra.yaml").write_text("\n".join(extra) + "\n")  # another explain batching
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "-n", "-p",
         "--configfile", str(config), *(["extra.yaml"] if extra else [])],
        cwd=workdir, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = re.findall(r"^rule (\w+):\n(?:    .+\n)*?    resources: (.*)$", done.stdout, re.M)
    assert len(jobs) > 10
    for rule, resources in jobs:
        gpu = re.search(r"\bgpu=1\b", resources)
        assert routed(rule, resources) == ("gpu" if gpu else "cpu"), (rule, resources)
    if extra:
        assert "explain_cnn_b10" in done.stdout and "explain_cnn_b11" not in done.stdout  # 65 / 7


def test_downloads_run_where_snakemake_runs(workdir):
    """Compute nodes are often offline: downloads are local rules, whatever the profile (a dry
    run does not print which rules are local, so the workflow is asked)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    paper = ConfigSettings(configfiles=[REPO / "config" / "paper.yaml"])
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(), config_settings=paper,
            snakefile=REPO / "Snakefile", workdir=workdir,
        )._workflow  # fmt: skip
        assert workflow._localrules == {"download"}


def test_xdg_config_home_is_where_snakemake_looks(tmp_path):
    config_home = tmp_path / "xdg"
    done = install_profile(user_env(tmp_path / "home", XDG_CONFIG_HOME=str(config_home)))
    assert done.returncode == 0, done.stderr
    assert (config_home / "snakemake/slurm/config.yaml").read_bytes() == PROFILE.read_bytes()
    assert not (tmp_path / "home").exists()


def test_an_existing_profile_is_left_unchanged(tmp_path):
    home = tmp_path / "home"
    site = home / ".config/snakemake/slurm"
    site.mkdir(parents=True)
    (site / "config.yaml").write_text("executor: slurm\ndefault-resources: {slurm_account: lab}\n")
    before = {p: p.read_bytes() for p in site.rglob("*")}
    done = install_profile(user_env(home))
    assert done.returncode == 0, done.stderr
    assert {p: p.read_bytes() for p in site.rglob("*")} == before
    assert "left unchanged" in done.stdout
    assert f"--profile {REPO}/profiles/slurm" in done.stdout
    assert "partition routing (slurm-partition-config, partitions.yaml)" in done.stdout


def test_an_unknown_profile_fails(workdir, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "no-such-profile", "-n"],
        cwd=workdir, env=user_env(tmp_path / "home"), capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode != 0
    assert "profile directory given (no-such-profile)" in done.stderr
