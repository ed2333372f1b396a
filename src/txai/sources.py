"""GTEx + TCGA cohorts from their public files (PAPER-DIGEST.md section 1).

One reader per public format, and two builders that turn the downloads into a "files" cohort
(expression Parquet, sample sheet TSV, gene annotation Parquet) for `txai.data.run` to validate:
`build_toil` (UCSC Xena's TcgaTargetGtex table: the GTEx V6 samples and TCGA recomputed by one
pipeline, log2(TPM + 0.001), kept on that scale) and `build_portal` (the paper's route: GTEx
portal v8 TPM, TCGA TPM from recount3 coverage sums).

Conventions, the same for both sources:
- Files are opened by content: gzip when they start with gzip's magic bytes, whatever the name.
  Text is UTF-8 but Xena's phenotype table, which is latin-1; a byte the encoding cannot decode
  is reported as such.
- recount3 joins its metadata to its gene sums by external_id (the GDC file id), which heads
  the gene sums columns; a project whose ids all miss stops the build at once.
- Matrices are read in chunks of gene rows, keeping only the wanted samples and genes, so memory
  stays near the output's size (float32).
- Class: `GTEx_<SMTSD>` (Xena: detailed_category) or `TCGA_<project>`, every run of characters
  other than letters and digits replaced by one underscore (`Brain - Cortex` ->
  `GTEx_Brain_Cortex`).
- Tissue: a lowercase word shared by a normal tissue and its cancers: GTEx's SMTS (Xena:
  _primary_site), or the project's tissue in resources/tcga_projects.tsv, with underscores for
  spaces (`Adipose Tissue` -> `adipose_tissue`).
- GTEx: only samples of the RNA-seq release (SMAFRZE == RNASEQ). Xena's TARGET samples are dropped.
- Xena names TCGA diseases ("Liver Hepatocellular Carcinoma"); resources/tcga_projects.tsv maps
  them to project codes. A name missing there keeps its own name as class, with a warning.
- TCGA: primary tumours only, sample type 01 (03, primary blood-derived cancer, for LAML). One
  aliquot per sample, the sample being the 15-character barcode (participant + sample type, so
  vials are merged): the aliquot whose full barcode sorts first (vial A before B, then the lowest
  portion, analyte, plate and centre). Samples are named by their 15-character barcode.
- Genes: GENCODE gene_type protein_coding, Ensembl version suffixes stripped, in the GTF's order;
  the chrY copies of pseudo-autosomal genes (ids ending in _PAR_Y, or ENSGR in releases before 25)
  are left out, as they repeat the chrX gene.
- Classes with fewer than `min_class_size` samples are dropped, with a warning naming them.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import functools
import gzip
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from txai import io, stats
from txai.io import InputError

log = logging.getLogger(__name__)

PROJECTS = Path(__file__).resolve().parents[2] / "resources" / "tcga_projects.tsv"
CHUNK_ROWS = 1000  # gene rows per chunk: about 70 MB of float32 for 17,000 samples
GTF_CHUNK_ROWS = 200_000
PRIMARY_TUMOUR = "01"
PRIMARY_BLOOD_CANCER = "03"  # LAML's primary tumours are blood-derived
TCGA_BARCODE = re.compile(
    r"(?P<participant>TCGA-[A-Z0-9]{2}-[A-Z0-9]{4})-(?P<sample_type>\d{2})(?P<vial>[A-Z])?"
    r"(?:-(?P<portion>\d{2})(?P<analyte>[A-Z])(?:-(?P<plate>[A-Z0-9]{4})(?:-(?P<centre>\d{2}))?)?)?"
)
BARCODE_FIELDS = ["sample", *TCGA_BARCODE.groupindex]
PAR_Y = re.compile(r"^ENSGR|_PAR_Y$")
XENA_PHENOTYPE = [
    "sample", "detailed_category", "primary disease or tissue", "_primary_site", "_sample_type",
    "_study",
]  # fmt: skip
XENA_PHENOTYPE_ENCODING = "latin-1"  # not UTF-8: some cells hold latin-1 bytes
GTEX_ATTRIBUTES = ["SAMPID", "SMTS", "SMTSD", "SMAFRZE"]
# recount3's raw metadata names columns without a prefix; its R reader (read_metadata) lowercases
# them and adds `<origin>.` (here `tcga.`) to all but rail_id, external_id and study.
RECOUNT3_ORIGIN = "tcga."
RECOUNT3_ID = "external_id"  # the GDC file id, which names the project's gene_sums columns
RECOUNT3_BARCODE = "tcga_barcode"
RECOUNT3_PROJECT = "gdc_cases.project.project_id"
GTF_COLUMNS = ["chrom", "source", "feature", "start", "end", "score", "strand", "frame", "attrs"]
REDOWNLOAD = "download it again (check its URL and sha256 in the config)"
# GTEx v8's 54 RNA-seq tissues (SMTS, SMTSD) from its sample attributes; SMALL: under 25
# samples in v8 (Bladder 21, Cervix 9 and 10, Fallopian Tube 9, Kidney Medulla 4).
BRAIN = ("Amygdala", "Anterior cingulate cortex (BA24)", "Caudate (basal ganglia)",
         "Cerebellar Hemisphere", "Cerebellum", "Cortex", "Frontal Cortex (BA9)", "Hippocampus",
         "Hypothalamus", "Nucleus accumbens (basal ganglia)", "Putamen (basal ganglia)",
         "Spinal cord (cervical c-1)", "Substantia nigra")  # fmt: skip
GTEX_TISSUES = [
    ("Adipose Tissue", "Adipose - Subcutaneous"),
    ("Adipose Tissue", "Adipose - Visceral (Omentum)"),
    ("Adrenal Gland", "Adrenal Gland"), ("Bladder", "Bladder"),
    ("Blood", "Whole Blood"), ("Blood", "Cells - EBV-transformed lymphocytes"),
    ("Blood Vessel", "Artery - Aorta"), ("Blood Vessel", "Artery - Coronary"),
    ("Blood Vessel", "Artery - Tibial"), *(("Brain", f"Brain - {b}") for b in BRAIN),
    ("Breast", "Breast - Mammary Tissue"), ("Cervix Uteri", "Cervix - Ectocervix"),
    ("Cervix Uteri", "Cervix - Endocervix"), ("Colon", "Colon - Sigmoid"),
    ("Colon", "Colon - Transverse"), ("Esophagus", "Esophagus - Gastroesophageal Junction"),
    ("Esophagus", "Esophagus - Mucosa"), ("Esophagus", "Esophagus - Muscularis"),
    ("Fallopian Tube", "Fallopian Tube"), ("Heart", "Heart - Atrial Appendage"),
    ("Heart", "Heart - Left Ventricle"), ("Kidney", "Kidney - Cortex"),
    ("Kidney", "Kidney - Medulla"), ("Liver", "Liver"), ("Lung", "Lung"),
    ("Salivary Gland", "Minor Salivary Gland"), ("Muscle", "Muscle - Skeletal"),
    ("Nerve", "Nerve - Tibial"), ("Ovary", "Ovary"), ("Pancreas", "Pancreas"),
    ("Pituitary", "Pituitary"), ("Prostate", "Prostate"),
    ("Skin", "Skin - Not Sun Exposed (Suprapubic)"), ("Skin", "Skin - Sun Exposed (Lower leg)"),
    ("Skin", "Cells - Cultured fibroblasts"),
    ("Small Intestine", "Small Intestine - Terminal Ileum"),
    ("Spleen", "Spleen"), ("Stomach", "Stomach"), ("Testis", "Testis"), ("Thyroid", "Thyroid"),
    ("Uterus", "Uterus"), ("Vagina", "Vagina"),
]  # fmt: skip
SMALL = {"Bladder", "Cervix - Ectocervix", "Cervix - Endocervix", "Fallopian Tube",
         "Kidney - Medulla"}  # fmt: skip
READ = {  # how the data stage reads each source's built cohort (`txai.data.run`)
    "toil": {"scale": "log2", "pseudocount": 0.001, "genes_in": "columns"},  # as Xena serves it
    "portal": {"scale": "tpm", "genes_in": "columns"},
}


# --- opening and reading files ---------------------------------------------------------------


def _reading(path: str | os.PathLike) -> contextlib.AbstractContextManager:
    """Turn a parser's, decoder's or decompressor's failure into an InputError naming the file
    and advising a new download."""
    recoded = f"If it was re-saved in another encoding, {REDOWNLOAD}; if its publisher changed "
    return io.reading(path, REDOWNLOAD, recoded + "the encoding, report it to txai.")


def _open_text(path: str | os.PathLike):
    """The file as UTF-8 text, decompressed when it is gzip."""
    return (gzip.open if io.compression(path) else open)(path, "rt", encoding="utf-8")


def _header(path: str | os.PathLike, comment: str | None = None) -> tuple[int, list[str]]:
    """(number of leading lines starting with `comment`, tab-separated fields of the next line)."""
    skip = 0
    with _reading(path), _open_text(path) as f:
        for line in f:
            if comment is None or not line.startswith(comment):
                return skip, line.rstrip("\r\n").split("\t")
            skip += 1
    raise InputError(f"{path}: the file holds no header line: {REDOWNLOAD}.")


def _read_tsv(
    path: str | os.PathLike, required: list[str], what: str, encoding: str = "utf-8", names=None
) -> pd.DataFrame:
    """A whole TSV as strings (empty cells stay ""), its column names passed through `names`
    when given, refusing one without the `required` columns."""
    with _reading(path):
        frame = pd.read_csv(
            path, sep="\t", dtype=str, keep_default_na=False, compression=io.compression(path),
            encoding=encoding, quoting=csv.QUOTE_NONE,
        )  # fmt: skip
    if names is not None:
        frame.columns = [names(c) for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: column(s) {missing} missing (found {list(frame.columns)[:8]}): this is not "
            f"{what}. Point the config at that file and {REDOWNLOAD}."
        )
    return frame


def _wanted(names: list[str], keep: Iterable[str] | None) -> list[str]:
    """`names` in their order, only those in `keep` (all when None)."""
    if keep is None:
        return list(names)
    keep = set(keep)
    return [n for n in names if n in keep]


def _read_gene_rows(
    path, *, skiprows: int, columns: list[str], samples: list[str], keep_genes, dtype, chunksize
) -> tuple[pd.DataFrame, int]:
    """Read a genes x samples text matrix in chunks of gene rows.

    `columns` is the header (first: the gene id column). Returns the `samples` columns of the rows
    whose version-stripped id is in `keep_genes` (every row when None), indexed by that id, and the
    number of data rows in the file.
    """
    header = pd.Index(columns)
    if header.has_duplicates:
        dup = header[header.duplicated()][0]
        raise InputError(f"{path}: column '{dup}' appears twice in the header: {REDOWNLOAD}.")
    first, parts, rows = columns[0], [], 0
    with _reading(path):
        reader = pd.read_csv(
            path,
            sep="\t",
            skiprows=skiprows,
            usecols=[first, *samples],
            index_col=first,
            dtype={first: str, **dict.fromkeys(samples, dtype)},
            compression=io.compression(path),
            chunksize=chunksize,
        )
        with reader:
            for chunk in reader:
                chunk.index = io.strip_version(chunk.index.tolist())
                keep = (
                    np.ones(len(chunk), bool)
                    if keep_genes is None
                    else chunk.index.isin(keep_genes)
                )
                kept = chunk[keep]
                bad = ~np.isfinite(kept.to_numpy())
                if bad.any():
                    r, c = np.argwhere(bad)[0]
                    line = skiprows + 2 + rows + np.flatnonzero(keep)[r]
                    raise InputError(
                        f"{path}: line {line} (gene '{kept.index[r]}'), column "
                        f"'{kept.columns[c]}': missing value. The file is truncated or altered: "
                        f"{REDOWNLOAD}."
                    )
                parts.append(kept)
                rows += len(chunk)
    frame = pd.concat(parts) if parts else pd.DataFrame(columns=samples, dtype=dtype)
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()][0]
        raise InputError(
            f"{path}: gene '{dup}' appears twice (Ensembl versions stripped): {REDOWNLOAD}."
        )
    frame.index.name = "gene"
    return frame, rows


# --- readers, one per public format ----------------------------------------------------------


_USER_GTF = "cohort.files.gtf"  # where a user's GTF is configured (read_gtf_genes(user=True))


def read_gtf_genes(
    path: str | os.PathLike, chunksize: int = GTF_CHUNK_ROWS, *, user: bool = False
) -> pd.DataFrame:
    """The genes of a GTF: gene, symbol, chrom, start, length, biotype.

    gene: the gene_id, Ensembl version stripped; start: the gene's 1-based start; length: the
    union of the gene's exons in base pairs (transcripts share exons, so a plain sum would count
    shared bases twice), taken on each chromosome and strand and summed, as rnanorm does (UCSC
    GTFs name loci on several chromosomes with one gene_id); biotype: gene_type (Ensembl GTFs:
    gene_biotype).

    user=False, the sources' GENCODE GTF: the genes are its `gene` lines, in file order, each with
    gene_name and gene_type; a refused file is to be downloaded again.
    user=True, the GTF of a user's count matrix (cohort.files.gtf: GENCODE, Ensembl, UCSC or
    RefSeq): only gene_id is required. A gene without a `gene` line (UCSC, RefSeq) is taken from
    its exon lines: chrom of the first, start the smallest exon start. symbol (gene_name) and
    biotype come from the gene line, else from the gene's first exon line, and are missing (NA)
    where that line lacks them. Repeated gene lines of one gene_id are one gene, as a counter
    that groups by gene_id counts them. Genes in order of first appearance (gene or exon line).

    Read in chunks of `chunksize` lines; across chunks only one row per gene and the exons as
    integer codes are kept.
    """
    skip = _gtf_comment_lines(path) if user else _header(path, "#")[0]
    ids: dict[str, int] = {}  # gene_id -> code, in order of first appearance
    loci: dict[str, int] = {}  # chrom or strand -> code
    records = []  # per chunk: its gene lines (user: and each gene's first exon line)
    exons = {c: [] for c in ("gene", "chrom", "strand", "start", "end")}  # per chunk: integers
    with _reading_user_gtf(path) if user else _reading(path):
        reader = pd.read_csv(
            path,
            sep="\t",
            header=None,
            names=GTF_COLUMNS,
            usecols=["chrom", "feature", "start", "end", "strand", "attrs"],
            skiprows=skip,
            dtype={
                "chrom": str, "feature": str, "start": np.int64, "end": np.int64, "strand": str,
                "attrs": str,
            },
            quoting=csv.QUOTE_NONE,
            compression=io.compression(path),
            chunksize=chunksize,
        )  # fmt: skip
        with reader:
            for chunk in reader:
                chunk = chunk[chunk["feature"].isin(["gene", "exon"])]
                code = _codes(_attribute(chunk, "gene_id", path, skip, user=user), ids)
                is_gene = (chunk["feature"] == "gene").to_numpy()
                exon = np.flatnonzero(~is_gene)
                exons["gene"].append(code[exon].astype(np.int32))
                for c in ("chrom", "strand"):
                    exons[c].append(_codes(chunk[c].iloc[exon], loci).astype(np.int32))
                for c in ("start", "end"):
                    exons[c].append(chunk[c].to_numpy()[exon])
                records.append(_gene_records(chunk[is_gene], code[is_gene], path, skip, user))
                if user:  # each gene's first exon line in the chunk, with its smallest start
                    _, first = np.unique(code[exon], return_index=True)
                    first = exon[np.sort(first)]
                    found = _gene_records(chunk.iloc[first], code[first], path, skip, user)
                    smallest = pd.Series(exons["start"][-1]).groupby(exons["gene"][-1]).min()
                    found["start"] = smallest.loc[found["code"]].to_numpy()
                    records.append(found.assign(from_exon=True))
                del chunk  # before the reader parses the next one
    genes = pd.concat(records, ignore_index=True)
    if user:
        genes = _one_record_per_gene(genes)
        if genes.empty:
            raise _no_gene_lines(path)
    lengths = _exon_union_length({c: np.concatenate(exons.pop(c)) for c in list(exons)})
    no_exon = ~genes["code"].isin(lengths.index)
    if no_exon.any():
        fix = (
            f"Point {_USER_GTF} at a GTF with the exon lines of every gene (the full annotation "
            "your counts were made with)"
            if user
            else "Use the full GENCODE annotation GTF"
        )
        raise InputError(
            f"{path}: gene '{list(ids)[genes['code'][no_exon].iloc[0]]}' has no exon lines "
            f"({no_exon.sum()} such genes), so its length is unknown. {fix}, not a genes-only "
            "file."
        )
    versioned = np.array(list(ids), dtype=object)[genes["code"].to_numpy()].tolist()
    genes = pd.DataFrame(
        {
            "gene": io.strip_version(versioned),
            "symbol": genes["symbol"].to_numpy(),
            "chrom": genes["chrom"].to_numpy(),
            "start": genes["start"].to_numpy(np.int64),
            "length": lengths.loc[genes["code"]].to_numpy(np.int64),
            "biotype": genes["biotype"].to_numpy(),
        }
    ).astype({"gene": str, "symbol": str, "chrom": str, "biotype": str})
    dup = genes["gene"].duplicated()
    if dup.any():
        gene = genes["gene"][dup].iloc[0]
        if not user:
            raise InputError(
                f"{path}: gene '{gene}' appears twice (versions stripped): {REDOWNLOAD}."
            )
        both = [v for v, g in zip(versioned, genes["gene"], strict=True) if g == gene][:2]
        raise InputError(
            f"{path}: gene '{gene}' appears twice, as {both[0]!r} and {both[1]!r} (versions "
            f"stripped): one annotation holds one version of a gene. Check that {_USER_GTF} is "
            "one GTF, the one your counts were made with."
        )
    return genes


def _gtf_comment_lines(path) -> int:
    """The number of leading `#` lines of a user's GTF, refusing one without other lines."""
    with _reading_user_gtf(path), _open_text(path) as f:
        for skip, line in enumerate(f):
            if not line.startswith("#"):
                return skip
    raise _no_gene_lines(path)


def _no_gene_lines(path) -> InputError:
    return InputError(
        f"{path}: no gene or exon lines (column 3), so no gene lengths. Point {_USER_GTF} at the "
        "GTF your counts were made with."
    )


def _reading_user_gtf(path) -> contextlib.AbstractContextManager:
    """`_reading` for a user's GTF: the fix is the config's path, not a new download."""
    return io.reading(
        path,
        f"check that {_USER_GTF} is a whole GTF file (nine tab-separated columns, plain or "
        "gzip-compressed), the one your counts were made with",
        io.AS_UTF8,
    )


def _codes(values: pd.Series, table: dict) -> np.ndarray:
    """Integer codes of `values`, new values added to `table` (value -> code) in order of first
    appearance."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=False)
    return np.array([table.setdefault(u, len(table)) for u in uniques], np.int64)[codes]


def _gene_records(rows: pd.DataFrame, code: np.ndarray, path, skip: int, user: bool):
    """One record per GTF line: the gene's code, chrom, start, symbol and biotype (user=False:
    both required)."""
    return pd.DataFrame(
        {
            "code": code,
            "chrom": rows["chrom"].to_numpy(dtype=object),
            "start": rows["start"].to_numpy(),
            "symbol": _attribute(rows, "gene_name", path, skip, required=not user).to_numpy(),
            "biotype": _attribute(
                rows, "gene_type|gene_biotype", path, skip, required=not user
            ).to_numpy(),
            "from_exon": False,
        }
    )


def _one_record_per_gene(records: pd.DataFrame) -> pd.DataFrame:
    """A user's GTF: each gene's first gene line, else its first exon line with the smallest exon
    start of all chunks; in order of first appearance (the code's order)."""
    exon_start = records[records["from_exon"]].groupby("code")["start"].min()
    genes = records.sort_values(["code", "from_exon"], kind="stable").drop_duplicates("code")
    from_exon = genes["from_exon"].to_numpy()
    start = genes["start"].to_numpy(np.int64, copy=True)
    start[from_exon] = exon_start.loc[genes["code"][from_exon]].to_numpy()
    return genes.assign(start=start).reset_index(drop=True)


def _attribute(
    rows: pd.DataFrame, key: str, path, skip: int, required: bool = True, user: bool = False
) -> pd.Series:
    """One attribute (`key "value";`, `key` a name or names joined by |) of GTF rows, NA where a
    row lacks it; a `required` one every row must have (`user`: the message for a user's GTF)."""
    values = rows["attrs"].str.extract(f'(?:^|; ?)(?:{key}) "([^"]*)"', expand=False)
    if required and values.isna().any():
        line = skip + 1 + values.index[values.isna()][0]
        name = " or ".join(key.split("|"))
        if user:
            raise InputError(
                f"{path}: line {line}: no {name} attribute in column 9, but every gene and exon "
                f"line of a GTF names its gene with {name}. Check that {_USER_GTF} is a GTF (not "
                "GFF3) and the one your counts were made with."
            )
        raise InputError(
            f"{path}: line {line}: no {name} attribute in column 9. This is not a GENCODE GTF: "
            f"{REDOWNLOAD}."
        )
    return values


def _exon_union_length(exons) -> pd.Series:
    """Base pairs covered by each gene's exons (integer arrays gene, chrom, strand, start, end;
    1-based, inclusive), indexed by gene: the union on each chromosome and strand, summed over
    them, as rnanorm's GTF lengths (one gene_id can name loci on chrX and chrY)."""
    order = np.lexsort([np.asarray(exons[c]) for c in ("start", "strand", "chrom", "gene")])
    new_locus = np.zeros(len(order), bool)
    new_locus[:1] = True
    for c in ("gene", "chrom", "strand"):
        new_locus[1:] |= np.diff(np.asarray(exons[c])[order]) != 0
    start, end = (np.asarray(exons[c], np.int64)[order] for c in ("start", "end"))
    gene = np.asarray(exons["gene"])[order[new_locus]]  # one per locus
    del order
    # the reach of a locus' exons so far: a running maximum of end, each locus lifted above the
    # one before it so that the maximum restarts there
    locus = np.cumsum(new_locus)
    lift = locus * (int(end.max()) - int(end.min()) + 1 if len(end) else 0)
    reach = np.maximum.accumulate(end + lift) - lift
    del lift
    new_block = new_locus  # a block of overlapping, nested or shared exons ends at a gap
    new_block[1:] |= start[1:] > reach[:-1]
    first = np.flatnonzero(new_block)
    spans = np.maximum.reduceat(end, first) - start[first] + 1 if len(first) else first
    return pd.Series(spans, dtype=np.int64).groupby(gene[locus[first] - 1]).sum()


def read_xena_matrix(
    path: str | os.PathLike, keep_genes=None, keep_samples=None, chunksize: int = CHUNK_ROWS
) -> pd.DataFrame:
    """UCSC Xena's gene matrix (header `sample`, then sample ids; one row per gene) as float32
    genes x samples, values as in the file. Only `keep_genes` / `keep_samples` (those the file
    has) are kept; None keeps all."""
    _, columns = _header(path)
    if columns[0] != "sample":
        raise InputError(
            f"{path}: line 1 starts with '{columns[0][:40]}', not 'sample': this is not a UCSC "
            f"Xena gene matrix (TcgaTargetGtex_rsem_gene_tpm): {REDOWNLOAD}."
        )
    samples = _wanted(columns[1:], keep_samples)
    frame, _ = _read_gene_rows(
        path, skiprows=0, columns=columns, samples=samples, keep_genes=keep_genes,
        dtype=np.float32, chunksize=chunksize,
    )  # fmt: skip
    return frame


def read_gct(
    path: str | os.PathLike, keep_genes=None, keep_samples=None, chunksize: int = CHUNK_ROWS
) -> pd.DataFrame:
    """A GCT 1.2 matrix (GTEx portal TPM) as float32 genes x samples; Description is dropped.

    Line 1 `#1.2`, line 2 `<genes>\\t<samples>`, line 3 `Name\\tDescription\\t<samples>`; the
    counts of line 2 are checked against the file. Only `keep_genes` / `keep_samples` (those the
    file has) are kept; None keeps all.
    """
    with _reading(path), _open_text(path) as f:
        version, counts, header = (f.readline().rstrip("\r\n") for _ in range(3))
    if version != "#1.2":
        raise InputError(
            f"{path}: line 1 is '{version[:20]}', not '#1.2': this is not a GCT 1.2 file: "
            f"{REDOWNLOAD}."
        )
    if not re.fullmatch(r"\d+\t\d+", counts):
        raise InputError(
            f"{path}: line 2 is '{counts[:40]}', not the numbers of genes and of samples separated "
            f"by a tab, as GCT 1.2 has: {REDOWNLOAD}."
        )
    n_genes, n_samples = (int(n) for n in counts.split("\t"))
    columns = header.split("\t")
    if columns[:2] != ["Name", "Description"]:
        raise InputError(
            f"{path}: line 3 starts with {columns[:2]}, not ['Name', 'Description'] as GCT 1.2 "
            f"has: {REDOWNLOAD}."
        )
    if len(columns) - 2 != n_samples:
        raise InputError(
            f"{path}: line 2 declares {n_samples} samples but the header (line 3) has "
            f"{len(columns) - 2}. The file is truncated or altered: {REDOWNLOAD}."
        )
    frame, rows = _read_gene_rows(
        path, skiprows=2, columns=columns, samples=_wanted(columns[2:], keep_samples),
        keep_genes=keep_genes, dtype=np.float32, chunksize=chunksize,
    )  # fmt: skip
    if rows != n_genes:
        raise InputError(
            f"{path}: line 2 declares {n_genes} genes but the file has {rows} gene rows. The "
            f"file is truncated or altered: {REDOWNLOAD}."
        )
    return frame


def read_gtex_attributes(path: str | os.PathLike) -> pd.DataFrame:
    """GTEx's sample attributes (SampleAttributesDS): SAMPID, SMTS, SMTSD, SMAFRZE and the rest."""
    return _read_tsv(path, GTEX_ATTRIBUTES, "GTEx's sample attributes (SampleAttributesDS)")


def read_xena_phenotype(path: str | os.PathLike) -> pd.DataFrame:
    """UCSC Xena's TcgaTargetGTEX_phenotype: sample, detailed_category, _study, ... (latin-1)."""
    return _read_tsv(
        path, XENA_PHENOTYPE, "UCSC Xena's TcgaTargetGTEX_phenotype table", XENA_PHENOTYPE_ENCODING
    )


def _recount3_column(name: str) -> str:
    """A recount3 metadata column as the raw file names it: lowercase, no `tcga.` prefix."""
    return name.lower().removeprefix(RECOUNT3_ORIGIN)


def read_recount3_metadata(path: str | os.PathLike) -> pd.DataFrame:
    """A recount3 TCGA project's metadata (tcga.tcga.<PROJECT>.MD.gz); barcodes are checked.

    Columns as the raw file names them (rail_id, external_id, study, tcga_barcode,
    gdc_cases.project.project_id, ...); a table written from recount3's R object, whose names
    carry a `tcga.` prefix, reads the same.
    """
    frame = _read_tsv(
        path,
        ["rail_id", RECOUNT3_ID, RECOUNT3_BARCODE, RECOUNT3_PROJECT],
        "recount3's TCGA metadata (tcga.tcga.<PROJECT>.MD.gz)",
        names=_recount3_column,
    )
    _check_barcodes(frame[RECOUNT3_BARCODE], path, RECOUNT3_BARCODE)
    return frame


def read_recount3_sums(
    path: str | os.PathLike, keep_genes=None, keep_samples=None, chunksize: int = CHUNK_ROWS
) -> pd.DataFrame:
    """recount3 gene sums (tcga.gene_sums.<PROJECT>.G026.gz) as float64 genes x samples.

    Values are base-pair coverage sums; columns are the header's sample ids: the metadata's
    external_id (recount3's create_rse_manual requires the two to be identical).
    """
    skip, columns = _header(path, "##")
    if columns[0] != "gene_id":
        raise InputError(
            f"{path}: line {skip + 1} starts with '{columns[0][:40]}', not 'gene_id': this is "
            f"not a recount3 gene sums file: {REDOWNLOAD}."
        )
    frame, _ = _read_gene_rows(
        path, skiprows=skip, columns=columns, samples=_wanted(columns[1:], keep_samples),
        keep_genes=keep_genes, dtype=np.float64, chunksize=chunksize,
    )  # fmt: skip
    return frame


def _check_sums_samples(path, ids: pd.Series, metadata_path) -> None:
    """Stop at once when none of a project's samples (external ids) is a gene sums column."""
    skip, columns = _header(path, "##")
    if ids.empty or ids.isin(columns[1:]).any():
        return
    raise InputError(
        f"{path}: none of the {len(ids)} primary tumours of {metadata_path} is a column of these "
        f"gene sums: its header (line {skip + 1}) names {columns[1:3]}..., the metadata's "
        f"{RECOUNT3_ID} column {ids.head(2).tolist()}... recount3 names gene sums columns by "
        f"external_id, so the two files are of different projects or releases: {REDOWNLOAD}."
    )


def tpm_from_coverage(sums: pd.DataFrame, lengths: pd.Series) -> pd.DataFrame:
    """TPM (genes x samples) from base-pair coverage sums and gene lengths in base pairs.

    rate = sum / length, TPM = rate / sum(rate) x 1e6 over all genes given: a coverage sum is
    reads x read length, so the read length cancels. Genes without a length are left out.
    """
    known = sums.index.isin(lengths.index)
    if not known.all():
        log.warning(
            "%d genes of the coverage sums have no length in the annotation and are left out, "
            "e.g. %s",
            int((~known).sum()),
            list(sums.index[~known][:5]),
        )
    sums = sums[known]
    tpm = stats.tpm_from_counts(sums.to_numpy().T, lengths.reindex(sums.index).to_numpy())
    return pd.DataFrame(tpm.T, index=sums.index, columns=sums.columns)


# --- TCGA barcodes ---------------------------------------------------------------------------


def parse_tcga_barcode(barcode: str) -> dict[str, str | None]:
    """The fields of a TCGA sample or aliquot barcode, e.g. TCGA-BC-A10Q-01A-11R-A131-07.

    sample (TCGA-BC-A10Q-01, 15 characters), participant (TCGA-BC-A10Q), sample_type (01), vial
    (A), portion (11), analyte (R), plate (A131), centre (07); fields a shorter barcode lacks are
    None.
    """
    match = TCGA_BARCODE.fullmatch(str(barcode))
    if match is None:
        raise InputError(
            f"'{barcode}' is not a TCGA sample or aliquot barcode (like TCGA-02-0047-01 or "
            "TCGA-BC-A10Q-01A-11R-A131-07): fix or remove it."
        )
    fields = match.groupdict()
    return {"sample": f"{fields['participant']}-{fields['sample_type']}", **fields}


def _check_barcodes(barcodes: pd.Series, path, column: str) -> None:
    """Parse every barcode; the first bad one is reported with its file line and column."""
    for index, barcode in barcodes.items():
        try:
            parse_tcga_barcode(barcode)
        except InputError as e:
            raise InputError(f"{path}: line {index + 2}, column '{column}': {e}") from e


def _primary_types(project: str) -> tuple[str, ...]:
    """The sample type codes of a TCGA project's primary tumours."""
    return (PRIMARY_BLOOD_CANCER,) if project == "LAML" else (PRIMARY_TUMOUR,)


def select_tcga_aliquots(barcodes: pd.Series, project: str) -> pd.Series:
    """One project's primary-tumour aliquots, one per sample.

    `barcodes`: aliquot (or 15-character sample) barcodes. Returns the kept entries as their
    15-character sample barcodes, indexed like `barcodes`, in barcode order; of a sample's
    aliquots the one whose barcode sorts first is kept.
    """
    parsed = pd.DataFrame.from_records(
        [parse_tcga_barcode(b) for b in barcodes], columns=BARCODE_FIELDS, index=barcodes.index
    )
    parsed["barcode"] = barcodes
    primary = parsed[parsed["sample_type"].isin(_primary_types(project))]
    kept = primary.sort_values("barcode", kind="stable").drop_duplicates("sample")
    log.info(
        "TCGA %s: %d of %d aliquots kept (primary tumour, type %s; one per sample)",
        project,
        len(kept),
        len(barcodes),
        "/".join(_primary_types(project)),
    )
    return kept["sample"]


# --- names -----------------------------------------------------------------------------------


def _class_name(prefix: str, name: str) -> str:
    """`<prefix>_<name>` with every run of non-alphanumeric characters as one underscore."""
    return f"{prefix}_" + re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def _tissue_word(name: str) -> str:
    """A tissue as a lowercase word: `Adipose Tissue` -> `adipose_tissue`."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def tissues(tcga_projects=None, projects=PROJECTS) -> dict[str, tuple[int, int]]:
    """{tissue word: (normal, cancer) classes} a built cohort can hold: GTEx v8's tissues by
    SMTS (not the `SMALL` ones) and the TCGA projects of each tissue among `tcga_projects` (all
    when None; lung: GTEx_Lung, TCGA_LUAD and TCGA_LUSC)."""
    normal = collections.Counter(
        _tissue_word(smts) for smts, smtsd in GTEX_TISSUES if smtsd not in SMALL
    )
    cancer = collections.Counter(
        t for code, t in _project_tissues(projects).items()
        if tcga_projects is None or code in tcga_projects
    )  # fmt: skip
    return {t: (normal[t], cancer[t]) for t in sorted(normal | cancer)}


@functools.cache
def _project_tissues(path: str | os.PathLike) -> dict[str, str]:
    """{code: tissue} of the TCGA project table, read once (the cost model asks often)."""
    table = _read_projects(path)
    return dict(zip(table["code"], table["tissue"], strict=True))


def _read_projects(path: str | os.PathLike = PROJECTS) -> pd.DataFrame:
    """The TCGA project table: code, name (UCSC Xena's disease name), tissue."""
    return _read_tsv(
        path, ["code", "name", "tissue"], "the TCGA project table (code, name, tissue)"
    )


# --- building a cohort -----------------------------------------------------------------------


def _toil_sheet(
    pheno: pd.DataFrame, projects: pd.DataFrame, path, keep_projects: list[str] | None = None
) -> pd.DataFrame:
    """GTEx samples and TCGA primary tumours of the Xena phenotype (of `keep_projects` only, when
    given); TARGET and others dropped."""
    study = pheno["_study"]
    others = _counts(study[~study.isin(["GTEX", "TCGA"])])
    if others:
        log.info("%s: samples of other studies left out: %s", path, others)
    gtex = pheno[study == "GTEX"]
    normal = pd.DataFrame(
        {
            "sample": gtex["sample"],
            "class": [_class_name("GTEx", c) for c in gtex["detailed_category"]],
            "tissue": gtex["_primary_site"].map(_tissue_word),
            "status": "normal",
            "study": "GTEx",
            "project": "",
        }
    )
    tcga = pheno[study == "TCGA"]
    _check_barcodes(tcga["sample"], path, "sample")
    code_of = dict(zip(projects["name"].str.lower(), projects["code"], strict=True))
    codes = tcga["detailed_category"].str.lower().map(code_of)
    codes = codes.fillna(tcga["primary disease or tissue"].str.lower().map(code_of))
    unknown = _counts(tcga["detailed_category"][codes.isna()])
    if unknown:
        log.warning(
            "%s: %d TCGA disease name(s) not in the project table, their classes are named "
            "after them: %s. Add them to resources/tcga_projects.tsv to use project codes.",
            path,
            len(unknown),
            unknown,
        )
    names = tcga["detailed_category"].map(lambda n: _class_name("TCGA", n))
    tissue_of = dict(zip(projects["code"], projects["tissue"], strict=True))
    cancer = pd.DataFrame(
        {
            "sample": tcga["sample"],
            "class": ("TCGA_" + codes).fillna(names),
            "tissue": codes.map(tissue_of).fillna(tcga["_primary_site"].map(_tissue_word)),
            "status": "cancer",
            "study": "TCGA",
            "project": codes.fillna(""),
        }
    )
    kept = [
        select_tcga_aliquots(rows["sample"], cls.removeprefix("TCGA_")).index
        for cls, rows in cancer.groupby("class")
    ]
    cancer = cancer.loc[sorted(i for index in kept for i in index)]
    if keep_projects:
        wanted = cancer["project"].isin(keep_projects)
        log.info(
            "%s: TCGA primary tumours of projects other than %s left out: %s",
            path, keep_projects, _counts(cancer["class"][~wanted]),
        )  # fmt: skip
        cancer = cancer[wanted]
    sheet = pd.concat([normal, cancer])
    for source in XENA_PHENOTYPE[1:5]:
        sheet[source.strip("_").replace(" ", "_")] = pheno.loc[sheet.index, source]
    return sheet.reset_index(drop=True)


def _gtex_sheet(attributes: pd.DataFrame, path) -> pd.DataFrame:
    """GTEx samples of the RNA-seq release."""
    released = attributes[attributes["SMAFRZE"] == "RNASEQ"]
    log.info(
        "%s: %d of %d samples in the RNA-seq release (SMAFRZE == RNASEQ)",
        path,
        len(released),
        len(attributes),
    )
    return pd.DataFrame(
        {
            "sample": released["SAMPID"],
            "class": [_class_name("GTEx", t) for t in released["SMTSD"]],
            "tissue": released["SMTS"].map(_tissue_word),
            "status": "normal",
            "study": "GTEx",
            "project": "",
            "smts": released["SMTS"],
            "smtsd": released["SMTSD"],
        }
    )


def _recount3_sheet(metadata: pd.DataFrame, project: str, tissue: str, path) -> pd.DataFrame:
    """One TCGA project's primary tumours, one aliquot each, from its recount3 metadata."""
    wrong = metadata[RECOUNT3_PROJECT] != f"TCGA-{project}"
    if wrong.any():
        index = wrong.idxmax()
        raise InputError(
            f"{path}: line {index + 2}, column '{RECOUNT3_PROJECT}': "
            f"'{metadata[RECOUNT3_PROJECT][index]}', but this file is configured as "
            f"TCGA-{project}. "
            f"Fix the project's metadata URL and {REDOWNLOAD}."
        )
    kept = select_tcga_aliquots(metadata[RECOUNT3_BARCODE], project)
    return pd.DataFrame(
        {
            "sample": kept,
            "class": f"TCGA_{project}",
            "tissue": tissue,
            "status": "cancer",
            "study": "TCGA",
            "project": project,
            "barcode": metadata[RECOUNT3_BARCODE],
            "rail_id": metadata["rail_id"],
            "external_id": metadata[RECOUNT3_ID],
        },
        index=kept.index,
    )


def _counts(values: pd.Series) -> dict[str, int]:
    """How often each value occurs, by value, for a log line."""
    return {name: int(n) for name, n in values.value_counts().sort_index().items()}


def _drop_small_classes(sheet: pd.DataFrame, min_class_size: int) -> pd.DataFrame:
    sizes = _counts(sheet["class"])
    small = {name: n for name, n in sizes.items() if n < min_class_size}
    if small:
        log.warning(
            "%d class(es) with fewer than %d samples (data.min_class_size) left out: %s",
            len(small),
            min_class_size,
            small,
        )
    return sheet[~sheet["class"].isin(list(small))]


def _write_cohort(
    sheet: pd.DataFrame,
    matrices: list[pd.DataFrame],
    genes: pd.DataFrame,
    min_class_size: int,
    out_expression,
    out_samples,
    out_genes,
) -> None:
    """Keep the sheet's samples found in a matrix (genes x samples), drop small classes, keep the
    genes every matrix has, and write the expression, sample sheet and annotation files."""
    if sheet.empty:
        raise InputError(
            "no GTEx or TCGA sample is in the sample annotation: point the config at the "
            f"source's own annotation file and {REDOWNLOAD}."
        )
    found = sheet["sample"].isin(set().union(*(m.columns for m in matrices)))
    for study, rows in sheet.groupby("study"):
        if not found[rows.index].any():
            raise InputError(
                f"none of the {len(rows)} {study} samples of the annotation (e.g. "
                f"{rows['sample'].head(2).tolist()}) is in the expression file(s): the annotation "
                f"and the matrix are of different releases or name samples differently: "
                f"{REDOWNLOAD}."
            )
    if not found.all():
        log.warning(
            "%d annotated samples are missing from the expression file(s) and left out, e.g. %s",
            int((~found).sum()),
            sheet["sample"][~found].tolist()[:5],
        )
    kept = _drop_small_classes(sheet[found], min_class_size)
    lost = sorted(set(sheet["study"]) - set(kept["study"]))
    if lost:
        raise InputError(
            f"every {lost[0]} class has fewer than {min_class_size} samples "
            f"(data.min_class_size), so no {lost[0]} sample is left: lower data.min_class_size "
            "or add samples."
        )
    sheet = kept
    shared = genes["gene"].isin(set.intersection(*(set(m.index) for m in matrices)))
    if not shared.any():
        raise InputError(
            "no protein-coding gene of the annotation GTF is in the expression file(s): check "
            "that both come from the same GENCODE release."
        )
    if not shared.all():
        log.warning(
            "%d protein-coding genes are missing from the expression file(s) and left out, e.g. %s",
            int((~shared).sum()),
            genes["gene"][~shared].tolist()[:5],
        )
    genes = genes[shared].reset_index(drop=True)
    wanted = set(sheet["sample"])
    columns = [[c for c in m.columns if c in wanted] for m in matrices]
    samples = [c for cols in columns for c in cols]
    values = np.empty((len(samples), len(genes)), dtype=np.float32)
    row = 0
    for matrix, cols in zip(matrices, columns, strict=True):
        values[row : row + len(cols)] = matrix.loc[genes["gene"], cols].to_numpy(np.float32).T
        row += len(cols)
    sheet = sheet.set_index("sample").loc[samples].reset_index()
    io.write_expression(samples, genes["gene"].tolist(), values, out_expression)
    with io.atomic_path(out_samples) as tmp:
        sheet.to_csv(tmp, sep="\t", index=False)
    io.write_table(genes, out_genes)
    log.info(
        "wrote %d samples x %d genes in %d classes",
        len(samples),
        len(genes),
        sheet["class"].nunique(),
    )


def _protein_coding(genes: pd.DataFrame) -> pd.DataFrame:
    """Protein-coding genes, without the chrY copies of pseudo-autosomal genes."""
    keep = (genes["biotype"] == "protein_coding") & ~genes["gene"].str.contains(PAR_Y)
    return genes[keep].reset_index(drop=True)


def build_toil(
    *,
    expression,
    phenotype,
    gtf,
    out_expression,
    out_samples,
    out_genes,
    min_class_size: int,
    projects=PROJECTS,
    tcga_projects: list[str] | None = None,
    chunksize: int = CHUNK_ROWS,
) -> None:
    """A GTEx + TCGA cohort from UCSC Xena's TcgaTargetGtex table (gene TPM, phenotype, GTF):
    GTEx's V6 samples and TCGA's, recomputed by one pipeline; TCGA of `tcga_projects` only when
    given.

    Values stay log2(TPM + 0.001) as in the file: READ["toil"] declares that scale to the data
    stage.
    """
    genes = _protein_coding(read_gtf_genes(gtf))
    pheno, table = read_xena_phenotype(phenotype), _read_projects(projects)
    sheet = _toil_sheet(pheno, table, phenotype, tcga_projects)
    matrix = read_xena_matrix(expression, set(genes["gene"]), sheet["sample"], chunksize)
    _write_cohort(sheet, [matrix], genes, min_class_size, out_expression, out_samples, out_genes)


def build_portal(
    *,
    gtex_tpm,
    gtex_attributes,
    tcga_sums: dict,
    tcga_metadata: dict,
    gtf,
    out_expression,
    out_samples,
    out_genes,
    min_class_size: int,
    projects=PROJECTS,
    chunksize: int = CHUNK_ROWS,
) -> None:
    """A GTEx + TCGA cohort in TPM from the GTEx portal (v8 TPM GCT, sample attributes) and
    recount3 (per TCGA project: gene sums, metadata; `tcga_sums` and `tcga_metadata` map project
    codes such as LIHC to files). TCGA TPM is computed over every gene with a GTF length."""
    annotation = read_gtf_genes(gtf)
    genes = _protein_coding(annotation)
    coding = set(genes["gene"])
    lengths = annotation.set_index("gene")["length"]
    tissue_of = dict(_read_projects(projects)[["code", "tissue"]].itertuples(index=False))
    gtex = _gtex_sheet(read_gtex_attributes(gtex_attributes), gtex_attributes)
    sheets, matrices = [gtex], [read_gct(gtex_tpm, coding, gtex["sample"], chunksize)]
    for project, sums_path in tcga_sums.items():
        if project not in tissue_of:
            log.warning("TCGA project %s is not in %s: its tissue is its code", project, projects)
        meta_path = tcga_metadata[project]
        tissue = tissue_of.get(project, project.lower())
        sheet = _recount3_sheet(read_recount3_metadata(meta_path), project, tissue, meta_path)
        _check_sums_samples(sums_path, sheet[RECOUNT3_ID], meta_path)
        sums = read_recount3_sums(sums_path, keep_samples=sheet[RECOUNT3_ID], chunksize=chunksize)
        tpm = tpm_from_coverage(sums, lengths)
        sample_of = dict(zip(sheet[RECOUNT3_ID], sheet["sample"], strict=True))
        matrices.append(tpm[tpm.index.isin(coding)].rename(columns=sample_of))
        sheets.append(sheet)
    sheet = pd.concat(sheets, ignore_index=True)
    _write_cohort(sheet, matrices, genes, min_class_size, out_expression, out_samples, out_genes)


def run(
    *, source: str, files: dict, tcga_projects: list, min_class_size: int, projects=PROJECTS,
    out_expression, out_samples, out_genes,
) -> None:  # fmt: skip
    """Build the cohort of `source` (toil or portal) from its downloaded `files`, named as
    `txai.plan.source_files` names them ({source}_{key}, per project for tcga_* keys)."""
    out = {"out_expression": out_expression, "out_samples": out_samples, "out_genes": out_genes,
           "min_class_size": min_class_size, "projects": projects}  # fmt: skip
    if source == "toil":
        build_toil(expression=files["toil_expression"], phenotype=files["toil_phenotype"],
                   gtf=files["toil_gtf"], tcga_projects=tcga_projects, **out)  # fmt: skip
    else:
        build_portal(
            gtex_tpm=files["portal_gtex_tpm"], gtex_attributes=files["portal_gtex_attributes"],
            tcga_sums={p: files[f"portal_tcga_sums_{p}"] for p in tcga_projects},
            tcga_metadata={p: files[f"portal_tcga_metadata_{p}"] for p in tcga_projects},
            gtf=files["portal_gtf"], **out,
        )  # fmt: skip
