"""The bad-input catalogue of docs/errors.md: each row's input, built small, is refused with the
documented message and leaves nothing behind; four rows also go through Snakemake."""

from __future__ import annotations

import gzip
import platform
import re
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, TINY, snakemake, user_cohort
from snakemake.utils import validate

from txai import (
    annotate,
    cohort,
    config,
    data,
    differential,
    download,
    explainers,
    io,
    models,
    plan,
    sources,
    train,
)
from txai.download import DownloadError
from txai.io import InputError

DOC = REPO / "docs" / "errors.md"
COLUMNS = ["id", "input", "rejected when", "message", "fix", "end to end"]
SHEET_SCHEMA = REPO / "workflow" / "schemas" / "samples.schema.yaml"
CONFIG_SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
PLACEHOLDER = re.compile(r"<[^<>]+>")


def catalogue() -> dict[str, dict[str, str]]:
    """The table of docs/errors.md as {id: row}; the message without its backticks."""
    lines = [line for line in DOC.read_text().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == COLUMNS
    rows = {}
    for line in lines[2:]:
        row = dict(zip(header, [cell.strip() for cell in line.strip("|").split("|")], strict=True))
        row["message"] = row["message"].strip("`")
        rows[row["id"].strip("`")] = row
    return rows


ROWS = catalogue()


def filled(message: str, values: list) -> str:
    """The documented message with its placeholders replaced by `values`, in order."""
    parts = PLACEHOLDER.split(message)
    assert len(values) == len(parts) - 1, f"{len(parts) - 1} placeholders in {message!r}"
    return "".join(part + str(value) for part, value in zip(parts, values + [""], strict=True))


def pattern(message: str) -> str:
    """The documented message as a regex: each placeholder matches any text."""
    return ".+?".join(re.escape(part) for part in PLACEHOLDER.split(message))


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# --- a small valid cohort: three classes, a focus tissue (liver) with normal and cancer -------

GENES = [f"ENSG{i:011d}.1" for i in range(1, 5)]
CLASSES = {
    "liverN": ("liver", "normal"),
    "liverT": ("liver", "cancer"),
    "lungN": ("lung", "normal"),
}
SAMPLES = [f"{c}{i}" for c in CLASSES for i in range(6)]


def make_sheet() -> pd.DataFrame:
    rows = [(f"{c}{i}", c, *CLASSES[c]) for c in CLASSES for i in range(6)]
    return pd.DataFrame(rows, columns=["sample", "class", "tissue", "status"])


def make_matrix(scale: str = "tpm") -> pd.DataFrame:
    """Genes x samples: whole numbers, so valid counts and TPM (max > 19.93, sums < 1e6)."""
    values = np.repeat([[10.0], [20.0], [30.0], [4000.0]], len(SAMPLES), axis=1)
    if scale == "log2":
        values = np.log2(values + 1)
    return pd.DataFrame(values, index=pd.Index(GENES, name="gene"), columns=SAMPLES)


def cell(value, scale: str = "tpm") -> pd.DataFrame:
    """The matrix with gene 2 of sample 3 replaced by `value`."""
    frame = make_matrix(scale).astype(object)
    frame.iloc[1, 2] = value
    return frame


def annotation(**columns) -> pd.DataFrame:
    return pd.DataFrame({"gene": GENES, "length": [1000, 2000, 500, 1500], **columns})


def prepare(tmp: Path, matrix=None, sheet=None, annotation=None, gmt=None, **kwargs):
    """data.run on the small cohort written under `tmp`, with the parts given replaced."""
    paths = {"expression": tmp / "expression.tsv", "samples": tmp / "samples.tsv"}
    (make_matrix() if matrix is None else matrix).to_csv(paths["expression"], sep="\t")
    (make_sheet() if sheet is None else sheet).to_csv(paths["samples"], sep="\t", index=False)
    if annotation is not None:
        paths["genes"] = tmp / "genes.tsv"
        annotation.to_csv(paths["genes"], sep="\t", index=False)
    if gmt is not None:
        paths["genesets"] = tmp / "sets.gmt"
        paths["genesets"].write_text(gmt)
    out = {f"out_{name}": tmp / "out" / f"{name}.parquet" for name in ("expression", "samples")}
    args = {
        **paths, **out, "out_genes": tmp / "out" / "genes.parquet",
        "out_genesets": tmp / "out" / "genesets.gmt", "out_matrix": tmp / "out" / "e.npy",
        "out_matrix_ids": tmp / "out" / "e.ids.json",
        "out_medians": tmp / "out" / "class_medians.parquet",
        "scale": "tpm", "schema": SHEET_SCHEMA,
        "focus_tissues": ["liver"], "seed": 1, "min_class_size": 5, **kwargs,
    }  # fmt: skip
    return lambda: data.run(**args)


def tiny(edit=None) -> dict:
    """The tiny config, edited, with the schema's defaults filled in as Snakemake does."""
    conf = yaml.safe_load(TINY.read_text())
    if edit:
        edit(conf)
    validate(conf, str(CONFIG_SCHEMA))
    return conf


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# --- the cases: each writes its input under tmp and returns (the call, the placeholder values) --


def config_schema(tmp):
    conf = tiny()
    conf["explain"]["explainers"].append("Occlusion")
    key = f"explain.explainers[{len(conf['explain']['explainers']) - 1}]"
    problem = f"'Occlusion' is not one of {list(explainers.TABLE)}"
    return lambda: config.check(conf, CONFIG_SCHEMA), [key, problem]


def config_unknown_key(tmp):
    conf = dict(tiny(), bogus=1)
    problem = "Additional properties are not allowed ('bogus' was unexpected)"
    return lambda: config.check(conf, CONFIG_SCHEMA), [problem]


def combination_not_run(tmp):
    conf = tiny(lambda c: c["annotate"].update(representatives=["MLP-Agg GuidedGradCamPlusPlus"]))
    values = ["annotate.representatives", "MLP-Agg GuidedGradCamPlusPlus",
              "GuidedGradCamPlusPlus", "MLP", "['Saliency', 'DeepLiftShap']"]  # fmt: skip
    return lambda: config.check_combinations(conf), values


def demo_too_many_planted(tmp):
    spec = tiny(lambda c: c["cohort"]["demo"].update(genes=300, markers_per_class=40))
    out = {k: tmp / "out" / k for k in ("counts", "samples", "genes", "genesets", "tfs")}
    return lambda: cohort.run(spec["cohort"]["demo"], 7, **out), [311, 300]


def demo_focus_absent(tmp):
    conf = tiny(lambda c: c.update(focus_tissues=["liver", "pancreas"]))
    return lambda: plan.focus(conf), [["pancreas"], ["brain", "heart", "liver", "lung"]]


def genomic_without_coordinates(tmp):
    genes = pd.DataFrame({"gene": ["a", "b"], "chrom": ["1", None], "start": [5, None]})
    return lambda: train.gene_order("genomic", genes, 1, "m01"), []


def file_not_found(tmp):
    return prepare(tmp, expression=tmp / "counts.tsv"), [tmp / "counts.tsv"]


def file_unknown_type(tmp):
    path = write(tmp / "expression.xlsx", "gene\ts1\n")
    return prepare(tmp, expression=path), [path]


def matrix_empty(tmp):
    return prepare(tmp, matrix=make_matrix().iloc[:0]), [tmp / "expression.tsv", "genes", "samples"]


def matrix_duplicate_gene(tmp):
    frame = make_matrix().rename(index={GENES[1]: "ENSG00000000001.2"})
    return prepare(tmp, matrix=frame), [tmp / "expression.tsv", 1, "ENSG00000000001"]


def matrix_duplicate_sample(tmp):
    frame = make_matrix()
    frame.columns = ["liverN0", *SAMPLES[:-1]]
    return prepare(tmp, matrix=frame), [tmp / "expression.tsv", 1, "liverN0"]


def matrix_not_a_number(tmp):
    return prepare(tmp, matrix=cell("1,5")), [tmp / "expression.tsv", GENES[1], "liverN2", "1,5"]


def matrix_missing_value(tmp):
    values = [tmp / "expression.tsv", "ENSG00000000002", "liverN2", "nan"]
    return prepare(tmp, matrix=cell(np.nan)), values


def matrix_negative(tmp):
    values = [tmp / "expression.tsv", "tpm", "ENSG00000000002", "liverN2", "-1", "tpm"]
    return prepare(tmp, matrix=cell(-1.0)), values


def matrix_fractional_counts(tmp):
    values = [tmp / "expression.tsv", "ENSG00000000002", "liverN2", "2.5"]
    return prepare(tmp, matrix=cell(2.5), annotation=annotation(), scale="counts"), values


def matrix_tpm_looks_log2(tmp):
    return prepare(tmp, matrix=make_matrix("log2")), [tmp / "expression.tsv"]


def matrix_log2_below_pseudocount(tmp):
    call = prepare(tmp, matrix=cell(-12.0, "log2"), scale="log2", pseudocount=0.001)
    values = [0.001, "ENSG00000000002", "liverN2", -12, 0.001, -9.9658]
    return call, [tmp / "expression.tsv", *values]


def matrix_log2_above_max(tmp):
    call = prepare(tmp, matrix=cell(25.0, "log2"), scale="log2")
    return call, [tmp / "expression.tsv", 1, "ENSG00000000002", "liverN2", 25, 1, 19.9316]


def matrix_tpm_sums_too_high(tmp):
    frame = make_matrix()
    frame["lungN1"] *= 1000
    return prepare(tmp, matrix=frame), [tmp / "expression.tsv", "tpm", "lungN1", "4.06e+06"]


def source_scale_mismatch(tmp):
    """A toil matrix (log2(TPM + 0.001)) whose values lie below log2(0.001)."""
    read = {**sources.READ["toil"], "genes_in": "rows"}  # the layout is not the point here
    values = [
        tmp / "expression.tsv",
        "toil",
        "log2",
        " with pseudocount 0.001",
        "gene 'ENSG00000000001' in sample 'liverN0' is -10.5406, below log2(0.001) = -9.9658",
    ]
    call = prepare(tmp, matrix=make_matrix("log2") - 14, **read, origin="cohort.source: toil")
    return call, values


def counts_without_lengths(tmp):
    values = [tmp / "expression.tsv", "no GTF or annotation is set"]
    return prepare(tmp, scale="counts"), values


def sheet_missing_column(tmp):
    frame = make_sheet().drop(columns="class")
    found = ["sample", "tissue", "status"]
    return prepare(tmp, sheet=frame), [tmp / "samples.tsv", ["class"], found]


def sheet_bad_cell(tmp):
    frame = make_sheet()
    frame.loc[4, "status"] = "tumour"
    values = [tmp / "samples.tsv", 6, "liverN4", "status", "'tumour' is not one of ['normal', "
              "'cancer', None]"]  # fmt: skip
    return prepare(tmp, sheet=frame), values


def sheet_duplicate_sample(tmp):
    frame = pd.concat([make_sheet(), make_sheet().iloc[[3]]], ignore_index=True)
    return prepare(tmp, sheet=frame), [tmp / "samples.tsv", 1, "liverN3"]


def sample_missing_from_sheet(tmp):
    frame = make_sheet().drop(index=3)
    values = [1, tmp / "expression.tsv", tmp / "samples.tsv", ["liverN3"]]
    return prepare(tmp, sheet=frame), values


def sample_missing_from_matrix(tmp):
    values = [1, tmp / "samples.tsv", tmp / "expression.tsv", ["liverN3"]]
    return prepare(tmp, matrix=make_matrix().drop(columns="liverN3")), values


def class_too_small(tmp):
    frame = make_sheet()
    frame.loc[frame["sample"].isin(["lungN0", "lungN1"]), "class"] = "rare"
    values = [tmp / "samples.tsv", "rare", 2, 4, 1, {"rare": 2}]
    return prepare(tmp, sheet=frame, min_class_size=4), values


def sheet_duplicate_column(tmp):
    frame = pd.concat([make_sheet(), make_sheet()[["class"]]], axis=1)  # pandas: class.1
    path = write(tmp / "merged.csv", frame.to_csv(index=False))
    return prepare(tmp, samples=path), [path, ["class"]]


def sheet_label_spellings(tmp):
    frame = make_sheet()
    frame.loc[frame["sample"].isin(["liverN1", "liverN4"]), "class"] = "LiverN"
    frame.loc[frame["sample"] == "lungN2", "class"] = "liverN"
    values = [tmp / "samples.tsv", "class", "'LiverN' (2 rows), 'liverN' (5 rows)", 1, "class"]
    return prepare(tmp, sheet=frame), values


def sheet_written_column(tmp):
    frame = make_sheet().assign(split="train")
    return prepare(tmp, sheet=frame), [tmp / "samples.tsv", ["split"]]


def file_unreadable(tmp):
    text = make_matrix().to_csv(sep="\t").encode()
    path = write(tmp / "expression.tsv.gz", gzip.compress(text * 200, mtime=0)[:-40])
    error = "Compressed file ended before the end-of-stream marker was reached"
    return prepare(tmp, expression=path), [path, error]


def file_undecodable(tmp):
    text = make_sheet().assign(donor="Ren\xe9e").to_csv(index=False)
    path = write(tmp / "samples.csv", text.encode("cp1252"))
    return prepare(tmp, samples=path), [path, "utf-8", "0xe9", "invalid continuation byte"]


def replicate_model_absent(tmp):
    conf = tiny(lambda c: c["explain"].update(replicate_models=["m01", "m07", "s01"]))
    held = "the MLPs m01..m03, the CNNs m01..m02 and s01..s02"
    return lambda: config.check_ensemble(conf), [["m07"], held]


def too_few_models(tmp):
    conf = tiny(lambda c: c["reproducibility"].update(aggregate_models=2))
    key = "reproducibility.aggregate_models"
    values = [key, 4, " (2 a set, two disjoint sets)", "train.mlp.models", 3, key]
    return lambda: config.check_ensemble(conf), values


def cuda_absent(tmp):
    def call():
        with mock.patch.object(torch.cuda, "is_available", return_value=False):
            train.device("cuda")

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    return call, [platform.node(), torch.__version__, build]


def model_unreadable(tmp):
    path = saved_model(tmp, ["g1", "g2", "g3"])
    path.write_bytes(path.read_bytes()[:100])
    error = "PytorchStreamReader failed reading zip archive: failed finding central directory"
    return lambda: train.load_model(path, ["g1", "g2", "g3"]), [path, error]


def focus_tissue_absent(tmp):
    values = [["pancreas"], tmp / "samples.tsv", ["liver", "lung"]]
    return prepare(tmp, focus_tissues=["liver", "pancreas"]), values


def annotation_without_gene(tmp):
    frame = annotation().rename(columns={"gene": "gene_id"})
    values = [tmp / "genes.tsv", ["gene_id", "length"]]
    return prepare(tmp, annotation=frame), values


def annotation_duplicate_gene(tmp):
    frame = annotation().replace({GENES[1]: "ENSG00000000001.7"})
    return prepare(tmp, annotation=frame), [tmp / "genes.tsv", 1, "ENSG00000000001"]


def annotation_lacks_genes(tmp):
    values = [1, tmp / "expression.tsv", tmp / "genes.tsv", ["ENSG00000000004"]]
    return prepare(tmp, annotation=annotation().iloc[:3], scale="counts"), values


def annotation_bad_length(tmp):
    frame = annotation().replace({"length": {2000: 0}})
    return prepare(tmp, annotation=frame, scale="counts"), [tmp / "genes.tsv", "ENSG00000000002"]


def annotation_without_biotype(tmp):
    values = [f"{tmp / 'genes.tsv'} has no 'biotype' column"]
    return prepare(tmp, annotation=annotation(), protein_coding_only=True), values


def annotation_keeps_no_gene(tmp):
    frame = annotation(biotype="lncRNA")
    call = prepare(tmp, annotation=frame, protein_coding_only=True)
    return call, [tmp / "genes.tsv", tmp / "expression.tsv"]


def genesets_not_found(tmp):
    return prepare(tmp, genesets=tmp / "sets.gmt"), [tmp / "sets.gmt"]


def gmt_malformed(tmp):
    call = prepare(tmp, gmt="SET1\tliver markers\tENSG00000000001\nSET2\tno genes\n")
    return call, [tmp / "sets.gmt", 2]


def tf_list_missing_columns(tmp):
    path = write(tmp / "tfs.tsv", "Species\tGene\tFamily\nHomo_sapiens\tTP53\tp53\n")
    return lambda: annotate.read_tf_list(path), [path, ["Symbol", "Ensembl"]]


def gaf_unreadable(tmp):
    path = write(tmp / "goa_human.gaf", "!gaf-version: 2.2\nUniProtKB\tP04637\tTP53\n")
    error = "Defining usecols with out-of-bounds indices is not allowed. [3, 4] are out of bounds."
    return lambda: annotate.read_gaf(path, {"TP53"}), [path, error]


def cancer_genes_missing_column(tmp):
    path = write(tmp / "cancer_genes.tsv", "symbol\trole\nTP53\ttumour suppressor\n")
    return lambda: differential.read_cancer_genes(path), [path, "gene", ["symbol", "role"]]


def cancer_genes_bad_role(tmp):
    path = write(tmp / "cancer_genes.tsv", "gene\trole\nTP53\ttumour suppressor\nMYC\tdriver\n")
    return lambda: differential.read_cancer_genes(path), [path, 3, "gene 'MYC' has role 'driver'"]


def cancer_genes_duplicate(tmp):
    path = write(tmp / "cancer_genes.tsv", "gene\trole\nMYC\toncogene\nMYC\toncogene\n")
    return lambda: differential.read_cancer_genes(path), [path, "MYC"]


def saved_model(tmp, genes) -> Path:
    net = models.build("mlp", n_genes=3, n_classes=2, hidden=4, dropout=0.1)
    path = tmp / "models" / "mlp" / "m01" / "model.pt"
    if genes is None:
        train.save_torch({"arch": "mlp", "kwargs": {"n_genes": 3, "n_classes": 2, "hidden": 4},
                          "state_dict": net.state_dict()}, path)  # fmt: skip
    else:
        train.save_model(net, "mlp", {"n_genes": 3, "n_classes": 2, "hidden": 4}, genes, path)
    return path


def model_other_genes(tmp):
    path = saved_model(tmp, ["g1", "g2", "g3"])
    values = [path, 3, 4, 2, "'g2'", "'g5'"]
    return lambda: train.load_model(path, ["g1", "g5", "g3", "g4"]), values


def model_without_genes(tmp):
    path = saved_model(tmp, None)
    return lambda: train.load_model(path, ["g1", "g2", "g3"]), [path]


def download_checksum(tmp):
    source = write(tmp / "upstream.txt", "the file as it is now\n")
    dest = tmp / "downloads" / "tf"
    url, pinned = source.as_uri(), "0" * 64
    values = [url, dest, 2, pinned, io.sha256(source)]
    return lambda: download.fetch(url, dest, pinned, retries=1, backoff_s=0), values


G1, G2 = "ENSG00000000001.5", "ENSG00000000002.3"


def gtf_line(feature: str, gene: str, name: str = 'gene_name "GENEA"; ') -> str:
    attrs = f'gene_id "{gene}"; gene_type "protein_coding"; {name}level 2;'
    return "\t".join(["chr1", "HAVANA", feature, "100", "400", ".", "+", ".", attrs]) + "\n"


def gtf(*lines: str) -> str:
    return "##provider: GENCODE\n" + "".join(lines)


GTF = gtf(gtf_line("gene", G1), gtf_line("exon", G1))
PHENOTYPE = (
    "sample\tdetailed_category\tprimary disease or tissue\t_primary_site\t_sample_type\t_study\n"
    "GTEX-1117F-0226-SM-5GZZ7\tLiver\tLiver\tLiver\tNormal Tissue\tGTEX\n"
)


def build_toil(tmp, matrix_text: str, min_class_size: int):
    paths = {
        "expression": write(tmp / "tpm.txt", matrix_text),
        "phenotype": write(tmp / "phenotype.txt", PHENOTYPE),
        "gtf": write(tmp / "annotation.gtf", GTF),
    }
    out = {f"out_{k}": tmp / "out" / k for k in ("expression", "samples", "genes")}
    return lambda: sources.build_toil(**paths, **out, min_class_size=min_class_size)


def read(reader, path: Path, values: list):
    """A case that reads one file: the message starts with the file."""
    return lambda: reader(path), [path, *values]


def download_unreadable(tmp):
    path = write(tmp / "phenotype.txt.gz", gzip.compress(PHENOTYPE.encode(), mtime=0)[:40])
    error = "Compressed file ended before the end-of-stream marker was reached"
    return read(sources.read_xena_phenotype, path, [error])


def download_no_header(tmp):
    return read(sources.read_xena_matrix, write(tmp / "tpm.txt", ""), [])


def download_missing_columns(tmp):
    path = write(tmp / "attributes.txt", "SAMPID\tSMTS\tSMAFRZE\nGTEX-1\tLiver\tRNASEQ\n")
    what = "GTEx's sample attributes (SampleAttributesDS)"
    values = [["SMTSD"], ["SAMPID", "SMTS", "SMAFRZE"], what]
    return read(sources.read_gtex_attributes, path, values)


def download_duplicate_column(tmp):
    path = write(tmp / "tpm.txt", f"sample\tS1\tS1\n{G1}\t1\t2\n")
    return read(sources.read_xena_matrix, path, ["S1"])


def download_missing_value(tmp):
    path = write(tmp / "tpm.txt", f"sample\tS1\tS2\n{G1}\t1\t2\n{G2}\t1\t\n")
    return read(sources.read_xena_matrix, path, [3, "ENSG00000000002", "S2"])


def download_duplicate_gene(tmp):
    path = write(tmp / "tpm.txt", f"sample\tS1\n{G1}\t1\nENSG00000000001.6\t2\n")
    return read(sources.read_xena_matrix, path, ["ENSG00000000001"])


def download_not_xena(tmp):
    path = write(tmp / "tpm.txt", f"gene_id\tS1\n{G1}\t1\n")
    return read(sources.read_xena_matrix, path, ["gene_id"])


def gct(tmp, version="#1.2", counts="1\t1", header="Name\tDescription\tS1") -> Path:
    return write(tmp / "tpm.gct", f"{version}\n{counts}\n{header}\n{G1}\tGENEA\t3.5\n")


def gct_version(tmp):
    return read(sources.read_gct, gct(tmp, version="#1.3"), ["#1.3"])


def gct_counts_line(tmp):
    return read(sources.read_gct, gct(tmp, counts="1 1"), ["1 1"])


def gct_header(tmp):
    path = gct(tmp, header="Id\tDescription\tS1")
    return read(sources.read_gct, path, [["Id", "Description"]])


def gct_sample_count(tmp):
    return read(sources.read_gct, gct(tmp, counts="1\t2"), [2, 1])


def gct_gene_count(tmp):
    return read(sources.read_gct, gct(tmp, counts="3\t1"), [3, 1])


def recount3_sums_header(tmp):
    path = write(tmp / "sums.txt", f"##annotation=G026\ngene\t101\n{G1}\t5\n")
    return read(sources.read_recount3_sums, path, [2, "gene"])


# recount3's raw metadata: no `tcga.` prefix; external_id (a GDC file id) heads the sums columns
METADATA_HEADER = "rail_id\texternal_id\tstudy\ttcga_barcode\tgdc_cases.project.project_id\n"
FILE_ID = "0a1b2c3d-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


def tcga_barcode(tmp):
    row = f"101\t{FILE_ID}\tLIHC\tTCGA-BC-A10Q\tTCGA-LIHC\n"
    path = write(tmp / "metadata.txt", METADATA_HEADER + row)
    return read(sources.read_recount3_metadata, path, [2, "tcga_barcode", "TCGA-BC-A10Q"])


def build_portal(tmp, metadata_row: str, sums_header: str):
    """build_portal on one GTEx liver sample and one LIHC project."""
    paths = {
        "gtex_tpm": gct(tmp, header="Name\tDescription\tGTEX-1117F-0226-SM-5GZZ7"),
        "gtex_attributes": write(
            tmp / "attributes.txt",
            "SAMPID\tSMTS\tSMTSD\tSMAFRZE\nGTEX-1117F-0226-SM-5GZZ7\tLiver\tLiver\tRNASEQ\n",
        ),
        "tcga_sums": {"LIHC": write(tmp / "sums.txt", f"{sums_header}\n{G1}\t5\n")},
        "tcga_metadata": {"LIHC": write(tmp / "metadata.txt", METADATA_HEADER + metadata_row)},
        "gtf": write(tmp / "annotation.gtf", GTF),
    }
    out = {f"out_{k}": tmp / "out" / k for k in ("expression", "samples", "genes")}
    return lambda: sources.build_portal(**paths, **out, min_class_size=1)


def recount3_other_project(tmp):
    row = f"101\t{FILE_ID}\tLAML\tTCGA-AB-2803-03A-01T-0734-13\tTCGA-LAML\n"
    values = [tmp / "metadata.txt", 2, "gdc_cases.project.project_id", "TCGA-LAML", "LIHC"]
    return build_portal(tmp, row, f"gene_id\t{FILE_ID}"), values


def recount3_sums_other_samples(tmp):
    """Gene sums headed by rail ids (not what recount3 serves): no sample would be kept."""
    row = f"101\t{FILE_ID}\tLIHC\tTCGA-BC-A10Q-01A-11R-A131-07\tTCGA-LIHC\n"
    values = [tmp / "sums.txt", 1, tmp / "metadata.txt", 2, ["101"], [FILE_ID]]
    return build_portal(tmp, row, "##annotation=G026\ngene_id\t101"), values


def download_encoding(tmp):
    """GTEx attributes (read as UTF-8) re-saved in latin-1: byte 0xCA, then an ASCII letter."""
    text = "SAMPID\tSMTS\tSMTSD\tSMAFRZE\nGTEX-1\tNerve\tSympathetic\xcaNerve\tRNASEQ\n"
    path = write(tmp / "attributes.txt", text.encode("latin-1"))
    values = ["utf-8", "0xca", "invalid continuation byte"]
    return read(sources.read_gtex_attributes, path, values)


def cohort_size_mismatch(tmp):
    """18 samples x 4 genes in 3 classes, declared 600 x 2,000: stopped before the matrix is
    read, from its header and the sheet."""
    size = ({"samples": 600, "genes": 2000, "classes": 3}, "cohort.size")
    values = [
        tmp / "expression.tsv", "18 samples, 4 genes, 3 classes", "cohort.size",
        "600 samples, 2,000 genes, 3 classes", "samples and genes", "25%", "cohort.size",
        "samples: 18, genes: 4, classes: 3",
    ]  # fmt: skip
    return prepare(tmp, size=size), values


def gtf_without_attribute(tmp):
    path = write(tmp / "annotation.gtf", gtf(gtf_line("gene", G1, name=""), gtf_line("exon", G1)))
    return read(sources.read_gtf_genes, path, [2, "gene_name"])


def gtf_without_exons(tmp):
    text = gtf(gtf_line("gene", G1), gtf_line("gene", G2), gtf_line("exon", G2))
    return read(sources.read_gtf_genes, write(tmp / "annotation.gtf", text), [G1, 1])


def gtf_duplicate_gene(tmp):
    text = gtf(*(gtf_line(f, g) for g in (G1, "ENSG00000000001.6") for f in ("gene", "exon")))
    path = write(tmp / "annotation.gtf", text)
    return read(sources.read_gtf_genes, path, ["ENSG00000000001"])


def user_gtf(tmp, text: str | bytes):
    """data.run on read counts with a GTF of `text` (cohort.files.gtf)."""
    path = write(tmp / "genes.gtf", text)
    return prepare(tmp, gtf=path, scale="counts"), path


def gtf_user_without_gene_id(tmp):
    line = "\t".join(["chr1", "RefSeq", "exon", "100", "400", ".", "+", ".", 'transcript_id "T";'])
    call, path = user_gtf(tmp, gtf(gtf_line("exon", G1), line + "\n"))
    return call, [path, 3]


def gtf_user_without_exons(tmp):
    call, path = user_gtf(
        tmp, gtf(gtf_line("gene", G1), gtf_line("gene", G2), gtf_line("exon", G2))
    )
    return call, [path, G1, 1]


def gtf_user_duplicate_gene(tmp):
    call, path = user_gtf(tmp, gtf(gtf_line("exon", G1), gtf_line("exon", "ENSG00000000001.6")))
    return call, [path, "ENSG00000000001", G1, "ENSG00000000001.6"]


def gtf_user_no_genes(tmp):
    call, path = user_gtf(tmp, "##provider: GENCODE\n")
    return call, [path]


def gtf_user_unreadable(tmp):
    call, path = user_gtf(tmp, gzip.compress(GTF.encode() * 50, mtime=0)[:-30])
    return call, [path, "Compressed file ended before the end-of-stream marker was reached"]


def cohort_without_samples(tmp):
    call = build_toil(tmp, f"sample\tGTEX-1117F-0226-SM-5GZZ7\n{G1}\t3.5\n", min_class_size=5)
    return call, ["GTEx", 5, "GTEx"]


def cohort_study_not_in_matrix(tmp):
    call = build_toil(tmp, f"sample\tGTEX-1117F-0011-SM-5GZZ8\n{G1}\t3.5\n", min_class_size=1)
    return call, [1, "GTEx", ["GTEX-1117F-0226-SM-5GZZ7"]]


def cohort_annotation_empty(tmp):
    call = build_toil(tmp, f"sample\tGTEX-1117F-0226-SM-5GZZ7\n{G1}\t3.5\n", min_class_size=1)
    (tmp / "phenotype.txt").write_text(PHENOTYPE.replace("\tGTEX\n", "\tTARGET\n"))
    return call, []


def cohort_without_genes(tmp):
    return build_toil(tmp, f"sample\tGTEX-1117F-0226-SM-5GZZ7\n{G2}\t3.5\n", min_class_size=1), []


CASES = {
    "config-schema": config_schema,
    "config-unknown-key": config_unknown_key,
    "combination-not-run": combination_not_run,
    "demo-too-many-planted": demo_too_many_planted,
    "demo-focus-absent": demo_focus_absent,
    "genomic-order-without-coordinates": genomic_without_coordinates,
    "file-not-found": file_not_found,
    "file-unknown-type": file_unknown_type,
    "matrix-empty": matrix_empty,
    "matrix-duplicate-gene": matrix_duplicate_gene,
    "matrix-duplicate-sample": matrix_duplicate_sample,
    "matrix-not-a-number": matrix_not_a_number,
    "matrix-missing-value": matrix_missing_value,
    "matrix-negative": matrix_negative,
    "matrix-fractional-counts": matrix_fractional_counts,
    "matrix-tpm-looks-log2": matrix_tpm_looks_log2,
    "matrix-log2-below-pseudocount": matrix_log2_below_pseudocount,
    "matrix-log2-above-max": matrix_log2_above_max,
    "matrix-tpm-sum-above-1e6": matrix_tpm_sums_too_high,
    "source-scale-mismatch": source_scale_mismatch,
    "counts-without-lengths": counts_without_lengths,
    "sheet-missing-column": sheet_missing_column,
    "sheet-bad-cell": sheet_bad_cell,
    "sheet-duplicate-sample": sheet_duplicate_sample,
    "sample-missing-from-sheet": sample_missing_from_sheet,
    "sample-missing-from-matrix": sample_missing_from_matrix,
    "class-too-small": class_too_small,
    "focus-tissue-absent": focus_tissue_absent,
    "sheet-duplicate-column": sheet_duplicate_column,
    "sheet-label-spellings": sheet_label_spellings,
    "sheet-written-column": sheet_written_column,
    "file-unreadable": file_unreadable,
    "file-undecodable": file_undecodable,
    "replicate-model-absent": replicate_model_absent,
    "too-few-models": too_few_models,
    "cuda-absent": cuda_absent,
    "model-unreadable": model_unreadable,
    "annotation-without-gene": annotation_without_gene,
    "annotation-duplicate-gene": annotation_duplicate_gene,
    "annotation-lacks-genes": annotation_lacks_genes,
    "annotation-bad-length": annotation_bad_length,
    "annotation-without-biotype": annotation_without_biotype,
    "annotation-keeps-no-gene": annotation_keeps_no_gene,
    "genesets-not-found": genesets_not_found,
    "gmt-malformed": gmt_malformed,
    "tf-list-missing-columns": tf_list_missing_columns,
    "gaf-unreadable": gaf_unreadable,
    "cancer-genes-missing-column": cancer_genes_missing_column,
    "cancer-genes-bad-role": cancer_genes_bad_role,
    "cancer-genes-duplicate": cancer_genes_duplicate,
    "model-other-genes": model_other_genes,
    "model-without-genes": model_without_genes,
    "download-checksum": download_checksum,
    "download-unreadable": download_unreadable,
    "download-no-header": download_no_header,
    "download-missing-columns": download_missing_columns,
    "download-duplicate-column": download_duplicate_column,
    "download-missing-value": download_missing_value,
    "download-duplicate-gene": download_duplicate_gene,
    "download-not-xena": download_not_xena,
    "gct-version": gct_version,
    "gct-counts-line": gct_counts_line,
    "gct-header": gct_header,
    "gct-sample-count": gct_sample_count,
    "gct-gene-count": gct_gene_count,
    "recount3-sums-header": recount3_sums_header,
    "tcga-barcode": tcga_barcode,
    "recount3-other-project": recount3_other_project,
    "recount3-sums-other-samples": recount3_sums_other_samples,
    "download-encoding": download_encoding,
    "cohort-size-mismatch": cohort_size_mismatch,
    "gtf-without-attribute": gtf_without_attribute,
    "gtf-without-exons": gtf_without_exons,
    "gtf-duplicate-gene": gtf_duplicate_gene,
    "gtf-user-without-gene-id": gtf_user_without_gene_id,
    "gtf-user-without-exons": gtf_user_without_exons,
    "gtf-user-duplicate-gene": gtf_user_duplicate_gene,
    "gtf-user-no-genes": gtf_user_no_genes,
    "gtf-user-unreadable": gtf_user_unreadable,
    "cohort-without-samples": cohort_without_samples,
    "cohort-study-not-in-matrix": cohort_study_not_in_matrix,
    "cohort-annotation-empty": cohort_annotation_empty,
    "cohort-without-genes": cohort_without_genes,
}
ERRORS = {"download-checksum": DownloadError}  # every other row: InputError


def test_every_row_has_a_case_and_every_case_a_row():
    assert set(ROWS) == set(CASES)
    assert len(ROWS) >= 15
    assert {name for name, row in ROWS.items() if row["end to end"] == "yes"} == set(E2E)
    assert len(E2E) == 4
    assert {row["end to end"] for row in ROWS.values()} <= {"yes", ""}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_with_its_message_and_nothing_written(tmp_path, name):
    call, values = CASES[name](tmp_path)
    before = files(tmp_path)
    with pytest.raises(ERRORS.get(name, InputError)) as raised:
        call()
    assert str(raised.value) == filled(ROWS[name]["message"], values)
    assert files(tmp_path) == before


# --- end to end: Snakemake stops with the message, and nothing is written --------------------


def e2e_config_schema(root):
    user_cohort(root, lambda c: c["explain"]["explainers"].append("Occlusion"))
    return True


def e2e_focus_tissue_absent(root):
    user_cohort(root, lambda c: c.update(focus_tissues=["liver", "pancreas"]))
    return True


def e2e_class_too_small(root):
    user_cohort(root, lambda c: c["data"].update(min_class_size=13))
    return True


def e2e_matrix_negative(root):
    user_cohort(root)
    tpm = pd.read_csv(root / "tpm.tsv", sep="\t")
    tpm.iloc[3, 5] = -2.0
    tpm.to_csv(root / "tpm.tsv", sep="\t", index=False)
    return False


E2E = {  # id: writes the input into the workflow copy; returns whether it stops before any job
    "config-schema": e2e_config_schema,
    "class-too-small": e2e_class_too_small,
    "focus-tissue-absent": e2e_focus_tissue_absent,
    "matrix-negative": e2e_matrix_negative,
}


@pytest.mark.parametrize("name", sorted(E2E))
def test_snakemake_stops_with_the_message_and_writes_nothing(workdir, name):
    before_any_job = E2E[name](workdir)
    done = snakemake(
        "results/data/expression.parquet", "--cores", "1", "--configfile", "user.yaml",
        cwd=workdir,
    )  # fmt: skip
    message = pattern(ROWS[name]["message"])
    assert done.returncode != 0
    assert re.search(message, done.stderr), done.stderr[-3000:]
    if before_any_job:  # the message alone, no traceback
        assert not (workdir / "results").exists()
        assert "Traceback" not in done.stderr and 'File "' not in done.stderr
    else:  # the job's log holds the message alone
        assert files(workdir / "results") == []
        log = (workdir / "logs" / "data" / "prepare_data.log").read_text()
        assert re.search(message, log) and "Traceback" not in log
