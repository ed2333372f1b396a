"""Tests for txai.data: TPM arithmetic, the split, a good cohort end to end, and every bad input."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from txai import annotate, data, io, stats
from txai.io import InputError

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "samples.schema.yaml"

# --- the small valid cohort every test starts from -------------------------------------------

GENES = [  # versioned Ensembl ids, as GENCODE-based matrices have them
    "ENSG00000000001.5",
    "ENSG00000000002.1",
    "ENSG00000000003.12",
    "ENSG00000000004.3",
    "ENSG00000000005.7",
    "ENSG00000000006.2",
]
STRIPPED = [g.split(".")[0] for g in GENES]
CLASSES = {  # class: (size, tissue, status); per-class test counts 1, 1, 2
    "normal_liver": (10, "liver", "normal"),
    "liver_cancer": (12, "liver", "cancer"),
    "normal_lung": (16, "lung", "normal"),
}
SAMPLES = [f"{cls}_{i:02d}" for cls, (n, _, _) in CLASSES.items() for i in range(n)]
# Whole numbers below 5000: valid read counts and valid TPM (max > 19.93, every sum < 1e6).
VALUES = np.random.default_rng(0).integers(0, 5000, size=(len(GENES), len(SAMPLES))).astype(float)
G, S = 2, 3  # the cell that the bad-value cases spoil
GENE, SAMPLE = STRIPPED[G], SAMPLES[S]
OUTPUTS = {"expression": "expression.parquet", "samples": "samples.parquet",
           "medians": "class_medians.parquet", "genes": "genes.parquet", "genesets": "genesets.gmt",
           "matrix": "expression.npy", "matrix_ids": "expression.ids.json"}  # fmt: skip


@dataclass
class Cohort:
    """A cohort in memory; `write` puts it on disk and returns the keyword arguments of run."""

    matrix: pd.DataFrame  # genes x samples, on the declared scale
    sheet: pd.DataFrame
    annotation: pd.DataFrame | None = None
    genesets: str | None = None  # GMT text
    gtf: str | None = None  # GTF text
    names: dict = field(
        default_factory=lambda: {"expression": "expression.tsv", "samples": "samples.tsv"}
    )
    kwargs: dict = field(default_factory=dict)
    missing: tuple = ()  # files given to run but not written
    write_matrix: Callable | None = None  # (frame, path): how the matrix is saved, if not so
    write_sheet: Callable | None = None

    def write(self, tmp_path: Path) -> dict:
        folder = tmp_path / "in"
        folder.mkdir(parents=True, exist_ok=True)
        paths = {key: folder / name for key, name in self.names.items()}
        table = self.matrix.rename_axis("gene")
        if self.kwargs.get("genes_in", "rows") == "columns":
            table = table.T.rename_axis("sample")
        frames = {"expression": table, "samples": self.sheet, "genes": self.annotation}
        for key, path in paths.items():
            if key in self.missing:
                continue
            if key in ("genesets", "gtf"):
                path.write_text(self.genesets if key == "genesets" else self.gtf)
            elif key == "expression" and self.write_matrix:
                self.write_matrix(table, path)
            elif key == "samples" and self.write_sheet:
                self.write_sheet(self.sheet, path)
            else:
                write_user_table(frames[key], path, index=key == "expression")
        out = tmp_path / "out"
        return {
            "expression": paths["expression"],
            "samples": paths["samples"],
            "genes": paths.get("genes"),
            "gtf": paths.get("gtf"),
            "genesets": paths.get("genesets"),
            "scale": "tpm",
            "schema": SCHEMA,
            "focus_tissues": ["liver"],
            "seed": 7,
            "min_class_size": 5,
            **{f"out_{key}": out / name for key, name in OUTPUTS.items()},
            **self.kwargs,
        }


def write_user_table(frame: pd.DataFrame, path: Path, index: bool) -> None:
    if path.suffix == ".parquet":
        (frame.reset_index() if index else frame).to_parquet(path, index=False)
    else:
        frame.to_csv(path, sep="," if path.suffix == ".csv" else "\t", index=index)


def make_cohort() -> Cohort:
    sheet = pd.DataFrame(
        [
            {"sample": s, "class": cls, "tissue": tissue, "status": status, "batch": f"b{i % 2}"}
            for cls, (n, tissue, status) in CLASSES.items()
            for i, s in enumerate(x for x in SAMPLES if x.startswith(cls + "_"))
        ]
    )
    sheet = sheet.sample(frac=1, random_state=1).reset_index(drop=True)  # not the matrix order
    return Cohort(pd.DataFrame(VALUES.copy(), index=GENES, columns=SAMPLES), sheet)


def with_annotation(c: Cohort, biotype: bool = True, length: bool = True) -> None:
    annotation = pd.DataFrame(
        {
            "gene": [g.split(".")[0] + ".99" for g in GENES],  # another version: still matches
            "symbol": [f"SYM{i}" for i in range(len(GENES))],
            "chrom": ["chr1", "chr1", "chr2", "chr3", "chrX", "chrY"],
            "start": [100, 5000, 200, 300, 400, 500],
            "length": [1000, 2000, 500, 1500, 800, 3000],
            "biotype": ["protein_coding", "protein_coding", "lncRNA"] + ["protein_coding"] * 3,
        }
    )
    if not biotype:
        annotation = annotation.drop(columns="biotype")
    if not length:
        annotation = annotation.drop(columns="length")
    c.annotation = annotation
    c.names["genes"] = "genes.tsv"


def outputs_left(tmp_path: Path) -> list[str]:
    out = tmp_path / "out"
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


# --- tpm_from_counts, to_log2_tpm, strip_version, split ---------------------------------------


COUNTS = np.array([[10.0, 20.0, 30.0], [0.0, 5.0, 5.0]])
LENGTHS = np.array([1000.0, 2000.0, 500.0])
# Reads per kilobase: sample 1: 10/1 = 10, 20/2 = 10, 30/0.5 = 60 (sum 80)
#                     sample 2:  0/1 =  0,  5/2 = 2.5, 5/0.5 = 10 (sum 12.5)
# TPM = rate / sum * 1e6: 10/80 -> 125000, 60/80 -> 750000; 2.5/12.5 -> 200000, 10/12.5 -> 800000
HAND_TPM = np.array([[125_000.0, 125_000.0, 750_000.0], [0.0, 200_000.0, 800_000.0]])


def test_tpm_from_counts_hand_computed():
    tpm = stats.tpm_from_counts(COUNTS, LENGTHS)
    np.testing.assert_allclose(tpm, HAND_TPM, rtol=1e-12)
    np.testing.assert_allclose(tpm.sum(axis=1), [1e6, 1e6], rtol=1e-12)


def test_tpm_from_counts_sums_to_a_million_and_keeps_empty_samples_at_zero():
    counts = np.random.default_rng(1).integers(0, 1000, size=(5, 50)).astype(float)
    lengths = np.random.default_rng(2).integers(200, 20_000, size=50).astype(float)
    np.testing.assert_allclose(stats.tpm_from_counts(counts, lengths).sum(axis=1), 1e6, rtol=1e-9)
    empty = stats.tpm_from_counts(np.zeros((1, 3)), LENGTHS)
    np.testing.assert_array_equal(empty, np.zeros((1, 3)))


def convert(values, scale, **kwargs):
    samples = [f"s{i}" for i in range(values.shape[0])]
    genes = [f"g{j}" for j in range(values.shape[1])]
    return data.to_log2_tpm(values, scale, "m.tsv", samples, genes, **kwargs)


def test_to_log2_tpm_from_tpm_is_log2_tpm_plus_one():
    np.testing.assert_array_equal(convert(HAND_TPM, "tpm"), np.log2(HAND_TPM + 1))
    assert convert(HAND_TPM, "tpm")[0, 2] == pytest.approx(19.51653, abs=1e-5)  # log2(750001)


def test_to_log2_tpm_from_log2_pseudocount_one_is_unchanged():
    log2 = np.log2(HAND_TPM + 1)
    np.testing.assert_array_equal(convert(log2, "log2", pseudocount=1.0), log2)


def test_to_log2_tpm_from_xena_log2_pseudocount_0001():
    xena = np.log2(HAND_TPM + 0.001)  # UCSC Xena: zeros become log2(0.001) = -9.966
    assert xena.min() < -9.9
    got = convert(xena, "log2", pseudocount=0.001)
    np.testing.assert_allclose(got, np.log2(HAND_TPM + 1), rtol=0, atol=1e-9)
    assert got[1, 0] == 0.0  # a zero stays exactly zero
    # Xena prints 4 decimals, so a zero reads -9.9658 < log2(0.001) = -9.96578: still accepted.
    rounded = convert(np.round(xena, 4), "log2", pseudocount=0.001)
    np.testing.assert_allclose(rounded, np.log2(HAND_TPM + 1), rtol=0, atol=1e-4)
    rounded = convert(np.round(xena, 2), "log2", pseudocount=0.001)  # -9.97: still a zero
    np.testing.assert_allclose(rounded, np.log2(HAND_TPM + 1), rtol=0, atol=1e-2)
    assert (rounded >= 0).all()
    with pytest.raises(InputError, match=r"gene 'g0' in sample 's1' is -9\.99, below"):
        convert(np.round(xena, 2) - 0.02, "log2", pseudocount=0.001)  # beyond rounding


def test_to_log2_tpm_from_counts_uses_gene_lengths():
    got = convert(COUNTS, "counts", lengths_bp=LENGTHS)
    np.testing.assert_allclose(got, np.log2(HAND_TPM + 1), rtol=1e-12)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ENSG00000141510.16", "ENSG00000141510"),
        ("ENSG00000141510", "ENSG00000141510"),
        ("ENSMUSG00000059552.14", "ENSMUSG00000059552"),
        ("TP53", "TP53"),
        ("ENSG00000002586.20_PAR_Y", "ENSG00000002586.20_PAR_Y"),  # PAR_Y copy stays distinct
    ],
)
def test_strip_version(given, expected):
    assert io.strip_version([given]) == [expected]


SPLIT_SIZES = {"a": 2, "b": 9, "c": 10, "d": 14, "e": 16, "f": 26, "g": 100}
SPLIT_TEST = {"a": 1, "b": 1, "c": 1, "d": 1, "e": 2, "f": 3, "g": 10}  # max(1, round(0.1 n))


def split_classes() -> pd.Series:
    labels = [cls for cls, n in SPLIT_SIZES.items() for _ in range(n)]
    return pd.Series(labels).sample(frac=1, random_state=3).reset_index(drop=True)


def test_split_per_class_counts():
    classes = split_classes()
    out = data.split(classes, 0.1, seed=11)
    assert set(out) == {"train", "test"}
    tests = classes[out == "test"].value_counts().to_dict()
    trains = classes[out == "train"].value_counts().to_dict()
    assert tests == SPLIT_TEST
    assert trains == {cls: n - SPLIT_TEST[cls] for cls, n in SPLIT_SIZES.items()}
    assert all(trains[cls] >= 1 for cls in SPLIT_SIZES)


def test_split_half_keeps_train_samples():
    classes = pd.Series(["a"] * 2 + ["b"] * 3 + ["c"] * 5)
    out = data.split(classes, 0.5, seed=0)
    assert classes[out == "train"].value_counts().to_dict() == {"a": 1, "b": 1, "c": 3}


def test_split_is_seeded():
    classes = split_classes()
    first = data.split(classes, 0.1, seed=11)
    np.testing.assert_array_equal(first, data.split(classes, 0.1, seed=11))
    assert not np.array_equal(first, data.split(classes, 0.1, seed=12))


# --- a good cohort end to end ----------------------------------------------------------------


def run_cohort(c: Cohort, tmp_path: Path) -> dict:
    kwargs = c.write(tmp_path)
    data.run(**kwargs)
    return kwargs


def expected_log2(values=VALUES) -> np.ndarray:
    return np.log2(values.T + 1)  # samples x genes


def test_run_tsv_tpm(tmp_path):
    c = make_cohort()
    c.genesets = (
        "SET1\tfirst set\tENSG00000000001.9\tENSG00000000003\tENSG99999999999\n"
        "\n"
        "NONE\tno gene of the cohort\tENSG99999999999\n"
    )
    c.names["genesets"] = "sets.gmt"
    kw = run_cohort(c, tmp_path)
    assert outputs_left(tmp_path) == sorted(OUTPUTS.values())  # and no temporary file

    expression = pd.read_parquet(kw["out_expression"])
    assert list(expression.columns) == ["sample", *STRIPPED]
    assert expression["sample"].tolist() == SAMPLES  # the matrix's order
    assert all(expression[g].dtype == np.float32 for g in STRIPPED)
    np.testing.assert_allclose(expression[STRIPPED].to_numpy(), expected_log2(), rtol=0, atol=1e-6)
    samples, genes, values = io.read_expression(kw["out_expression"])  # from the sidecar
    assert (samples, genes) == (SAMPLES, STRIPPED) and values.dtype == np.float32
    np.testing.assert_array_equal(values, expression[STRIPPED].to_numpy())

    sheet = pd.read_parquet(kw["out_samples"])
    assert list(sheet.columns) == [
        "sample", "class", "class_index", "tissue", "status", "split", "batch"
    ]  # fmt: skip
    assert sheet["sample"].tolist() == SAMPLES  # rows line up with expression.parquet
    index = {"liver_cancer": 0, "normal_liver": 1, "normal_lung": 2}  # sorted class names
    assert (sheet["class_index"] == sheet["class"].map(index)).all()
    for cls, (n, tissue, status) in CLASSES.items():
        rows = sheet[sheet["class"] == cls]
        assert len(rows) == n
        assert (rows["tissue"] == tissue).all() and (rows["status"] == status).all()
    counts = sheet.groupby(["class", "split"]).size().to_dict()
    assert counts == {
        ("liver_cancer", "test"): 1, ("liver_cancer", "train"): 11,
        ("normal_liver", "test"): 1, ("normal_liver", "train"): 9,
        ("normal_lung", "test"): 2, ("normal_lung", "train"): 14,
    }  # fmt: skip
    batch = make_cohort().sheet.set_index("sample")["batch"]
    assert sheet["batch"].tolist() == batch.loc[SAMPLES].tolist()

    genes = pd.read_parquet(kw["out_genes"])
    assert list(genes.columns) == ["gene", "symbol", "chrom", "start", "length"]
    assert genes["gene"].tolist() == STRIPPED
    assert genes["symbol"].tolist() == STRIPPED  # no annotation: the symbol is the gene id
    assert genes[["chrom", "start", "length"]].isna().all().all()

    text = Path(kw["out_genesets"]).read_text()
    assert text == "SET1\tfirst set\tENSG00000000001\tENSG00000000003\n"


def test_run_without_genesets_tissue_or_status(tmp_path):
    c = make_cohort()
    c.sheet = c.sheet.drop(columns=["tissue", "status"])
    c.kwargs["focus_tissues"] = ["normal_lung"]  # the class is the tissue; no status needed
    kw = run_cohort(c, tmp_path)
    sheet = pd.read_parquet(kw["out_samples"])
    assert (sheet["tissue"] == sheet["class"]).all()
    assert sheet["status"].isna().all()
    assert Path(kw["out_genesets"]).read_text() == ""


def test_tissue_classes_count_each_tissues_classes_by_status():
    sheet = make_cohort().sheet
    assert data.tissue_classes(sheet) == {
        "liver": {"normal": 1, "cancer": 1, "any": 2},
        "lung": {"normal": 1, "cancer": 0, "any": 1},
    }
    bare = sheet.drop(columns=["tissue", "status"])  # each class its own tissue, no status
    assert data.tissue_classes(bare) == {c: {"normal": 0, "cancer": 0, "any": 1} for c in CLASSES}


def test_run_is_reproducible(tmp_path):
    first = run_cohort(make_cohort(), tmp_path / "one")
    second = run_cohort(make_cohort(), tmp_path / "two")
    for key in ("out_expression", "out_samples", "out_genes"):
        pd.testing.assert_frame_equal(pd.read_parquet(first[key]), pd.read_parquet(second[key]))


def as_csv_columns(c):
    c.names["expression"] = "expression.csv"
    c.kwargs["genes_in"] = "columns"


def as_parquet(c):
    c.names["expression"] = "expression.parquet"


def as_parquet_columns(c):
    as_parquet(c)
    c.kwargs["genes_in"] = "columns"


def as_gzipped_tsv(c):
    c.names["expression"] = "expression.tsv.gz"


def as_csv_sheet(c):
    c.names["samples"] = "samples.csv"


def as_parquet_with_its_index(c):
    """`df.set_index("gene").to_parquet()`: the gene ids are the stored index."""
    as_parquet(c)
    c.write_matrix = lambda frame, path: frame.to_parquet(path)


def as_gzip_without_suffix(c):
    c.write_matrix = lambda frame, path: path.write_bytes(
        gzip.compress(frame.to_csv(sep="\t").encode(), mtime=0)
    )


def as_spreadsheet_export(c):
    """A CSV as a spreadsheet saves it: a byte-order mark, CRLF line ends, labels with stray
    spaces, a capitalised status and R's NA for a missing tissue (its class stands in)."""
    c.names["samples"] = "samples.csv"
    c.sheet["class"] = c.sheet["class"] + np.where(np.arange(len(c.sheet)) % 3 == 0, " ", "")
    c.sheet["status"] = c.sheet["status"].str.capitalize()
    c.sheet.loc[c.sheet["class"].str.strip() == "normal_lung", "tissue"] = "NA"
    c.sheet.loc[c.sheet["class"].str.strip() == "normal_lung", "class"] = "lung"
    c.write_sheet = lambda frame, path: path.write_bytes(
        b"\xef\xbb\xbf" + frame.to_csv(index=False, lineterminator="\r\n").encode()
    )


def as_parquet_sheet_with_integer_ids(c):
    c.names["samples"] = "samples.parquet"
    numbers = {s: str(1000 + i) for i, s in enumerate(SAMPLES)}
    c.matrix = c.matrix.rename(columns=numbers)
    c.sheet["sample"] = c.sheet["sample"].map(numbers).astype(int)


@pytest.mark.parametrize(
    "variant",
    [as_csv_columns, as_parquet, as_parquet_columns, as_gzipped_tsv, as_csv_sheet,
     as_parquet_with_its_index, as_gzip_without_suffix],
)  # fmt: skip
def test_run_other_formats_give_the_same_tables(tmp_path, variant):
    reference = run_cohort(make_cohort(), tmp_path / "tsv")
    c = make_cohort()
    variant(c)
    other = run_cohort(c, tmp_path / "other")
    for key in ("out_expression", "out_samples", "out_genes", "out_medians"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(reference[key]), pd.read_parquet(other[key]), check_exact=True
        )


def test_run_reads_a_sheet_as_a_spreadsheet_exports_it(tmp_path):
    c = make_cohort()
    as_spreadsheet_export(c)
    sheet = pd.read_parquet(run_cohort(c, tmp_path)["out_samples"]).set_index("sample")
    given = make_cohort().sheet.set_index("sample").loc[sheet.index]
    assert sheet["class"].tolist() == given["class"].replace({"normal_lung": "lung"}).tolist()
    assert sheet["tissue"].tolist() == given["tissue"].tolist()  # NA: the class, "lung"
    assert sheet["status"].tolist() == given["status"].tolist()


def test_run_takes_integer_sample_ids_from_a_parquet_sheet(tmp_path):
    c = make_cohort()
    as_parquet_sheet_with_integer_ids(c)
    numbered = pd.read_parquet(run_cohort(c, tmp_path / "numbers")["out_expression"])
    named = pd.read_parquet(run_cohort(make_cohort(), tmp_path / "names")["out_expression"])
    assert numbered["sample"].tolist() == [str(1000 + SAMPLES.index(s)) for s in named["sample"]]
    np.testing.assert_array_equal(numbered[STRIPPED].to_numpy(), named[STRIPPED].to_numpy())


def test_class_medians_match_pandas_groupby():
    tpm = np.random.default_rng(0).gamma(1.0, 10.0, size=(11, 4))
    classes = np.array(["lung", "liver", "lung", "ovary", "liver", "lung"] + ["ovary"] * 5)
    medians = data.class_medians(classes, ["g1", "g2", "g3", "g4"], lambda rows: tpm[rows])
    expected = pd.DataFrame(tpm, columns=["g1", "g2", "g3", "g4"]).groupby(classes).median()
    assert list(medians.index) == ["liver", "lung", "ovary"]
    np.testing.assert_array_equal(medians.to_numpy(), expected.to_numpy())
    assert medians.loc["lung", "g2"] == np.median(tpm[[0, 2, 5], 1])


def test_class_medians_are_the_given_values_not_the_float32_matrix(tmp_path):
    """TPM medians exactly 5-fold apart (TissueEnrich's threshold) stay so; from the float32
    log2 matrix the data stage writes, the gene would leave Tissue-Enriched."""
    c = make_cohort()
    c.matrix.iloc[0] = [{"normal_liver": 50.0, "liver_cancer": 10.0}.get(s.rsplit("_", 1)[0], 1.0)
                        for s in SAMPLES]  # fmt: skip
    kw = run_cohort(c, tmp_path)
    medians = pd.read_parquet(kw["out_medians"]).set_index("class")
    assert medians[STRIPPED[0]].to_dict() == {
        "liver_cancer": 10.0, "normal_liver": 50.0, "normal_lung": 1.0,
    }  # fmt: skip
    assert annotate.tissue_enrich(medians).iloc[0]["category"] == "Tissue-Enriched"
    samples, _, x = io.read_expression(kw["out_expression"])
    classes = pd.read_parquet(kw["out_samples"]).set_index("sample").loc[samples, "class"]
    rounded = data.class_medians(classes, STRIPPED, lambda rows: np.exp2(x[rows] * 1.0) - 1)
    assert annotate.tissue_enrich(rounded).iloc[0]["category"] != "Tissue-Enriched"


@pytest.mark.parametrize(
    ("pseudocount", "atol"), [(1.0, 0.0), (0.001, 1e-6)], ids=["log2p1", "xena"]
)
def test_run_log2_scales(tmp_path, pseudocount, atol):
    c = make_cohort()
    c.matrix = np.log2(c.matrix + pseudocount)
    c.kwargs.update(scale="log2", pseudocount=pseudocount)
    kw = run_cohort(c, tmp_path)
    expression = pd.read_parquet(kw["out_expression"])
    expected = expected_log2().astype(np.float32)
    np.testing.assert_allclose(expression[STRIPPED].to_numpy(), expected, rtol=0, atol=atol)


def test_run_counts_with_annotation(tmp_path):
    c = make_cohort()
    with_annotation(c)
    c.kwargs["scale"] = "counts"
    kw = run_cohort(c, tmp_path)
    lengths_kb = c.annotation["length"].to_numpy() / 1e3
    rate = VALUES.T / lengths_kb
    tpm = rate / rate.sum(axis=1, keepdims=True) * 1e6
    expression = pd.read_parquet(kw["out_expression"])
    np.testing.assert_allclose(expression[STRIPPED].to_numpy(), np.log2(tpm + 1), rtol=0, atol=1e-6)
    genes = pd.read_parquet(kw["out_genes"])
    assert list(genes.columns) == ["gene", "symbol", "chrom", "start", "length", "biotype"]
    assert genes["gene"].tolist() == STRIPPED
    assert genes["symbol"].tolist() == c.annotation["symbol"].tolist()
    assert genes["length"].tolist() == c.annotation["length"].tolist()
    assert genes["chrom"].tolist() == c.annotation["chrom"].tolist()


def gtf_line(gene: str, feature: str, start: int, end: int, biotype: str) -> str:
    attrs = f'gene_id "{gene}"; transcript_id "T{gene[-3:]}"; gene_type "{biotype}";'
    return "\t".join(["chr1", "test", feature, str(start), str(end), ".", "+", ".", attrs])


# Each gene's exons: two transcripts sharing, overlapping and abutting exons (union of exons in
# bp, by hand), and the gene line's span, which would count the introns.
GTF_EXONS = {
    GENES[0]: ([(1, 100), (51, 150)], 150),  # overlap: 1..150
    GENES[1]: ([(1, 100), (101, 200), (1001, 1100)], 300),  # abut, then 100 bp in the next exon
    GENES[2]: ([(1, 500), (101, 200)], 500),  # nested
    GENES[3]: ([(1, 50), (4001, 4050)], 100),  # span 4,050: 40x the union
    GENES[4]: ([(1, 1000)], 1000),
    GENES[5]: ([(1, 250), (251, 500), (1, 500)], 500),
}


def with_gtf(c: Cohort) -> None:
    lines = ["#!genome-build test"]
    for i, (gene, (exons, _)) in enumerate(GTF_EXONS.items()):
        biotype = "lncRNA" if i == 2 else "protein_coding"
        lines.append(gtf_line(gene, "gene", exons[0][0], max(e for _, e in exons), biotype))
        lines += [gtf_line(gene, "exon", start, end, biotype) for start, end in exons]
    c.gtf = "\n".join(lines) + "\n"
    c.names["gtf"] = "genes.gtf"
    c.kwargs["scale"] = "counts"


def test_run_counts_with_a_gtf_use_the_union_of_exons(tmp_path):
    c = make_cohort()
    with_gtf(c)
    kw = run_cohort(c, tmp_path)
    union = np.array([length for _, length in GTF_EXONS.values()], dtype=float)
    rate = VALUES.T / (union / 1e3)
    tpm = rate / rate.sum(axis=1, keepdims=True) * 1e6
    expression = pd.read_parquet(kw["out_expression"])
    np.testing.assert_allclose(expression[STRIPPED].to_numpy(), np.log2(tpm + 1), rtol=0, atol=1e-6)
    genes = pd.read_parquet(kw["out_genes"])
    assert genes["length"].tolist() == union.tolist()
    assert genes["biotype"].tolist() == ["protein_coding"] * 2 + ["lncRNA"] + ["protein_coding"] * 3
    medians = pd.read_parquet(kw["out_medians"]).set_index("class")
    classes = pd.read_parquet(kw["out_samples"]).set_index("sample").loc[SAMPLES, "class"]
    by_sample = pd.DataFrame(tpm, index=SAMPLES, columns=STRIPPED)
    np.testing.assert_allclose(medians, by_sample.groupby(classes.to_numpy()).median(), rtol=1e-12)


def test_run_counts_with_a_gtf_and_an_annotation(tmp_path):
    """The annotation keeps its columns; lengths come from the GTF, protein-coding from either."""
    c = make_cohort()
    with_annotation(c, biotype=False)
    with_gtf(c)
    c.kwargs["protein_coding_only"] = True
    kw = run_cohort(c, tmp_path)
    genes = pd.read_parquet(kw["out_genes"])
    kept = [0, 1, 3, 4, 5]
    assert genes["gene"].tolist() == [STRIPPED[i] for i in kept]
    assert genes["symbol"].tolist() == [f"SYM{i}" for i in kept]
    assert genes["length"].tolist() == [list(GTF_EXONS.values())[i][1] for i in kept]


def test_run_protein_coding_only(tmp_path):
    c = make_cohort()
    with_annotation(c)
    c.annotation.loc[4, "biotype"] = "processed_pseudogene"
    c.kwargs["protein_coding_only"] = True
    kw = run_cohort(c, tmp_path)
    kept = [0, 1, 3, 5]  # genes 2 (lncRNA) and 4 (pseudogene) dropped
    expression = pd.read_parquet(kw["out_expression"])
    assert list(expression.columns) == ["sample", *[STRIPPED[i] for i in kept]]
    np.testing.assert_allclose(
        expression.iloc[:, 1:].to_numpy(), expected_log2()[:, kept], rtol=0, atol=1e-6
    )  # TPM is not renormalised over the kept genes
    genes = pd.read_parquet(kw["out_genes"])
    assert genes["gene"].tolist() == [STRIPPED[i] for i in kept]
    assert (genes["biotype"] == "protein_coding").all()


def test_run_drops_genes_missing_from_the_annotation(tmp_path):
    c = make_cohort()
    with_annotation(c)
    c.annotation = c.annotation.drop(index=1)  # tpm: an unannotated gene is dropped, with a warning
    kw = run_cohort(c, tmp_path)
    kept = [0, 2, 3, 4, 5]
    expression = pd.read_parquet(kw["out_expression"])
    assert list(expression.columns) == ["sample", *[STRIPPED[i] for i in kept]]
    np.testing.assert_allclose(
        expression.iloc[:, 1:].to_numpy(), expected_log2()[:, kept], rtol=0, atol=1e-6
    )
    genes = pd.read_parquet(kw["out_genes"])
    assert genes["gene"].tolist() == [STRIPPED[i] for i in kept]
    assert genes["symbol"].notna().all()


# --- bad input: InputError naming the file and the id; nothing written -------------------------


def cell(value, scale="tpm"):
    """Put `value` in gene G, sample S (the matrix becomes text-capable for non-numbers)."""

    def mutate(c):
        if scale == "log2":
            c.matrix = np.log2(c.matrix + 1)
            c.kwargs["scale"] = "log2"
        if scale == "counts":
            with_annotation(c)
            c.kwargs["scale"] = "counts"
        c.matrix = c.matrix.astype(object)
        c.matrix.iloc[G, S] = value

    return mutate


def rename_gene(i, new):
    def mutate(c):
        c.matrix.index = [new if j == i else g for j, g in enumerate(c.matrix.index)]

    return mutate


def duplicate_sample_column(c):
    c.matrix.columns = [SAMPLES[0] if j == 1 else s for j, s in enumerate(SAMPLES)]


def duplicate_sheet_row(c):
    c.sheet = pd.concat([c.sheet, c.sheet[c.sheet["sample"] == SAMPLE]], ignore_index=True)


def drop_sheet_row(c):
    c.sheet = c.sheet[c.sheet["sample"] != SAMPLE]


def drop_matrix_column(c):
    c.matrix = c.matrix.drop(columns=SAMPLE)


def small_class(c):
    rare = c.sheet["sample"].isin(SAMPLES[:2])
    c.sheet.loc[rare, "class"] = "rare_class"


def sheet_value(row_of_sample, column, value):
    def mutate(c):
        c.sheet.loc[c.sheet["sample"] == row_of_sample, column] = value

    return mutate


def drop_sheet_column(column):
    def mutate(c):
        c.sheet = c.sheet.drop(columns=column)

    return mutate


def counts_without_annotation(c):
    c.kwargs["scale"] = "counts"


def counts_annotation(length=True, bad_length=None, drop_gene=None):
    """Declare counts, with an annotation lacking lengths, with a bad length or lacking a gene."""

    def mutate(c):
        with_annotation(c, length=length)
        c.kwargs["scale"] = "counts"
        if bad_length is not None:
            c.annotation["length"] = c.annotation["length"].astype(object)
            c.annotation.loc[G, "length"] = bad_length
        if drop_gene is not None:
            c.annotation = c.annotation.drop(index=drop_gene)

    return mutate


def tpm_looks_log2(c):
    c.matrix = np.log2(c.matrix + 1)


def tpm_is_counts(c):
    c.matrix[SAMPLE] *= 1000  # this sample sums to ~1e7


def log2_of_counts(c):
    c.matrix = np.log2(c.matrix + 1)
    c.matrix[SAMPLE] = np.log2(VALUES[:, S] * 200 + 1)  # every value < 1e6, the sum is not
    c.kwargs["scale"] = "log2"


def focus_absent(c):
    c.kwargs["focus_tissues"] = ["liver", "pancreas"]


def coding_without_biotype(c):
    with_annotation(c, biotype=False)
    c.kwargs["protein_coding_only"] = True


def coding_without_annotation(c):
    c.kwargs["protein_coding_only"] = True


def rename_file(key, name):
    def mutate(c):
        c.names[key] = name

    return mutate


def missing(key):
    def mutate(c):
        if key == "genes":
            with_annotation(c)
        if key == "genesets":
            c.names["genesets"] = "sets.gmt"
        c.missing = (key,)

    return mutate


def empty_matrix(c):
    c.matrix = c.matrix.iloc[:0]


E, SH, AN = "{expression}", "{samples}", "{genes}"  # replaced by the files' paths
D1 = "ENSG00000000001"
BAD = [
    ("nan", cell(np.nan), [E, GENE, SAMPLE, "missing"]),
    ("na_text", cell("NA"), [E, GENE, SAMPLE, "missing"]),
    ("infinite", cell(np.inf), [E, GENE, SAMPLE, "inf"]),
    ("negative_tpm", cell(-1.0), [E, GENE, SAMPLE, "-1", "negative"]),
    ("negative_counts", cell(-3.0, "counts"), [E, GENE, SAMPLE, "-3", "negative"]),
    ("non_numeric", cell("1,5"), [E, GENE, SAMPLE, "'1,5'", "not a number"]),
    ("duplicate_gene", rename_gene(1, GENES[0]), [E, D1, "duplicate gene"]),
    ("duplicate_gene_version", rename_gene(1, D1 + ".2"), [E, D1, "duplicate gene"]),
    ("duplicate_sample_column", duplicate_sample_column, [E, SAMPLES[0], "duplicate sample"]),
    ("duplicate_sheet_sample", duplicate_sheet_row, [SH, SAMPLE, "duplicate sample"]),
    ("sample_not_in_sheet", drop_sheet_row, [E, SH, SAMPLE, "missing"]),
    ("sample_not_in_matrix", drop_matrix_column, [SH, E, SAMPLE, "missing"]),
    ("class_too_small", small_class, [SH, "'rare_class' has 2", "min_class_size = 5"]),
    ("sheet_without_class", drop_sheet_column("class"), [SH, "'class'"]),
    ("sheet_without_sample", drop_sheet_column("sample"), [SH, "'sample'"]),
    ("invalid_status", sheet_value(SAMPLE, "status", "tumour"), [SH, "line", "'status'", "tumour"]),
    ("empty_class", sheet_value(SAMPLE, "class", None), [SH, "'class'", SAMPLE, "empty"]),
    ("counts_fractional", cell(2.5, "counts"), [E, GENE, SAMPLE, "2.5", "whole numbers"]),
    ("counts_without_annotation", counts_without_annotation, [E, "length", "cohort.files.genes"]),
    ("counts_without_length", counts_annotation(length=False), [E, AN, "'length'"]),
    ("counts_zero_length", counts_annotation(bad_length=0), [AN, GENE, "length"]),
    ("counts_bad_length", counts_annotation(bad_length="1kb"), [AN, GENE, "length"]),
    ("counts_unannotated_gene", counts_annotation(drop_gene=G), [E, AN, GENE, "length"]),
    ("tpm_looks_log2", tpm_looks_log2, [E, "tpm", "19.93", "log2"]),
    ("tpm_sums_over_1e6", tpm_is_counts, [E, SAMPLE, "1e6", "scale: counts"]),
    ("log2_above_max", cell(25.0, "log2"), [E, GENE, SAMPLE, "25", "above"]),
    ("log2_below_pseudocount", cell(-3.0, "log2"), [E, GENE, SAMPLE, "-3", "below"]),
    ("log2_just_below_zero", cell(-0.02, "log2"), [E, GENE, SAMPLE, "-0.02", "pseudocount"]),
    ("log2_of_counts", log2_of_counts, [E, SAMPLE, "1e6", "scale: counts"]),
    ("focus_tissue_absent", focus_absent, [SH, "focus_tissues", "pancreas"]),
    ("coding_without_biotype", coding_without_biotype, [AN, "biotype", "protein_coding_only"]),
    ("coding_without_annotation", coding_without_annotation, ["biotype", "cohort.files.genes"]),
    ("unknown_extension", rename_file("expression", "expression.xlsx"), [E, "unknown file type"]),
    ("unknown_sheet_extension", rename_file("samples", "samples.ods"), [SH, "unknown file type"]),
    ("missing_matrix", missing("expression"), [E, "not found"]),
    ("missing_sheet", missing("samples"), [SH, "not found"]),
    ("missing_annotation", missing("genes"), [AN, "not found"]),
    ("missing_genesets", missing("genesets"), ["{genesets}", "not found"]),
    ("empty_matrix", empty_matrix, [E, "empty"]),
]


@pytest.mark.parametrize(("mutate", "expected"), [p[1:] for p in BAD], ids=[p[0] for p in BAD])
def test_bad_input_stops_with_a_message_and_no_output(tmp_path, mutate, expected):
    c = make_cohort()
    mutate(c)
    kwargs = c.write(tmp_path)
    with pytest.raises(InputError) as raised:
        data.run(**kwargs)
    message = str(raised.value)
    paths = {key: str(kwargs[key]) for key in ("expression", "samples", "genes", "genesets")}
    for fragment in expected:
        assert fragment.format(**paths) in message, f"{fragment!r} not in {message!r}"
    assert outputs_left(tmp_path) == []


def test_invalid_status_names_the_line(tmp_path):
    c = make_cohort()
    line = int(np.flatnonzero(c.sheet["sample"] == SAMPLE)[0]) + 2  # header is line 1
    sheet_value(SAMPLE, "status", "tumour")(c)
    with pytest.raises(InputError, match=rf"line {line} \(sample '{SAMPLE}'\), column 'status'"):
        data.run(**c.write(tmp_path))


def test_cohort_is_valid_and_cases_edit_copies():
    """The base cohort passes the checks the cases rely on, and no case changes VALUES."""
    assert VALUES.max() > data.MAX_LOG2_TPM and VALUES.sum(axis=0).max() < 1e6
    assert VALUES[:, S].sum() * 200 > 1.01e6 and VALUES.max() * 200 + 1 < 1e6 + 1
    saved = VALUES.copy()
    for _, mutate, _ in BAD:
        mutate(make_cohort())
    np.testing.assert_array_equal(VALUES, saved)


# --- the matrix's size from its header and metadata (the declared-size check) ----------------


def test_matrix_dims_from_header_and_metadata(tmp_path):
    frame = pd.DataFrame(np.ones((3, 5)), index=pd.Index(GENES[:3], name="gene"))
    frame.columns = [f"s{i}" for i in range(5)]
    frame.to_csv(tmp_path / "m.tsv.gz", sep="\t")  # genes in rows, gzip
    assert data.matrix_dims(tmp_path / "m.tsv.gz") == {"genes": 3, "samples": 5}
    text = (tmp_path / "m.tsv.gz").read_bytes()
    (tmp_path / "m.tsv").write_bytes(gzip.decompress(text).rstrip(b"\n"))  # no last newline
    assert data.matrix_dims(tmp_path / "m.tsv", "rows") == {"genes": 3, "samples": 5}
    frame.T.reset_index(names="sample").to_parquet(tmp_path / "m.parquet")
    assert data.matrix_dims(tmp_path / "m.parquet", "columns") == {"samples": 5, "genes": 3}


def test_size_within_tolerance_passes_and_beyond_it_names_both(tmp_path):
    declared = ({"samples": 100, "genes": 1000, "classes": 4}, "cohort.size")
    data.check_size({"samples": 125, "genes": 800, "classes": 4}, declared, 0.25, "m.tsv")
    data.check_size({"samples": 10**6}, None, 0.25, "m.tsv")  # the demo declares nothing
    with pytest.raises(InputError, match=r"m.tsv: the cohort has 126 samples, 4 classes, but "
                       r"cohort.size declares 100 samples, 4 classes: samples differ"):  # fmt: skip
        data.check_size({"samples": 126, "classes": 4}, declared, 0.25, "m.tsv")
