"""The README's walkthrough for a new cohort, followed literally on a small generated cohort."""

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY, snakemake

CLASSES = {  # class: (tissue, status)
    "liver_normal": ("liver", "normal"),
    "liver_tumour": ("liver", "cancer"),
    "lung_normal": ("lung", "normal"),
}
GENES, PER_CLASS = 200, 24


def write_cohort(folder):
    """data/tpm.tsv (genes in rows), data/samples.tsv and data/genes.tsv as the README shows."""
    r = np.random.default_rng(4)
    sheet = pd.DataFrame(
        [(f"S{c[:2]}{c[-1]}{i:02d}", c, t, s) for c, (t, s) in CLASSES.items()
         for i in range(PER_CLASS)],
        columns=["sample", "class", "tissue", "status"],
    )  # fmt: skip
    tpm = r.gamma(2.0, 50.0, size=(GENES, len(sheet)))
    for k, name in enumerate(CLASSES):  # 30 markers per class, 30-fold up
        tpm[30 * k : 30 * k + 30, (sheet["class"] == name).to_numpy()] *= 30
    tpm = tpm / tpm.sum(axis=0) * 1e6
    ids = [f"ENSG{i:011d}.1" for i in range(GENES)]
    (folder / "data").mkdir()
    matrix = pd.DataFrame(tpm, columns=sheet["sample"])
    matrix.insert(0, "gene_id", ids)
    matrix.to_csv(folder / "data/tpm.tsv", sep="\t", index=False)
    sheet.to_csv(folder / "data/samples.tsv", sep="\t", index=False)
    genes = pd.DataFrame({"gene": ids, "symbol": [f"G{i}" for i in range(GENES)],
                          "biotype": "protein_coding"})  # fmt: skip
    genes.to_csv(folder / "data/genes.tsv", sep="\t", index=False)


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    from conftest import REPO

    root = tmp_path_factory.mktemp("walkthrough")
    for name in ("Snakefile", "workflow", "config", "envs", "src", "resources", "tests"):
        (root / name).symlink_to(REPO / name)
    write_cohort(root)
    # README "Your own cohort, step by step", step 2: my.yaml holds only the keys that change.
    my = {
        "cohort": {
            "source": "files",
            "name": "my cohort",
            "files": {
                "expression": "data/tpm.tsv",
                "samples": "data/samples.tsv",
                "genes": "data/genes.tsv",
                "scale": "tpm",
            },
            "size": {"samples": len(CLASSES) * PER_CLASS, "genes": GENES, "classes": 3},
        },
        "data": {"min_class_size": 20},
        "train": {"cnn": {"max_epochs": 40}},  # a small cohort: more epochs, not fewer models
        "focus_tissues": ["liver"],
    }
    (root / "my.yaml").write_text(yaml.safe_dump(my, sort_keys=False))
    configs = ("--configfile", str(TINY.relative_to(REPO)), "my.yaml")  # step 3: a quick pass
    first = snakemake("top_genes", "--cores", "2", *configs, cwd=root)
    assert first.returncode == 0, first.stderr[-3000:]
    after_top_genes = sorted(p.name for p in (root / "results/tables").iterdir())
    assert not (root / "results/figures").exists()  # top_genes stops before the figures
    full = snakemake("--cores", "2", *configs, cwd=root)
    assert full.returncode == 0, full.stderr[-3000:]
    done = snakemake("--report", "results/report.html", *configs, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root, after_top_genes


def test_top_gene_tables_name_the_focus_classes(walkthrough):
    root, after_top_genes = walkthrough
    tiny = yaml.safe_load(TINY.read_text())
    assert len(after_top_genes) == 2 * (len(tiny["explain"]["explainers"]) * 2 - 1)
    table = pd.read_csv(root / "results/tables/top_genes_mlp_DeepLiftShap_optimised.tsv", sep="\t")
    assert set(table["class"]) == {"liver_normal", "liver_tumour"}
    assert (table.groupby("class").size() == tiny["explain"]["top_k"]).all()
    # The planted markers of the classes lead the lists (genes 0-29, 30-59, 60-89).
    first = table[table["rank"] <= 5]
    markers = {"liver_normal": range(0, 90), "liver_tumour": range(0, 90)}
    for cls, rows in first.groupby("class"):
        found = [int(g[4:]) in markers[cls] for g in rows["gene"]]
        assert sum(found) >= 3, (cls, rows["gene"].tolist())
    assert {"TS", "HK", "DE"} <= set(table.columns)


def test_report_holds_tables_and_an_empty_scorecard(walkthrough):
    root, _ = walkthrough
    html = (root / "results/report.html").read_text()
    for name in ("models.tsv", "sanity.tsv", "config.yaml", "provenance.json", "fig1.png"):
        assert name in html
    scorecard = pd.read_parquet(root / "results/report/scorecard.parquet")
    assert scorecard.empty and "recall" in scorecard.columns  # a real cohort has no truth
