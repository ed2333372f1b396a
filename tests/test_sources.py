"""Tests for txai.sources: small files in the real GTEx/TCGA formats, served on 127.0.0.1,
downloaded with txai.download.fetch, parsed and built into cohorts that txai.data.run accepts.

Where each layout comes from (header lines as the publishers serve them, the rows our own):
- GENCODE GTF: the five `##` lines and column 9's attribute order of gencode.v26.annotation.gtf
  (GENCODE's "GTF format" page: gene_id, [transcript_id,] gene_type, gene_name, ..., level).
- UCSC Xena toil hub: TcgaTargetGtex_rsem_gene_tpm (header `sample` then sample ids, values
  log2(TPM + 0.001) with 4 decimals, -9.9658 for 0) and TcgaTargetGTEX_phenotype.txt (header
  sample, detailed_category, primary disease or tissue, _primary_site, _sample_type, _gender,
  _study). The phenotype table is not UTF-8: its TARGET neuroblastoma rows name the site
  "Sympathetic\xcaNervous System" (byte 0xCA), and public readers open it as latin-1.
- GTEx portal v8: the GCT 1.2 layout (`#1.2`, `<genes>\t<samples>`, `Name\tDescription\t...`)
  and GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt with its 63 columns (GTEX_ATTRIBUTES).
- recount3 (LieberInstitute/recount3, R/read_counts.R, R/read_metadata.R, R/create_rse_manual.R
  and its inst/test_files): gene sums open with two `##` lines (annotation, date.generated),
  then `gene_id` and one column per sample named by its external_id; the raw metadata
  (tcga.tcga.<PROJECT>.MD.gz) starts rail_id, external_id, study and names its columns without
  the `tcga.` prefix that the R reader adds; for TCGA, external_id is the GDC file id (a UUID).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from txai import data, io, sources, stats
from txai.download import DownloadError, fetch
from txai.io import InputError
from txai.rehearsal import GTEX_ATTRIBUTES, serve  # SampleAttributesDS's 63 columns

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "samples.schema.yaml"

# --- the gene annotation: (versioned id, symbol, chrom, biotype, exons) -----------------------
GENES = [
    ("ENSG00000000001.5", "GENEA", "chr1", "protein_coding", [(100, 200), (150, 250), (300, 400)]),
    ("ENSG00000000002.3", "GENEB", "chr1", "protein_coding", [(1000, 1099)]),
    ("ENSG00000000003.1", "LNC1", "chr2", "lncRNA", [(500, 699)]),
    ("ENSG00000000004.2", "GENED", "chrX", "protein_coding", [(10, 59)]),
    ("ENSG00000000004.2_PAR_Y", "GENED", "chrY", "protein_coding", [(10, 59)]),
]
LENGTHS = [252, 100, 200, 50, 50]  # GENEA: [100, 250] and [300, 400], its first exons overlap
CODING = ["ENSG00000000001", "ENSG00000000002", "ENSG00000000004"]  # no lncRNA, no PAR_Y copy
UNANNOTATED = "ENSG00000000099.1"  # in the matrices, not in the GTF
MATRIX_GENES = [g[0] for g in GENES] + [UNANNOTATED]
CODING_ROWS = [0, 1, 3]  # CODING in MATRIX_GENES

# --- toil: UCSC Xena's phenotype rows (sample, category, primary site, sample type, study) ----
LIHC, LAML = "Liver Hepatocellular Carcinoma", "Acute Myeloid Leukemia"
SYMPATHETIC = "Sympathetic\xcaNervous System"  # as latin-1 decodes the file's byte 0xCA
BLOOD_CANCER = "Primary Blood Derived Cancer - Peripheral Blood"
PHENOTYPE = [
    ("GTEX-1117F-0226-SM-5GZZ7", "Liver", "Liver", "Normal Tissue", "GTEX"),
    ("GTEX-111CU-1826-SM-5GZYN", "Liver", "Liver", "Normal Tissue", "GTEX"),
    ("GTEX-111FC-0226-SM-5N9B8", "Brain - Cortex", "Brain", "Normal Tissue", "GTEX"),
    ("GTEX-111VG-2326-SM-5N9BK", "Brain - Cortex", "Brain", "Normal Tissue", "GTEX"),
    ("GTEX-1122O-2026-SM-9YFMG", "Bladder", "Bladder", "Normal Tissue", "GTEX"),  # class of one
    ("TCGA-BC-A10Q-01", LIHC, "Liver", "Primary Tumor", "TCGA"),
    ("TCGA-DD-A1EB-01", LIHC, "Liver", "Primary Tumor", "TCGA"),
    ("TCGA-DD-A1EB-11", LIHC, "Liver", "Solid Tissue Normal", "TCGA"),
    ("TCGA-DD-A1EC-03", LIHC, "Liver", BLOOD_CANCER, "TCGA"),  # type 03 outside LAML
    ("TCGA-AB-2803-03", LAML, "White Blood Cell", BLOOD_CANCER, "TCGA"),
    ("TCGA-AB-2804-03", LAML, "White Blood Cell", BLOOD_CANCER, "TCGA"),
    ("TCGA-ZZ-0001-01", "Mystery Carcinoma", "Spleen", "Primary Tumor", "TCGA"),  # not a project
    ("TCGA-ZZ-0002-01", "Mystery Carcinoma", "Spleen", "Primary Tumor", "TCGA"),
    ("TARGET-20-PABGKN-09", LAML, "Bone Marrow", "Primary Blood Derived Cancer", "TARGET"),
    ("TARGET-20-PABHET-09", LAML, "Bone Marrow", "Primary Blood Derived Cancer", "TARGET"),
    ("TARGET-30-PAIFXV-01", "Neuroblastoma", SYMPATHETIC, "Primary Solid Tumor", "TARGET"),
]
TOIL_SAMPLES = [row[0] for row in PHENOTYPE]
TOIL_CLASSES = {  # kept samples and their (class, tissue, status)
    "GTEX-1117F-0226-SM-5GZZ7": ("GTEx_Liver", "liver", "normal"),
    "GTEX-111CU-1826-SM-5GZYN": ("GTEx_Liver", "liver", "normal"),
    "GTEX-111FC-0226-SM-5N9B8": ("GTEx_Brain_Cortex", "brain", "normal"),
    "GTEX-111VG-2326-SM-5N9BK": ("GTEx_Brain_Cortex", "brain", "normal"),
    "TCGA-BC-A10Q-01": ("TCGA_LIHC", "liver", "cancer"),
    "TCGA-DD-A1EB-01": ("TCGA_LIHC", "liver", "cancer"),
    "TCGA-AB-2803-03": ("TCGA_LAML", "blood", "cancer"),
    "TCGA-AB-2804-03": ("TCGA_LAML", "blood", "cancer"),
    "TCGA-ZZ-0001-01": ("TCGA_Mystery_Carcinoma", "spleen", "cancer"),
    "TCGA-ZZ-0002-01": ("TCGA_Mystery_Carcinoma", "spleen", "cancer"),
}


def toil_tpm(gene: int, sample: int) -> float:
    """The TPM behind the toil matrix; GENEA is 0 in the first sample (printed -9.9658)."""
    return 0.0 if (gene, sample) == (0, 0) else 10.0 * (gene + 1) + sample


# --- portal: GTEx attributes (SAMPID, SMTS, SMTSD, SMAFRZE) and recount3 ---------------------
ATTRIBUTES = [
    ("GTEX-1117F-0226-SM-5GZZ7", "Liver", "Liver", "RNASEQ"),
    ("GTEX-111CU-1826-SM-5GZYN", "Liver", "Liver", "RNASEQ"),
    ("GTEX-111FC-0226-SM-5N9B8", "Brain", "Brain - Cortex", "RNASEQ"),
    ("GTEX-111VG-2326-SM-5N9BK", "Brain", "Brain - Cortex", "RNASEQ"),
    ("GTEX-1122O-2026-SM-9YFMG", "Bladder", "Bladder", "RNASEQ"),  # a class of one
    ("GTEX-1128S-0126-SM-5H12S", "Liver", "Liver", "EXCLUDE"),  # in the GCT, not released
    ("GTEX-1117F-0003-SM-58Q7G", "Blood", "Whole Blood", "WGS"),  # DNA only, not in the GCT
]
GCT_SAMPLES = [row[0] for row in ATTRIBUTES[:6]]
METADATA = {  # project: (rail_id, aliquot barcode); external_id: external_id(rail_id)
    "LIHC": [
        ("101", "TCGA-BC-A10Q-01A-21R-A131-07"),  # a second portion of TCGA-BC-A10Q-01
        ("102", "TCGA-BC-A10Q-01A-11R-A131-07"),  # sorts first: the sample's aliquot
        ("103", "TCGA-BC-A10Q-01B-11R-A131-07"),  # vial B of the same sample
        ("104", "TCGA-DD-A1EB-01A-11R-A131-07"),
        ("105", "TCGA-DD-A1EB-11A-11R-A131-07"),  # solid tissue normal
        ("106", "TCGA-DD-A1EC-03A-11R-A131-07"),  # type 03 outside LAML
    ],
    "LAML": [
        ("201", "TCGA-AB-2803-03A-01T-0734-13"),
        ("202", "TCGA-AB-2804-03B-01T-0739-13"),
        ("203", "TCGA-AB-2805-01A-01T-0734-13"),  # type 01 is not LAML's primary tumour
    ],
}
SUMS = {  # rail id: base-pair coverage sums of MATRIX_GENES
    "101": [1, 1, 1, 1, 0, 1],
    "102": [25200, 30000, 20000, 25000, 0, 999],  # rates 100, 300, 100, 500 per bp
    "103": [1, 1, 1, 1, 0, 1],
    "104": [2520, 0, 0, 9000, 0, 7],  # rates 10, 0, 0, 180 per bp
    "105": [1, 1, 1, 1, 0, 1],
    "106": [1, 1, 1, 1, 0, 1],
    "201": [252, 100, 200, 50, 0, 0],  # rate 1 per bp everywhere
    "202": [504, 0, 0, 0, 0, 0],
    "203": [1, 1, 1, 1, 0, 1],
}
# By hand: TPM = rate / (sum of rates over GENEA, GENEB, LNC1, GENED) x 1e6, for GENEA, B, D.
PORTAL_TCGA_TPM = {
    "TCGA-BC-A10Q-01": [1e5, 3e5, 5e5],
    "TCGA-DD-A1EB-01": [10 / 190 * 1e6, 0.0, 180 / 190 * 1e6],
    "TCGA-AB-2803-03": [0.25e6, 0.25e6, 0.25e6],
    "TCGA-AB-2804-03": [1e6, 0.0, 0.0],
}
# The same samples and classes as toil's, less the disease the project table lacks.
PORTAL_CLASSES = {s: c for s, c in TOIL_CLASSES.items() if c[0] != "TCGA_Mystery_Carcinoma"}


def gtex_tpm(gene: int, sample: int) -> float:
    return 10.0 * (gene + 1) + sample


def external_id(rail: str) -> str:
    """A sample's GDC file id (recount3's external_id), a UUID, made from its rail id."""
    return f"{int(rail):08x}-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


# --- the files, in the real formats ----------------------------------------------------------


def tsv(rows: list[list]) -> str:
    return "".join("\t".join(str(x) for x in row) + "\n" for row in rows)


def gtf_text(genes=GENES) -> str:
    """A GENCODE GTF: its five ## lines, then per gene a gene line and a transcript + exon per
    exon, attributes in GENCODE's order."""
    lines = [
        ["##description: evidence-based annotation of the human genome (GRCh38), version 26 "
         "(Ensembl 88)"],
        ["##provider: GENCODE"],
        ["##contact: gencode-help@ebi.ac.uk"],
        ["##format: gtf"],
        ["##date: 2017-03-14"],
    ]  # fmt: skip
    for gene_id, symbol, chrom, biotype, exons in genes:
        gene = f'gene_id "{gene_id}"; gene_type "{biotype}"; gene_name "{symbol}"; level 2;'
        start, end = min(s for s, _ in exons), max(e for _, e in exons)
        lines.append([chrom, "HAVANA", "gene", start, end, ".", "+", ".", gene])
        for n, (s, e) in enumerate(exons, start=1):
            tx = (f'gene_id "{gene_id}"; transcript_id "ENST{n:011d}.1"; gene_type "{biotype}"; '
                  f'gene_name "{symbol}"; transcript_type "{biotype}"; level 2;')  # fmt: skip
            lines.append([chrom, "HAVANA", "transcript", s, e, ".", "+", ".", tx])
            exon = tx.replace("level 2;", "exon_number 1; level 2;")
            lines.append([chrom, "HAVANA", "exon", s, e, ".", "+", ".", exon])
    return tsv(lines)


def toil_matrix_text(samples=TOIL_SAMPLES[::-1]) -> str:
    """Xena's matrix: log2(TPM + 0.001) with 4 decimals; samples in another order than the
    phenotype's."""
    rows = [["sample", *samples]]
    for i, gene in enumerate(MATRIX_GENES):
        values = [np.log2(toil_tpm(i, TOIL_SAMPLES.index(s)) + 0.001) for s in samples]
        rows.append([gene, *(f"{v:.4f}" for v in values)])
    return tsv(rows)


def phenotype_bytes() -> bytes:
    """Xena's phenotype table, latin-1 encoded as served."""
    return phenotype_text().encode("latin-1")


def phenotype_text() -> str:
    header = ["sample", "detailed_category", "primary disease or tissue", "_primary_site"]
    rows = [[*header, "_sample_type", "_gender", "_study"]]
    for sample, category, site, kind, study in PHENOTYPE:
        rows.append([sample, category, category, site, kind, "Female", study])
    return tsv(rows)


def gct_text(counts: str | None = None) -> str:
    rows = [["#1.2"], [counts or f"{len(MATRIX_GENES)}\t{len(GCT_SAMPLES)}"]]
    rows.append(["Name", "Description", *GCT_SAMPLES])
    for i, gene in enumerate(MATRIX_GENES):
        rows.append([gene, f"SYM{i}", *(f"{gtex_tpm(i, j):g}" for j in range(len(GCT_SAMPLES)))])
    return tsv(rows)


def attributes_text(columns=GTEX_ATTRIBUTES) -> str:
    rows = [list(columns)]
    for sample, smts, smtsd, freeze in ATTRIBUTES:
        cells = {"SAMPID": sample, "SMTS": smts, "SMTSD": smtsd, "SMAFRZE": freeze}
        rows.append([cells.get(c, "") for c in columns])
    return tsv(rows)


def metadata_text(project: str, barcodes=None, prefix: str = "") -> str:
    """recount3's tcga.tcga.<PROJECT>.MD; `prefix` "tcga." names the columns as recount3's R
    reader does (a table saved from R)."""
    named = ["tcga_barcode", "gdc_file_id", "gdc_cases.project.name",
             "gdc_cases.project.project_id", "cgc_sample_sample_type"]  # fmt: skip
    rows = [["rail_id", "external_id", "study", *(prefix + n for n in named)]]
    for rail, barcode in barcodes or METADATA[project]:
        file_id = external_id(rail)
        rows.append([rail, file_id, project, barcode, file_id, project, f"TCGA-{project}", "x"])
    return tsv(rows)


def sums_text(project: str) -> str:
    rails = [rail for rail, _ in METADATA[project]]
    rows = [["##annotation=G026"], ["##date.generated=2020-06-05 14:31:59.261473"]]
    rows.append(["gene_id", *(external_id(r) for r in rails)])
    for i, gene in enumerate(MATRIX_GENES):
        rows.append([gene, *(SUMS[r][i] for r in rails)])
    return tsv(rows)


def gz(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def toil_mirror() -> dict[str, tuple[str, bytes]]:
    """{input name: (file name upstream, bytes)}, gzipped where the real files are."""
    return {
        "expression": ("TcgaTargetGtex_rsem_gene_tpm.gz", gz(toil_matrix_text())),
        "phenotype": ("TcgaTargetGTEX_phenotype.txt.gz", gzip.compress(phenotype_bytes(), mtime=0)),
        "gtf": ("gencode.v23.annotation.gtf.gz", gz(gtf_text())),
    }


def portal_mirror() -> dict[str, tuple[str, bytes]]:
    files = {
        "gtex_tpm": ("GTEx_Analysis_2017-06-05_v8_RNASeQCv1.1.9_gene_tpm.gct.gz", gz(gct_text())),
        "gtex_attributes": (
            "GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt",
            attributes_text().encode(),
        ),
        "gtf": ("gencode.v26.annotation.gtf.gz", gz(gtf_text())),
    }
    for project in METADATA:
        files[f"sums_{project}"] = (f"tcga.gene_sums.{project}.G026.gz", gz(sums_text(project)))
        files[f"metadata_{project}"] = (f"tcga.tcga.{project}.MD.gz", gz(metadata_text(project)))
    return files


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A folder served over HTTP on 127.0.0.1; yields (folder, url of a file name)."""
    monkeypatch.setenv("no_proxy", "*")  # never route 127.0.0.1 through a proxy
    folder = tmp_path / "mirror"
    folder.mkdir()
    with serve(folder) as url:
        yield folder, url


def download(mirror, files: dict[str, tuple[str, bytes]], dest: Path) -> dict[str, Path]:
    """Publish `files` on the mirror and fetch each, checksum pinned, to dest/<input name>
    (no extension, as the workflow stores downloads)."""
    folder, url = mirror
    paths = {}
    for key, (name, body) in files.items():
        (folder / name).write_bytes(body)
        paths[key] = dest / key
        fetch(url(name), paths[key], hashlib.sha256(body).hexdigest(), backoff_s=0)
    return paths


def outputs(folder: Path) -> dict[str, Path]:
    return {
        "out_expression": folder / "expression.parquet",
        "out_samples": folder / "samples.tsv",
        "out_genes": folder / "genes.parquet",
    }


@pytest.fixture
def toil(mirror, tmp_path) -> dict[str, Path]:
    return download(mirror, toil_mirror(), tmp_path / "downloads")


@pytest.fixture
def portal(mirror, tmp_path) -> dict[str, Path]:
    return download(mirror, portal_mirror(), tmp_path / "downloads")


def build_toil(files: dict[str, Path], folder: Path, **kwargs) -> dict[str, Path]:
    out = outputs(folder)
    sources.build_toil(**files, **out, min_class_size=2, **kwargs)
    return out


def build_portal(files: dict[str, Path], folder: Path, **kwargs) -> dict[str, Path]:
    out = outputs(folder)
    sources.build_portal(
        gtex_tpm=files["gtex_tpm"],
        gtex_attributes=files["gtex_attributes"],
        tcga_sums={p: files[f"sums_{p}"] for p in METADATA},
        tcga_metadata={p: files[f"metadata_{p}"] for p in METADATA},
        gtf=files["gtf"],
        **out,
        min_class_size=2,
        **kwargs,
    )
    return out


def prepare(out: dict[str, Path], folder: Path, **kwargs) -> pd.DataFrame:
    """txai.data.run on a built cohort; returns data/expression.parquet indexed by sample."""
    data.run(
        expression=out["out_expression"],
        samples=out["out_samples"],
        genes=out["out_genes"],
        schema=SCHEMA,
        out_expression=folder / "expression.parquet",
        out_samples=folder / "samples.parquet",
        out_genes=folder / "genes.parquet",
        out_genesets=folder / "genesets.gmt",
        out_matrix=folder / "expression.npy",
        out_matrix_ids=folder / "expression.ids.json",
        out_medians=folder / "class_medians.parquet",
        focus_tissues=["liver"],
        seed=3,
        genes_in="columns",
        min_class_size=2,
        **kwargs,
    )
    return io.read_table(folder / "expression.parquet").set_index("sample")


def classes(sheet: pd.DataFrame) -> dict[str, tuple]:
    return {row.sample: (row[1], row.tissue, row.status) for row in sheet.itertuples(index=False)}


# --- downloads -------------------------------------------------------------------------------


def test_downloads_keep_the_bytes_and_a_wrong_checksum_fails(mirror, tmp_path):
    files = toil_mirror()
    paths = download(mirror, files, tmp_path / "downloads")
    assert paths["phenotype"].read_bytes() == files["phenotype"][1]
    name, body = files["gtf"]
    wrong = hashlib.sha256(body + b"x").hexdigest()
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(mirror[1](name), tmp_path / "gtf", wrong, retries=0, backoff_s=0)
    assert not (tmp_path / "gtf").exists()


# --- formats ---------------------------------------------------------------------------------


def test_gtf_genes_have_union_exon_lengths_and_stripped_ids(toil):
    genes = sources.read_gtf_genes(toil["gtf"])
    assert genes.columns.tolist() == ["gene", "symbol", "chrom", "start", "length", "biotype"]
    assert genes["gene"].tolist() == [
        "ENSG00000000001", "ENSG00000000002", "ENSG00000000003", "ENSG00000000004",
        "ENSG00000000004.2_PAR_Y",
    ]  # fmt: skip
    assert genes["length"].tolist() == LENGTHS
    assert genes["start"].tolist() == [100, 1000, 500, 10, 10]
    assert genes["symbol"].tolist() == ["GENEA", "GENEB", "LNC1", "GENED", "GENED"]
    assert genes["biotype"].tolist() == [g[3] for g in GENES]
    assert genes["chrom"].tolist() == ["chr1", "chr1", "chr2", "chrX", "chrY"]


def test_exon_union_counts_contained_adjacent_and_unsorted_exons_once(tmp_path):
    exons = [(200, 209), (20, 30), (101, 150), (1, 100)]  # [1, 150] and [200, 209]
    path = tmp_path / "genes.gtf"
    path.write_text(gtf_text([("ENSG00000000010.1", "E", "chr3", "lncRNA", exons)]))
    assert sources.read_gtf_genes(path)["length"].tolist() == [160]


def test_gtf_without_gene_name_names_its_line_across_chunks(tmp_path):
    text = gtf_text().splitlines()
    text[12] = text[12].replace('gene_name "GENEB"; ', "")  # the second gene's line
    assert "\tgene\t" in text[12]
    path = tmp_path / "bad.gtf"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(InputError, match=r"bad\.gtf: line 13: no gene_name attribute"):
        sources.read_gtf_genes(path, chunksize=2)


def test_tcga_barcode_fields():
    assert sources.parse_tcga_barcode("TCGA-BC-A10Q-01A-11R-A131-07") == {
        "sample": "TCGA-BC-A10Q-01",
        "participant": "TCGA-BC-A10Q",
        "sample_type": "01",
        "vial": "A",
        "portion": "11",
        "analyte": "R",
        "plate": "A131",
        "centre": "07",
    }
    short = sources.parse_tcga_barcode("TCGA-02-0047-01")
    assert (short["sample"], short["sample_type"], short["vial"], short["plate"]) == (
        "TCGA-02-0047-01", "01", None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    "barcode", ["TCGA-BC-A10Q", "TARGET-20-PABGKN-09", "TCGA-BC-A10Q-1A", "tcga-bc-a10q-01a"]
)
def test_unparseable_barcode_is_refused(barcode):
    with pytest.raises(InputError, match="not a TCGA sample or aliquot barcode"):
        sources.parse_tcga_barcode(barcode)


def test_one_primary_aliquot_per_sample():
    lihc = pd.Series(dict(METADATA["LIHC"]))
    kept = sources.select_tcga_aliquots(lihc, "LIHC")
    assert kept.to_dict() == {"102": "TCGA-BC-A10Q-01", "104": "TCGA-DD-A1EB-01"}
    laml = pd.Series(dict(METADATA["LAML"]))
    kept = sources.select_tcga_aliquots(laml, "LAML")  # type 03 is LAML's primary tumour
    assert kept.to_dict() == {"201": "TCGA-AB-2803-03", "202": "TCGA-AB-2804-03"}


def test_tpm_from_coverage_by_hand(caplog):
    sums = pd.DataFrame(
        {"s1": [500.0, 300.0, 200.0, 9.0], "s2": [0.0, 0.0, 100.0, 0.0]},
        index=["g1", "g2", "g3", "unknown"],
    )
    lengths = pd.Series({"g1": 1000, "g2": 100, "g3": 200})
    with caplog.at_level(logging.WARNING, logger="txai.sources"):
        tpm = sources.tpm_from_coverage(sums, lengths)
    # rates s1: 0.5, 3, 1 (sum 4.5); s2: 0, 0, 0.5
    expected = [[0.5 / 4.5 * 1e6, 0.0], [3 / 4.5 * 1e6, 0.0], [1 / 4.5 * 1e6, 1e6]]
    np.testing.assert_allclose(tpm.to_numpy(), expected)
    assert tpm.index.tolist() == ["g1", "g2", "g3"]
    assert "unknown" in caplog.text


def test_gct_reading_in_chunks_equals_one_chunk(portal):
    whole = sources.read_gct(portal["gtex_tpm"])
    assert whole.equals(sources.read_gct(portal["gtex_tpm"], chunksize=1))
    assert whole.index.tolist() == [io.strip_version([g])[0] for g in MATRIX_GENES]
    assert whole.columns.tolist() == GCT_SAMPLES
    assert whole.dtypes.eq(np.float32).all()
    assert whole.iloc[3, 2] == gtex_tpm(3, 2)
    picked = sources.read_gct(portal["gtex_tpm"], CODING, GCT_SAMPLES[4:] + ["absent"], 1)
    assert picked.equals(whole.loc[CODING, GCT_SAMPLES[4:]])


def test_recount3_sums_skip_comment_lines(portal):
    ids = [external_id("102"), external_id("104")]
    sums = sources.read_recount3_sums(portal["sums_LIHC"], keep_samples=ids)
    assert sums.columns.tolist() == ids
    assert sums.loc["ENSG00000000004", ids[0]] == 25000
    assert sums.equals(
        sources.read_recount3_sums(portal["sums_LIHC"], keep_samples=ids, chunksize=1)
    )


@pytest.mark.parametrize(
    "counts, message",
    [
        ("9\t6", "line 2 declares 9 genes but the file has 6 gene rows"),
        ("6\t7", r"line 2 declares 7 samples but the header \(line 3\) has 6"),
        ("6 6", "line 2 is '6 6'"),
    ],
)
def test_gct_whose_counts_disagree_is_refused(tmp_path, counts, message):
    path = tmp_path / "tpm.gct"
    path.write_bytes(gz(gct_text(counts)))
    with pytest.raises(InputError, match=message) as err:
        sources.read_gct(path)
    assert str(path) in str(err.value)
    assert "download it again" in str(err.value)


def test_missing_value_names_its_line_and_sample(tmp_path):
    lines = gct_text().splitlines()
    cells = lines[6].split("\t")  # line 7: the fourth gene
    cells[4] = "NA"
    lines[6] = "\t".join(cells)
    path = tmp_path / "tpm.gct"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=f"line 7 .*, column '{GCT_SAMPLES[2]}': missing value"):
        sources.read_gct(path, chunksize=2)


def test_attributes_without_smtsd_are_refused(tmp_path):
    path = tmp_path / "attributes.txt"
    path.write_text(attributes_text(("SAMPID", "SMTS", "SMAFRZE")))
    with pytest.raises(InputError, match=r"column\(s\) \['SMTSD'\] missing") as err:
        sources.read_gtex_attributes(path)
    assert str(path) in str(err.value)


def test_metadata_with_a_bad_barcode_names_its_line(tmp_path):
    barcodes = [*METADATA["LIHC"][:2], ("107", "TCGA-BC-A10Q")]
    path = tmp_path / "md"
    path.write_bytes(gz(metadata_text("LIHC", barcodes)))
    with pytest.raises(InputError, match="line 4, column 'tcga_barcode': 'TCGA-BC-A10Q'"):
        sources.read_recount3_metadata(path)


def test_latin1_phenotype_parses(toil):
    served = gzip.decompress(toil["phenotype"].read_bytes())
    with pytest.raises(UnicodeDecodeError):  # as UTF-8 it would not
        served.decode("utf-8")
    pheno = sources.read_xena_phenotype(toil["phenotype"]).set_index("sample")
    assert pheno.loc["TARGET-30-PAIFXV-01", "_primary_site"] == "Sympathetic\xcaNervous System"
    assert pheno.loc["GTEX-111FC-0226-SM-5N9B8", "detailed_category"] == "Brain - Cortex"


def test_metadata_as_recount3_serves_it_or_as_its_r_reader_names_it(tmp_path):
    raw, prefixed = tmp_path / "raw", tmp_path / "prefixed"
    raw.write_bytes(gz(metadata_text("LIHC")))
    prefixed.write_text(metadata_text("LIHC", prefix="tcga.").replace("rail_id", "RAIL_ID"))
    frame = sources.read_recount3_metadata(raw)
    assert frame.columns.tolist()[:4] == ["rail_id", "external_id", "study", "tcga_barcode"]
    assert frame["external_id"].tolist() == [external_id(r) for r, _ in METADATA["LIHC"]]
    assert frame.equals(sources.read_recount3_metadata(prefixed))


def test_metadata_of_another_project_is_refused(portal, tmp_path):
    files = {**portal, "metadata_LIHC": portal["metadata_LAML"]}
    with pytest.raises(InputError, match="'TCGA-LAML', but this file is configured as TCGA-LIHC"):
        build_portal(files, tmp_path / "out")


def test_files_are_opened_by_content_not_name(tmp_path):
    plain, packed = tmp_path / "annotation.gtf.gz", tmp_path / "annotation"
    plain.write_text(gtf_text())  # named .gz, not gzipped
    packed.write_bytes(gz(gtf_text()))  # gzipped, no extension
    assert sources.read_gtf_genes(plain).equals(sources.read_gtf_genes(packed))


# --- toil ------------------------------------------------------------------------------------


def test_toil_cohort(toil, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="txai.sources"):
        out = build_toil(toil, tmp_path / "out")
    sheet = data.read_sample_sheet(out["out_samples"], SCHEMA)
    assert classes(sheet) == TOIL_CLASSES  # TARGET, normals, 03 outside LAML and Bladder out
    assert sheet["sample"].tolist() == [s for s in TOIL_SAMPLES[::-1] if s in TOIL_CLASSES]
    assert sheet.columns.tolist()[:6] == ["sample", "class", "tissue", "status", "study", "project"]
    lihc = sheet.set_index("sample").loc["TCGA-BC-A10Q-01"]
    assert (lihc["study"], lihc["project"], lihc["detailed_category"]) == ("TCGA", "LIHC", LIHC)
    assert lihc["sample_type"] == "Primary Tumor"
    assert sheet.set_index("sample").loc["TCGA-ZZ-0001-01", "project"] is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'GTEx_Bladder': 1" in w for w in warnings)
    assert any("'Mystery Carcinoma': 2" in w for w in warnings)

    samples, genes, values = data.read_matrix(out["out_expression"], genes_in="columns")
    assert genes == CODING
    frame = io.read_table(out["out_expression"])
    assert frame.columns[0] == "sample"
    assert frame[CODING].dtypes.eq(np.float32).all()
    printed = [[np.float32(f"{np.log2(toil_tpm(i, TOIL_SAMPLES.index(s)) + 0.001):.4f}")
                for i in CODING_ROWS] for s in samples]  # fmt: skip
    np.testing.assert_array_equal(frame[CODING].to_numpy(), printed)  # kept on their scale
    assert frame.set_index("sample").loc["GTEX-1117F-0226-SM-5GZZ7", CODING[0]] == np.float32(
        -9.9658
    )

    annotation = data.read_annotation(out["out_genes"])
    assert annotation.columns.tolist() == ["gene", "symbol", "chrom", "start", "length", "biotype"]
    assert annotation["gene"].tolist() == CODING
    assert annotation["length"].tolist() == [252, 100, 50]
    assert (annotation["biotype"] == "protein_coding").all()


def test_toil_cohort_passes_the_data_stage(toil, tmp_path):
    out = build_toil(toil, tmp_path / "out")
    expression = prepare(out, tmp_path / "data", scale="log2", pseudocount=0.001)
    assert sorted(expression.index) == sorted(TOIL_CLASSES)
    assert expression.columns.tolist() == CODING
    for sample in ("GTEX-1117F-0226-SM-5GZZ7", "TCGA-DD-A1EB-01"):
        tpm = [toil_tpm(i, TOIL_SAMPLES.index(sample)) for i in CODING_ROWS]
        np.testing.assert_allclose(expression.loc[sample], np.log2(np.array(tpm) + 1), atol=1e-3)
    sheet = io.read_table(tmp_path / "data" / "samples.parquet").set_index("sample")
    liver = sheet[sheet["tissue"] == "liver"].groupby("status")["class"].unique()
    assert liver.to_dict() == {"cancer": ["TCGA_LIHC"], "normal": ["GTEx_Liver"]}


def test_toil_reading_in_chunks_equals_one_chunk(toil, tmp_path):
    one = build_toil(toil, tmp_path / "one")
    many = build_toil(toil, tmp_path / "many", chunksize=1)
    for key in ("out_expression", "out_genes"):
        assert io.read_table(one[key]).equals(io.read_table(many[key]))
    assert one["out_samples"].read_text() == many["out_samples"].read_text()


def test_toil_without_the_project_table_name_falls_back_for_every_tcga_class(toil, tmp_path):
    table = tmp_path / "projects.tsv"
    table.write_text("code\tname\ttissue\nOV\tOvarian Serous Cystadenocarcinoma\tovary\n")
    out = build_toil(toil, tmp_path / "out", projects=table)
    sheet = data.read_sample_sheet(out["out_samples"], SCHEMA).set_index("sample")
    assert sheet.loc["TCGA-BC-A10Q-01", "class"] == "TCGA_Liver_Hepatocellular_Carcinoma"
    assert sheet.loc["TCGA-BC-A10Q-01", "tissue"] == "liver"  # from _primary_site
    assert "TCGA-DD-A1EC-03" not in sheet.index  # not LAML: type 03 still dropped


# --- portal ----------------------------------------------------------------------------------


def test_portal_cohort(portal, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="txai.sources"):
        out = build_portal(portal, tmp_path / "out")
    sheet = data.read_sample_sheet(out["out_samples"], SCHEMA)
    assert classes(sheet) == PORTAL_CLASSES  # not released, WGS-only and Bladder left out
    assert "'GTEx_Bladder': 1" in caplog.text
    indexed = sheet.set_index("sample")
    assert indexed.loc["TCGA-BC-A10Q-01", "barcode"] == "TCGA-BC-A10Q-01A-11R-A131-07"
    assert indexed.loc["TCGA-BC-A10Q-01", "rail_id"] == "102"
    assert indexed.loc["TCGA-BC-A10Q-01", "external_id"] == external_id("102")
    assert indexed.loc["GTEX-111FC-0226-SM-5N9B8", "smtsd"] == "Brain - Cortex"
    assert indexed.loc["GTEX-111FC-0226-SM-5N9B8", "barcode"] is None

    frame = io.read_table(out["out_expression"]).set_index("sample")
    assert frame.columns.tolist() == CODING
    for sample, tpm in PORTAL_TCGA_TPM.items():
        np.testing.assert_allclose(frame.loc[sample], tpm, rtol=1e-6)
    gtex = [[gtex_tpm(i, GCT_SAMPLES.index(s)) for i in CODING_ROWS] for s in GCT_SAMPLES[:4]]
    np.testing.assert_array_equal(frame.loc[GCT_SAMPLES[:4]], gtex)  # GTEx TPM as given
    assert data.read_annotation(out["out_genes"])["gene"].tolist() == CODING


def test_portal_cohort_passes_the_data_stage(portal, tmp_path):
    out = build_portal(portal, tmp_path / "out")
    expression = prepare(out, tmp_path / "data", scale="tpm")
    np.testing.assert_allclose(
        expression.loc["TCGA-BC-A10Q-01"], np.log2(np.array([1e5, 3e5, 5e5]) + 1), rtol=1e-6
    )
    np.testing.assert_allclose(
        expression.loc["GTEX-1117F-0226-SM-5GZZ7"], np.log2(np.array([10, 20, 40]) + 1), rtol=1e-6
    )
    sheet = io.read_table(tmp_path / "data" / "samples.parquet")
    assert set(sheet.loc[sheet["tissue"] == "liver", "class"]) == {"GTEx_Liver", "TCGA_LIHC"}


def test_a_built_cohort_far_from_its_declared_size_stops_with_both_numbers(toil, tmp_path):
    out = build_toil(toil, tmp_path / "out")  # 10 samples, 3 genes, 5 classes
    declared = ({"samples": 17200, "genes": 19700, "classes": 81}, "cohort.toil.size")
    with pytest.raises(InputError) as err:
        prepare(out, tmp_path / "data", scale="log2", pseudocount=0.001, size=declared)
    message = str(err.value)  # before the matrix is read: samples and classes
    assert "the cohort has 10 samples, 5 classes, but cohort.toil.size declares 17,200 " in message
    assert "samples, 81 classes: samples and classes differ" in message
    assert "own counts in cohort.toil.size (samples: 10, classes: 5)" in message
    assert not (tmp_path / "data").exists()  # stopped before anything was written
    genes = ({"samples": 10, "genes": 19700, "classes": 5}, "cohort.toil.size")
    with pytest.raises(InputError, match=r"has 10 samples, 3 genes, 5 classes, .* genes differ"):
        prepare(out, tmp_path / "data", scale="log2", pseudocount=0.001, size=genes)
    assert not (tmp_path / "data").exists()  # after the read, still before any write
    near = ({"samples": 12, "genes": 3, "classes": 5}, "cohort.toil.size")  # 17 % off: passes
    prepare(out, tmp_path / "data", scale="log2", pseudocount=0.001, size=near)
    with pytest.raises(InputError, match="samples differ by more than data.size_tolerance"):
        prepare(out, tmp_path / "data", scale="log2", pseudocount=0.001, size=near,
                size_tolerance=0.1)  # fmt: skip


def test_toil_keeps_the_tcga_projects_it_is_given(toil, tmp_path):
    out = build_toil(toil, tmp_path / "out", tcga_projects=["LAML"])
    sheet = data.read_sample_sheet(out["out_samples"], SCHEMA)
    kept = {s: c for s, c in TOIL_CLASSES.items() if not c[0].startswith("TCGA_") or "LAML" in c[0]}
    assert classes(sheet) == kept


def test_portal_reading_in_chunks_equals_one_chunk(portal, tmp_path):
    one = build_portal(portal, tmp_path / "one")
    many = build_portal(portal, tmp_path / "many", chunksize=1)
    assert io.read_table(one["out_expression"]).equals(io.read_table(many["out_expression"]))
    assert one["out_samples"].read_text() == many["out_samples"].read_text()


# --- through the workflow: download rule, build_cohort, the data stage ----------------------


def publish(mirror, files: dict[str, tuple[str, bytes]], folders=None) -> dict[str, dict]:
    """Put `files` on the mirror (recount3's files under {suffix}/{project}/) and return each
    input's config resource: its URL and checksum."""
    folder, url = mirror
    specs = {}
    for key, (name, body) in files.items():
        where = (folders or {}).get(key, "")
        (folder / where).mkdir(parents=True, exist_ok=True)
        (folder / where / name).write_bytes(body)
        specs[key] = {"url": url(where + name), "sha256": hashlib.sha256(body).hexdigest()}
    return specs


@pytest.mark.parametrize("source", ["toil", "portal"])
def test_the_workflow_downloads_and_builds_a_real_format_cohort(mirror, workdir, source):
    import yaml
    from conftest import TINY, snakemake

    config = yaml.safe_load(TINY.read_text())
    if source == "toil":
        spec = publish(mirror, toil_mirror())
    else:
        files = portal_mirror()
        folders = {
            f"{kind}_{project}": f"{project[-2:]}/{project}/"
            for project in METADATA
            for kind in ("sums", "metadata")
        }
        published = publish(mirror, files, folders)
        base = mirror[1]("{suffix}/{project}/")
        spec = {key: published[key] for key in ("gtex_tpm", "gtex_attributes", "gtf")}
        spec["tcga_projects"] = list(METADATA)
        spec["tcga_sums"] = {"url": base + "tcga.gene_sums.{project}.G026.gz"}
        spec["tcga_metadata"] = {"url": base + "tcga.tcga.{project}.MD.gz"}  # no checksums
    built = (TOIL_CLASSES if source == "toil" else PORTAL_CLASSES).values()
    spec["size"] = {"samples": len(built), "genes": len(CODING), "classes": len(set(built))}
    config["cohort"] = {"source": source, "name": f"{source} test cohort", source: spec}
    config["data"]["min_class_size"] = 2
    config["focus_tissues"] = ["liver"]
    (workdir / "real.yaml").write_text(yaml.safe_dump(config))

    done = snakemake(
        "results/data/expression.parquet", "--cores", "1", "--configfile", "real.yaml",
        cwd=workdir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    sheet = io.read_table(workdir / "results/data/samples.parquet")
    expected = TOIL_CLASSES if source == "toil" else PORTAL_CLASSES
    assert classes(sheet) == {s: c for s, c in expected.items() if s in set(sheet["sample"])}
    assert set(sheet["class"]) >= {"GTEx_Liver", "TCGA_LIHC"}
    expression = io.read_table(workdir / "results/data/expression.parquet")
    assert list(expression.columns[1:]) == CODING
    downloads = sorted(p.name for p in (workdir / "results/downloads").iterdir())
    if source == "portal":  # unpinned files: the checksum is recorded beside them
        assert f"portal_tcga_sums_{next(iter(METADATA))}.sha256" in downloads


# --- a user's GTF: read_gtf_genes(user=True), for cohort.files.gtf ---------------------------

SHARED = 'gene_id "ENSG00000000011.1"; gene_type "protein_coding"; gene_name "SHARED"; level 2;'
OVERLAP = 'gene_id "ENSG00000000012.4"; gene_type "lncRNA"; gene_name "OVERLAP"; level 2;'
ABUT = 'gene_id "ENSG00000000013"; gene_version "2"; gene_name "ABUT"; gene_biotype "miRNA";'


def tx(gene: str, transcript: str) -> str:
    return f'{gene} transcript_id "{transcript}";'


def refseq(transcript: str, name: str | None = "MYGENE") -> str:
    symbol = f' gene_name "{name}";' if name else ""
    return f'gene_id "{name or "PARGENE"}"; transcript_id "{transcript}";{symbol}'


# (chrom, feature, start, end, strand, column 9): three genes with gene lines (GENCODE's and
# Ensembl's attributes), two without (UCSC/RefSeq: transcript and exon lines only)
USER_GTF = [
    ("chr1", "gene", 100, 450, "+", SHARED),  # exons [100, 200] (in both transcripts),
    ("chr1", "transcript", 100, 400, "+", tx(SHARED, "ENST00000000111.1")),  # [300, 400] and
    ("chr1", "exon", 100, 200, "+", tx(SHARED, "ENST00000000111.1")),  # [380, 450]:
    ("chr1", "exon", 300, 400, "+", tx(SHARED, "ENST00000000111.1")),  # 101 + 151 = 252 bp
    ("chr1", "CDS", 120, 200, "+", tx(SHARED, "ENST00000000111.1")),
    ("chr1", "transcript", 100, 450, "+", tx(SHARED, "ENST00000000112.1")),
    ("chr1", "exon", 100, 200, "+", tx(SHARED, "ENST00000000112.1")),
    ("chr1", "exon", 380, 450, "+", tx(SHARED, "ENST00000000112.1")),
    ("chr2", "gene", 1000, 1500, "-", OVERLAP),  # [1050, 1200] overlaps [1000, 1100]: 201 bp;
    ("chr2", "exon", 1050, 1200, "-", tx(OVERLAP, "ENST00000000121.1")),  # [1350, 1400]
    ("chr2", "exon", 1000, 1100, "-", tx(OVERLAP, "ENST00000000122.1")),  # nests in
    ("chr2", "exon", 1300, 1500, "-", tx(OVERLAP, "ENST00000000122.1")),  # [1300, 1500]: 201 bp
    ("chr2", "exon", 1350, 1400, "-", tx(OVERLAP, "ENST00000000123.1")),  # 402 bp in all
    ("chr3", "gene", 5000, 5300, "+", ABUT),  # [5000, 5099] and [5100, 5199] abut: 200 bp;
    ("chr3", "exon", 5000, 5099, "+", tx(ABUT, "ENST00000000131")),  # one base at 5300:
    ("chr3", "exon", 5100, 5199, "+", tx(ABUT, "ENST00000000132")),  # 201 bp
    ("chr3", "exon", 5300, 5300, "+", tx(ABUT, "ENST00000000132")),
    ("chr4", "transcript", 8000, 8300, "+", refseq("NM_000001.1")),  # no gene line, no
    ("chr4", "exon", 8050, 8150, "+", refseq("NM_000002.1")),  # gene_type: [8000, 8150] and
    ("chr4", "exon", 8000, 8100, "+", refseq("NM_000001.1")),  # [8200, 8299]: 151 + 100 = 251
    ("chr4", "exon", 8200, 8299, "+", refseq("NM_000001.1")),  # bp, start 8000
    ("chrX", "exon", 100, 199, "+", refseq("NR_000003.1", None)),  # one gene_id on chrX and
    ("chrY", "exon", 150, 249, "+", refseq("NR_000003.1", None)),  # chrY: 100 + 100 = 200 bp
]
USER_GENES = ["ENSG00000000011", "ENSG00000000012", "ENSG00000000013", "MYGENE", "PARGENE"]
USER_LENGTHS = [252, 402, 201, 251, 200]


def user_gtf_text(rows=USER_GTF) -> str:
    return "#!genome-build test\n" + tsv(
        [[c, "test", f, s, e, ".", st, ".", a] for c, f, s, e, st, a in rows]
    )


def write_user_gtf(tmp_path, rows=USER_GTF, name="user.gtf") -> Path:
    path = tmp_path / name
    path.write_text(user_gtf_text(rows))
    return path


def test_user_gtf_lengths_are_exon_unions_with_or_without_gene_lines(tmp_path):
    path = write_user_gtf(tmp_path)
    genes = sources.read_gtf_genes(path, user=True)
    assert genes.columns.tolist() == ["gene", "symbol", "chrom", "start", "length", "biotype"]
    assert genes["gene"].tolist() == USER_GENES
    assert genes["length"].tolist() == USER_LENGTHS
    assert genes["start"].tolist() == [100, 1000, 5000, 8000, 100]
    assert genes["chrom"].tolist() == ["chr1", "chr2", "chr3", "chr4", "chrX"]
    assert genes["symbol"].tolist()[:4] == ["SHARED", "OVERLAP", "ABUT", "MYGENE"]
    assert genes["biotype"].tolist()[:3] == ["protein_coding", "lncRNA", "miRNA"]
    assert genes["symbol"].isna().tolist() == [False] * 4 + [True]
    assert genes["biotype"].isna().tolist() == [False] * 3 + [True] * 2
    gencode = sources.read_gtf_genes(write_user_gtf(tmp_path, name="gencode.gtf"))
    assert genes.dtypes.equals(gencode.dtypes)  # the sources' reader: gene lines only
    assert genes.head(3).equals(gencode)
    for chunksize in (1, 2, 3, 5):  # a gene's lines across chunks
        assert sources.read_gtf_genes(path, chunksize, user=True).equals(genes)


def test_user_gtf_gzip_reads_the_same_whatever_its_name(tmp_path):
    plain = write_user_gtf(tmp_path)
    expected = sources.read_gtf_genes(plain, user=True)
    for name in ("packed.gtf", "packed.gtf.gz"):  # gzip found by its magic bytes
        (tmp_path / name).write_bytes(gz(user_gtf_text()))
        assert sources.read_gtf_genes(tmp_path / name, user=True).equals(expected)


def test_user_gtf_lengths_give_rnanorms_tpm(tmp_path):
    genes = sources.read_gtf_genes(write_user_gtf(tmp_path), user=True)
    counts = np.array([[10, 20, 30], [0, 5, 7], [123, 0, 1]], dtype=np.float64)
    tpm = stats.tpm_from_counts(counts, genes["length"].to_numpy()[:3])
    # values computed with rnanorm 2.2.0's TPM on this GTF (rnanorm.TPM(gtf=...) over the three
    # genes with gene lines: it leaves out genes without one, though its exon union covers them)
    expected = [
        [166253.10173697272, 208436.7245657569, 625310.1736972705],
        [0.0, 263157.8947368421, 736842.1052631579],
        [989909.9099099099, 0.0, 10090.090090090089],
    ]
    np.testing.assert_allclose(tpm, expected, rtol=1e-9, atol=0)


def test_user_gtf_repeated_gene_lines_are_one_gene(tmp_path):
    gene = 'gene_id "PAR1"; gene_name "PAR1";'
    rows = [
        ("chrX", "gene", 100, 199, "+", gene),
        ("chrX", "exon", 100, 199, "+", gene),
        ("chrY", "gene", 50, 99, "+", gene),
        ("chrY", "exon", 50, 99, "+", gene),
    ]
    genes = sources.read_gtf_genes(write_user_gtf(tmp_path, rows), user=True)
    assert genes[["gene", "chrom", "start", "length"]].values.tolist() == [
        ["PAR1", "chrX", 100, 150]
    ]


def user_gtf_refusal(tmp_path, rows, text=None):
    path = write_user_gtf(tmp_path, rows)
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputError) as refused:
        sources.read_gtf_genes(path, chunksize=2, user=True)
    message = str(refused.value)
    assert message.startswith(f"{path}: ")
    assert "cohort.files.gtf" in message
    assert "download it again" not in message and "GENCODE" not in message
    return message


def test_user_gtf_exon_line_without_gene_id_names_its_line(tmp_path):
    rows = list(USER_GTF)
    rows[14] = (*rows[14][:5], 'transcript_id "ENST00000000131";')  # file line 16, 8th chunk
    message = user_gtf_refusal(tmp_path, rows)
    assert "line 16: no gene_id attribute in column 9" in message


def test_user_gtf_gene_without_exons_is_refused(tmp_path):
    message = user_gtf_refusal(tmp_path, [r for r in USER_GTF if r[4] != "-" or r[1] == "gene"])
    assert "gene 'ENSG00000000012.4' has no exon lines (1 such genes)" in message


def test_user_gtf_two_versions_of_a_gene_are_refused(tmp_path):
    rows = [*USER_GTF, ("chr1", "exon", 10, 20, "+", SHARED.replace(".1", ".2"))]
    message = user_gtf_refusal(tmp_path, rows)
    assert "'ENSG00000000011' appears twice, as 'ENSG00000000011.1' and 'ENSG00000000011.2'" in (
        message
    )


def test_user_gtf_without_genes_or_columns_is_refused(tmp_path):
    assert "no gene or exon lines" in user_gtf_refusal(tmp_path, [], "#!genome-build test\n")
    message = user_gtf_refusal(tmp_path, [], 'chr1\ttest\texon\tone\t200\t.\t+\t.\tgene_id "G";\n')
    assert "cannot be read (" in message
    cds_only = 'chr1\ttest\tCDS\t100\t200\t.\t+\t.\tgene_id "G";\n'
    assert "no gene or exon lines" in user_gtf_refusal(tmp_path, [], cds_only)
