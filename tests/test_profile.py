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


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_gpu_jobs_go_to_the_gpu_partition(workdir, config):
    """Every job that declares gpu=1, and only those, in every shipped config's DAG."""
    shutil.copytree(REPO / "profiles", workdir / "profiles")
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "-n", "-p",
         "--configfile", str(config)],
        cwd=workdir, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = re.findall(r"^rule (\w+):\n(?:    .+\n)*?    resources: (.*)$", done.stdout, re.M)
    assert len(jobs) > 10
    for rule, resources in jobs:
        partition = "gpu" if re.search(r"\bgpu=1\b", resources) else "cpu"
        assert f"slurm_partition={partition}" in resources, rule


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
    assert "(set-resources, slurm-array-jobs, jobs," in done.stdout


def test_an_unknown_profile_fails(workdir, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "no-such-profile", "-n"],
        cwd=workdir, env=user_env(tmp_path / "home"), capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode != 0
    assert "profile directory given (no-such-profile)" in done.stderr
