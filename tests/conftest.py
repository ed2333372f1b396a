import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "config" / "tiny.yaml"


def snakemake(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run Snakemake from this environment; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture(scope="session")
def tiny_reference(tmp_path_factory) -> Path:
    """One uninterrupted run of the whole workflow on the tiny config, shared by the session's
    end-to-end checks and by the reruns compared with it byte for byte."""
    root = tmp_path_factory.mktemp("tiny")
    done = snakemake("-s", str(REPO / "Snakefile"), "--cores", "2", "--configfile", str(TINY),
                     cwd=root)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def result_files(root: Path, patterns=("**/*",)) -> dict[str, str]:
    """SHA-256 of each file under root/results matching a pattern, by path relative to root."""
    files = {p for pattern in patterns for p in (root / "results").glob(pattern) if p.is_file()}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of the workflow without any results: what a fresh clone holds."""
    for name in ("Snakefile", "workflow", "config", "envs", "src", "resources"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, tmp_path / name)
    return tmp_path


def write_sheet(folder: Path, genes: list[str]) -> None:
    """samples.parquet (liver normal s1, liver cancer s2, lung normal s3) and genes.parquet."""
    import pandas as pd

    from txai import io

    sheet = pd.DataFrame(
        {
            "sample": ["s1", "s2", "s3"],
            "class": ["Liver", "Liver-T", "Lung"],
            "tissue": ["liver", "liver", "lung"],
            "status": ["normal", "cancer", "normal"],
        }
    )
    io.write_table(sheet, folder / "samples.parquet")
    io.write_table(pd.DataFrame({"gene": genes}), folder / "genes.parquet")


def user_config(name: str, sheet, genes: int) -> dict:
    """The tiny config on a user cohort of `tpm.tsv` (TPM) and the sheet `samples.tsv`."""
    import yaml

    config = yaml.safe_load(TINY.read_text())
    config["cohort"] = {
        "source": "files",
        "name": name,
        "files": {"expression": "tpm.tsv", "samples": "samples.tsv", "scale": "tpm"},
        "size": {"samples": len(sheet), "genes": genes, "classes": sheet["class"].nunique()},
    }
    return config


def user_cohort(root: Path, edit=None):
    """A small user cohort in the documented formats under `root`: tpm.tsv (TPM, genes x
    samples, 30 genes), samples.tsv (12 samples each of liverN, liverT, lungN) and user.yaml (the
    tiny config on it, focus liver; `edit` changes it). Returns the TPM (genes x samples) and
    the sheet."""
    import numpy as np
    import pandas as pd
    import yaml

    r = np.random.default_rng(0)
    classes = {"liverN": ("liver", "normal"), "liverT": ("liver", "cancer"),
               "lungN": ("lung", "normal")}  # fmt: skip
    sheet = pd.DataFrame(
        [(f"s{c}{i}", c, t, s) for c, (t, s) in classes.items() for i in range(12)],
        columns=["sample", "class", "tissue", "status"],
    )
    tpm = r.gamma(0.5, 200, size=(30, len(sheet)))
    tpm = tpm / tpm.sum(axis=0) * 1e6
    matrix = pd.DataFrame(tpm, columns=sheet["sample"])
    matrix.insert(0, "gene_id", [f"ENSG{i:011d}.3" for i in range(30)])
    matrix.to_csv(root / "tpm.tsv", sep="\t", index=False)
    sheet.to_csv(root / "samples.tsv", sep="\t", index=False)
    config = user_config("user cohort", sheet, 30)
    config["data"]["min_class_size"] = 10
    config["focus_tissues"] = ["liver"]
    if edit:
        edit(config)
    (root / "user.yaml").write_text(yaml.safe_dump(config))
    return tpm, sheet
