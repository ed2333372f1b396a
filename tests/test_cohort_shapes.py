"""Cohorts without a normal/cancer pair through the whole workflow and its report (tiny
settings, no focus tissues named, so every tissue is one): a normal-only cohort, as a GTEx
tissue classifier, and a cancer-only one, as a TCGA pan-cancer classifier. The mixed cohort
(the demo) is checked by tests/test_workflow.py."""

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, snakemake, user_config

from txai import io

SHAPES = {  # class: (tissue, status)
    "normal-only": {"liverN": ("liver", "normal"), "lungN": ("lung", "normal"),
                    "brainN": ("brain", "normal")},
    "cancer-only": {"LIHC": ("liver", "cancer"), "LUAD": ("lung", "cancer"),
                    "BRCA": ("breast", "cancer")},
}  # fmt: skip
GENES, PER_CLASS, MARKERS = 120, 40, 20


def write_cohort(root, classes: dict) -> None:
    """tpm.tsv (genes x samples; the k-th class has genes 20k to 20k + 19 50-fold up),
    samples.tsv, and user.yaml: the tiny config on them with focus_tissues: []."""
    r = np.random.default_rng(4)
    sheet = pd.DataFrame(
        [(f"{c}{i:02d}", c, t, s) for c, (t, s) in classes.items() for i in range(PER_CLASS)],
        columns=["sample", "class", "tissue", "status"],
    )
    tpm = r.gamma(2.0, 50.0, size=(GENES, len(sheet)))
    for k, name in enumerate(classes):
        tpm[MARKERS * k : MARKERS * (k + 1), (sheet["class"] == name).to_numpy()] *= 50
    matrix = pd.DataFrame(tpm / tpm.sum(axis=0) * 1e6, columns=sheet["sample"])
    matrix.insert(0, "gene_id", [f"ENSG{i:011d}" for i in range(GENES)])
    matrix.to_csv(root / "tpm.tsv", sep="\t", index=False)
    sheet.to_csv(root / "samples.tsv", sep="\t", index=False)
    config = user_config("shaped cohort", sheet, GENES)
    config["focus_tissues"] = []  # every tissue
    config["train"]["early_stopping"] = 8  # 4 test samples a class: a noisy validation loss
    config["train"]["cnn"]["max_epochs"] = 30
    (root / "user.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module", params=sorted(SHAPES))
def shaped(request, tmp_path_factory):
    """The whole workflow and its report on one shape: (root, classes)."""
    root = tmp_path_factory.mktemp(request.param)
    for name in ("Snakefile", "workflow", "config", "envs", "src", "resources"):
        (root / name).symlink_to(REPO / name)
    write_cohort(root, SHAPES[request.param])
    done = snakemake("--cores", "2", "--configfile", "user.yaml", cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    report = snakemake("--report", "results/report.html", "--configfile", "user.yaml", cwd=root)
    assert report.returncode == 0, report.stderr[-3000:]
    return root, SHAPES[request.param]


def test_every_tissue_is_explained_with_its_own_references(shaped):
    root, classes = shaped
    explained = io.read_wide(root / "results/attributions/mlp/Saliency/optimised/m01.parquet")
    sheet = pd.read_parquet(root / "results/data/samples.parquet").set_index("sample")
    per_class = sheet.loc[explained.frame()["sample"].unique(), "class"].value_counts()
    assert per_class.to_dict() == {c: 2 for c in classes}  # explain.samples.per_class
    pools = pd.read_parquet(root / "results/references/specific.parquet", columns=["class"])
    assert sorted(pools["class"].unique()) == sorted(classes)
    curves = pd.read_parquet(root / "results/reproducibility/curves.parquet")
    assert set(curves["tissue"]) == {t for t, _ in classes.values()}  # a tissue's own samples


def test_normal_vs_cancer_is_skipped_and_the_report_says_why(shaped):
    root, classes = shaped
    tests = pd.read_parquet(root / "results/differential/tests.parquet")
    assert tests.empty and "de" in tests.columns
    assert pd.read_parquet(root / "results/differential/top_de.parquet").empty
    table = pd.read_csv(root / "results/tables/top_genes_mlp_Saliency_optimised.tsv", sep="\t")
    assert set(table["class"]) == set(classes) and table["DE"].isna().all()
    shared = pd.read_parquet(root / "results/differential/shared.parquet")
    cancers = {c for c, (_, status) in classes.items() if status == "cancer"}
    assert set(shared["class"]) <= cancers and (cancers == set() or not shared.empty)
    assert (root / "results/figures/fig5.png").stat().st_size > 1000
    html = (root / "results/report.html").read_text()
    assert "Normal vs cancer skipped:</strong> no focus tissue" in html
    for name in ("fig1.png", "fig4.png", "figS9.png", "figS11.png", "sanity.tsv"):
        assert name in html
