"""The job plan from the config alone (txai.plan): the cohort's inputs per source, the files to
download, batches and the reference pools a setting needs."""

import copy

import pandas as pd
import pytest
from conftest import REPO, TINY

from txai import plan, scale

PAPER = REPO / "config" / "paper.yaml"


@pytest.fixture(scope="module")
def paper():
    return scale.load(PAPER)


def with_source(config, source):
    config = copy.deepcopy(config)
    config["cohort"]["source"] = source
    return config


def test_each_source_has_its_files_and_declared_scale(paper):
    demo = plan.cohort_inputs(with_source(paper, "demo"))
    assert demo.files["expression"] == "results/cohort/counts.parquet"
    assert demo.read == {"scale": "counts", "genes_in": "rows", "protein_coding_only": True,
                         "origin": "cohort.source: demo"}  # fmt: skip
    toil = plan.cohort_inputs(with_source(paper, "toil"))
    assert toil.files == plan.BUILT and "genesets" not in toil.files
    assert toil.read == {"scale": "log2", "pseudocount": 0.001, "genes_in": "columns",
                         "origin": "cohort.source: toil"}  # fmt: skip
    portal = plan.cohort_inputs(paper)  # the paper's own route is the default
    assert portal.read == {"scale": "tpm", "genes_in": "columns", "origin": "cohort.source: portal"}
    files = with_source(paper, "files")
    files["cohort"]["files"] = {"expression": "tpm.tsv", "samples": "s.tsv", "scale": "log2",
                                "pseudocount": 1, "genes_in": "columns",
                                "protein_coding_only": False}  # fmt: skip
    user = plan.cohort_inputs(files)
    assert user.files == {"expression": "tpm.tsv", "samples": "s.tsv"}
    assert user.read == {"scale": "log2", "pseudocount": 1, "genes_in": "columns",
                         "protein_coding_only": False, "origin": None}  # fmt: skip


def test_each_source_declares_its_own_size_and_name(paper):
    assert paper["cohort"]["source"] == "portal"
    assert plan.declared_size(paper) == (
        {"samples": 27417, "genes": 19241, "classes": 82, "largest_class": 1100},
        "cohort.portal.size",
    )
    assert plan.label(paper) == "GTEx v8 (GTEx portal) + TCGA primary tumours (recount3)"
    toil = with_source(paper, "toil")  # one key switches the route, its size and its name
    assert plan.declared_size(toil) == (
        {"samples": 17200, "genes": 19700, "classes": 81, "largest_class": 1100},
        "cohort.toil.size",
    )
    assert scale.size(toil)["samples"] == 17200
    assert plan.label(toil).startswith("GTEx V6 recompute + TCGA")
    assert "toil_expression" in plan.downloads(toil) and "portal_gtf" not in plan.downloads(toil)
    unset = copy.deepcopy(toil)
    del unset["cohort"]["toil"]["size"], unset["cohort"]["toil"]["name"]
    assert plan.declared_size(unset) == (plan.PAPER, "cohort.toil.size")
    assert plan.label(unset) == unset["cohort"]["name"]
    user = with_source(paper, "files")
    user["cohort"]["size"] = {"samples": 600, "genes": 2000, "classes": 4}
    assert plan.declared_size(user) == (user["cohort"]["size"], "cohort.size")
    assert plan.declared_size(with_source(paper, "demo")) is None


def test_portal_downloads_are_filled_in_per_project(paper):
    config = with_source(paper, "portal")
    config["cohort"]["portal"]["tcga_projects"] = ["LIHC", "OV"]
    config["cohort"]["portal"]["tcga_sums"]["sha256"] = {"OV": "ab" * 32}
    found = plan.source_files(config)
    assert list(found) == [
        "portal_gtex_tpm", "portal_gtex_attributes", "portal_gtf", "portal_tcga_sums_LIHC",
        "portal_tcga_sums_OV", "portal_tcga_metadata_LIHC", "portal_tcga_metadata_OV",
    ]  # fmt: skip
    path, spec = found["portal_tcga_sums_OV"]
    assert path == "results/downloads/portal_tcga_sums_OV"
    assert spec["url"].endswith("/gene_sums/OV/OV/tcga.gene_sums.OV.G026.gz")
    assert spec["sha256"] == "ab" * 32
    lihc = found["portal_tcga_metadata_LIHC"][1]
    assert lihc["url"].endswith("/metadata/HC/LIHC/tcga.tcga.LIHC.MD.gz") and lihc["sha256"] is None
    assert set(plan.downloads(config)) >= set(found)
    assert plan.source_files(with_source(paper, "demo")) == {}
    local = copy.deepcopy(config)
    local["cohort"]["portal"]["gtf"] = {"path": "/data/gencode.v26.gtf.gz"}
    assert plan.source_files(local)["portal_gtf"] == ("/data/gencode.v26.gtf.gz", None)
    assert "portal_gtf" not in plan.downloads(local)


def test_references_follow_each_explainers_strategy():
    zero = {"references": {"type": "zero", "count": 1}}
    setting = {"repeats": 2, "references": {"type": "universal", "count": 3},
               "overrides": {"IntegratedGradients": zero}}  # fmt: skip
    assert plan.references(setting, ["Saliency", "GuidedBackprop"]) == []
    assert plan.references(setting, ["DeepLift"]) == ["universal"]
    assert plan.references(setting, ["IntegratedGradients"]) == ["zero"]
    assert plan.references(setting, ["Saliency", "DeepLift", "IntegratedGradients"]) == [
        "universal", "zero"
    ]  # fmt: skip


def test_batches_and_jobs_of_the_paper(paper):
    batches = plan.batches(paper, "cnn")
    assert sum(len(m) for b, m in batches.items() if b != "curves") == 65
    assert batches["curves"] == ["m01", "m02", "m03", "m04", "m05"]
    jobs = plan.explain_jobs(paper, "cnn")
    assert {j.batch for j in jobs} == set(batches)
    run = paper["explain"]["explainers"]
    per_setting = len(run) * (len(batches) - 1)
    assert sum(j.setting in ("plain", "optimised") for j in jobs) == 2 * per_setting


def test_focus_tissues_default_to_every_tissue_and_pair_normal_with_cancer(paper, tmp_path):
    tiny = scale.load(TINY)  # liver, lung with cancer; brain, heart without
    assert plan.focus(tiny) == plan.Focus(["liver", "lung"], {
        t: {"normal": 1, "cancer": 1, "any": 2} for t in ("liver", "lung")})  # fmt: skip
    every = plan.focus({**tiny, "focus_tissues": []})
    assert every.tissues == ["brain", "heart", "liver", "lung"]
    assert every.paired == ["liver", "lung"]
    assert plan.focus({**tiny, "focus_tissues": ["heart"]}).paired == []
    assert plan.explain_common({**tiny, "focus_tissues": []})["focus_tissues"] == every.tissues
    # GTEx v8's 27 SMTS of its 49 kept tissues, 10 more of the 33 TCGA projects (bile duct, ...)
    pan = plan.focus({**paper, "focus_tissues": []})
    assert len(pan.tissues) == 37 and sum(c["any"] for c in pan.classes.values()) == 82
    assert pan.tissues[:3] == ["adipose_tissue", "adrenal_gland", "bile_duct"]
    assert "liver" in pan.paired and "bile_duct" not in pan.paired  # CHOL: no GTEx normal
    sheet = pd.DataFrame({"sample": ["s1", "s2", "s3"], "class": ["LUAD", "BRCA", "LUSC"],
                          "tissue": ["lung", "breast", "lung"]})  # fmt: skip
    sheet.to_csv(tmp_path / "samples.csv", index=False)
    files = {
        **tiny,
        "focus_tissues": [],
        "cohort": {"source": "files", "files": {"samples": str(tmp_path / "samples.csv")}},
    }
    assert plan.focus(files) == plan.Focus(["breast", "lung"], {
        "breast": {"normal": 0, "cancer": 0, "any": 1},
        "lung": {"normal": 0, "cancer": 0, "any": 2}})  # fmt: skip
