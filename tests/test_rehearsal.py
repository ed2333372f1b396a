"""Tests for txai.rehearsal: its published files build the cohort it declares through the
workflow's own parsers, and its table groups the generated rules. `make rehearsal` itself runs
outside `make test` (README, "A paper-scale rehearsal")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from txai import annotate, io, rehearsal, sources


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mirror")
    return folder, rehearsal.publish(folder, coding=300)


def test_published_files_build_the_declared_cohort(published, tmp_path):
    folder, out = published
    files = {key: folder / name for key, name in out["files"].items()}
    projects = rehearsal.tcga_projects()
    sources.build_portal(
        gtex_tpm=files["gtex_tpm"], gtex_attributes=files["gtex_attributes"], gtf=files["gtf"],
        tcga_sums={p: files[f"sums_{p}"] for p in projects},
        tcga_metadata={p: files[f"metadata_{p}"] for p in projects},
        out_expression=tmp_path / "expression.parquet", out_samples=tmp_path / "samples.tsv",
        out_genes=tmp_path / "genes.parquet", min_class_size=rehearsal.MIN_CLASS_SIZE,
    )  # fmt: skip
    sheet = pd.read_csv(tmp_path / "samples.tsv", sep="\t")
    size = out["size"]
    assert (len(sheet), sheet["class"].nunique()) == (size["samples"], size["classes"]) == (492, 82)
    assert sheet["class"].value_counts().eq(rehearsal.PER_CLASS).all()
    assert "GTEx_Kidney_Medulla" not in set(sheet["class"])  # 3 samples: below min_class_size
    assert sheet["sample"].str.match(r"TCGA-\w\w-\d{4}-(01|03)$").sum() == 33 * 6  # no type 11
    assert set(sheet.loc[sheet["class"] == "TCGA_LAML", "sample"].str[-2:]) == {"03"}
    samples, genes, x = io.read_expression(tmp_path / "expression.parquet")
    assert len(genes) == size["genes"] == 300
    gct = pd.read_csv(files["gtex_tpm"], sep="\t", skiprows=2, index_col="Name")
    gct.index = gct.index.str.split(".").str[0]
    gtex = [i for i, s in enumerate(samples) if s.startswith("GTEX-")]
    expected = gct.loc[genes, [samples[i] for i in gtex]].to_numpy().T
    np.testing.assert_allclose(x[gtex], expected, rtol=1e-6)  # the portal's TPM, as published


def test_gtf_lengths_are_the_exon_unions(published):
    folder, out = published
    genes = sources.read_gtf_genes(folder / out["files"]["gtf"])
    expected = rehearsal.annotation(np.random.default_rng(rehearsal.SEED), 300)
    ids = expected["gene_id"].str.split(".").str[0]
    lengths = dict(zip(ids, rehearsal.union_length(expected), strict=True))
    assert genes.set_index("gene")["length"].to_dict() == lengths


def test_annotation_files_parse_as_downloaded(published):
    folder, out = published
    tfs = annotate.read_tf_list(folder / out["files"]["tf"])
    assert len(tfs) == 2 * (300 * 1_600 // rehearsal.GENES)  # symbol and Ensembl id each
    symbols = [f"TXG{i:05d}" for i in range(300)]
    gaf = annotate.read_gaf(folder / out["files"]["go_gaf"], symbols)
    assert gaf and all(term.startswith("GO:9") for terms in gaf.values() for term in terms)


def test_by_rule_groups_generated_rules_and_takes_the_largest():
    records = [
        {"rule": "train_mlp_m01_m02", "mem_mb": 1000, "peak_host_mb": 500, "runtime": 3,
         "seconds": 60},
        {"rule": "explain_cnn_b01_plain_1", "mem_mb": 4000, "peak_host_mb": 1000, "runtime": 9,
         "seconds": 30},
        {"rule": "explain_cnn_b02_optimised_2", "mem_mb": 2000, "peak_host_mb": 1500, "runtime": 5,
         "seconds": 90},
        {"rule": "explain_mlp_curves_curve_repeats_1", "mem_mb": 100, "peak_host_mb": 10,
         "runtime": 1, "seconds": 6},
    ]  # fmt: skip
    table = rehearsal.by_rule(records).set_index("rule")
    assert list(table.index) == ["train_mlp", "explain_cnn", "explain_mlp_curves"]
    assert table.loc["explain_cnn"].to_dict() == {
        "jobs": 2, "mem_mb": 4000, "peak_mb": 1500, "ratio": 0.75, "runtime_min": 9, "minutes": 1.5,
        "time_ratio": 0.3,
    }  # fmt: skip
