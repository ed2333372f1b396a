"""The README's walkthrough for a new cohort, run as written: the YAML block of its section "Your
own cohort, step by step" is my.yaml and its bash blocks run command by command, in a project
holding a generated cohort of the size that YAML declares."""

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, TINY

SECTION = "## Your own cohort, step by step"
CLASSES = {  # class: (tissue, status)
    "liver_normal": ("liver", "normal"),
    "liver_tumour": ("liver", "cancer"),
    "lung_normal": ("lung", "normal"),
}
MARKERS = 30  # per class, 30-fold up: genes 0-29 of liver_normal, 30-59 of liver_tumour, ...


def blocks(language: str) -> list[str]:
    """The section's fenced blocks of a language, in order, as a reader copies them."""
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION)
    section = text[start : text.index("\n## ", start)]
    found = re.findall(rf"^ *```{language}\n(.*?)^ *```$", section, flags=re.M | re.S)
    return [textwrap.dedent(block) for block in found]


def write_cohort(folder, files: dict, size: dict) -> None:
    """The TPM matrix (genes in rows), sample sheet and annotation that `files` names, of the
    declared `size`. Log2 levels: each tissue its own profile (every gene shifted by N(0, 1)), a
    cancer its tissue's with 5 % of the genes shifted again, each class its markers; samples
    vary by N(0, 1) around their class."""
    assert size["classes"] == len(CLASSES)
    r = np.random.default_rng(4)
    n_genes, per_class = size["genes"], size["samples"] // len(CLASSES)
    sheet = pd.DataFrame(
        [(f"{c}_{i:03d}", c, t, s) for c, (t, s) in CLASSES.items() for i in range(per_class)],
        columns=["sample", "class", "tissue", "status"],
    )
    level = r.normal(4.0, 1.0, n_genes)
    tissues = {t: level + r.normal(0.0, 1.0, n_genes) for t in ("liver", "lung")}
    profiles = np.array([tissues[t] for t, _ in CLASSES.values()])
    for k, (_, status) in enumerate(CLASSES.values()):
        if status == "cancer":
            profiles[k] += r.normal(0.0, 1.0, n_genes) * (r.random(n_genes) < 0.05)
        profiles[k, MARKERS * k : MARKERS * (k + 1)] += np.log2(30)
    index = sheet["class"].map({c: k for k, c in enumerate(CLASSES)}).to_numpy()
    tpm = np.exp2(profiles[index] + r.normal(0.0, 1.0, (len(sheet), n_genes)))
    tpm = tpm / tpm.sum(axis=1, keepdims=True) * 1e6
    ids = [f"ENSG{i:011d}.1" for i in range(n_genes)]
    (folder / "data").mkdir()
    matrix = pd.DataFrame(tpm.T, columns=sheet["sample"])
    matrix.insert(0, "gene_id", ids)
    matrix.to_csv(folder / files["expression"], sep="\t", index=False)
    sheet.to_csv(folder / files["samples"], sep="\t", index=False)
    genes = pd.DataFrame({"gene": ids, "symbol": [f"G{i}" for i in range(n_genes)],
                          "biotype": "protein_coding"})  # fmt: skip
    genes.to_csv(folder / files["genes"], sep="\t", index=False)


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    """The project, and after each bash block the top-gene tables it holds and whether it has
    figures."""
    root = tmp_path_factory.mktemp("walkthrough")
    for name in ("Snakefile", "workflow", "config", "envs", "src", "resources", "tests"):
        (root / name).symlink_to(REPO / name)
    (my,) = blocks("yaml")
    (root / "my.yaml").write_text(my)
    cohort = yaml.safe_load(my)["cohort"]
    write_cohort(root, cohort["files"], cohort["size"])
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])
    env = {**os.environ, "PATH": path}  # `snakemake` in a command is this environment's
    after = []
    for block in blocks("bash"):
        for command in block.splitlines():
            done = subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True,
                                  text=True)  # fmt: skip
            assert done.returncode == 0, (command, done.stderr[-3000:])
        tables = sorted(p.name for p in (root / "results/tables").iterdir())
        after.append((tables, (root / "results/figures").exists()))
    return root, after


def test_the_quick_pass_stops_at_the_top_gene_tables(walkthrough):
    _, after = walkthrough
    tiny = yaml.safe_load(TINY.read_text())
    tables, figures = after[0]
    # MLP: its explainers but Grad-CAM's; CNN: all three; plain and optimised.
    assert len(tables) == 2 * (len(tiny["explain"]["explainers"]) * 2 - 1)
    assert not figures
    assert after[-1] == (tables, True)  # the rest of the quick pass: figures, no other tables


def test_top_gene_tables_name_the_focus_classes(walkthrough):
    root, _ = walkthrough
    tiny = yaml.safe_load(TINY.read_text())
    table = pd.read_csv(root / "results/tables/top_genes_cnn_DeepLiftShap_optimised.tsv", sep="\t")
    assert set(table["class"]) == {"liver_normal", "liver_tumour"}
    assert (table.groupby("class").size() == tiny["explain"]["top_k"]).all()
    # Each class's planted markers lead its list.
    for cls, rows in table[table["rank"] <= 5].groupby("class"):
        k = list(CLASSES).index(cls)
        found = [int(g[4:]) // MARKERS == k for g in rows["gene"]]
        assert sum(found) >= 4, (cls, rows["gene"].tolist())
    assert {"TS", "HK", "DE"} <= set(table.columns)


def test_report_holds_tables_and_an_empty_scorecard(walkthrough):
    root, _ = walkthrough
    html = (root / "results/report.html").read_text()
    for name in ("models.tsv", "sanity.tsv", "config.yaml", "provenance.json", "fig1.png"):
        assert name in html
    scorecard = pd.read_parquet(root / "results/report/scorecard.parquet")
    assert scorecard.empty and "recall" in scorecard.columns  # a real cohort has no truth
