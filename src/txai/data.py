"""The data stage: a cohort (matrix + sample sheet + optional annotation) to txai's contracts.

Values end as log2(TPM + 1) (PAPER-DIGEST.md section 1). The input scale is declared, never
guessed, and values that contradict it stop the run, so nothing is logged twice. Every problem
stops before anything is written, with a message that names the file, the row or column, and
the fix.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml

from txai import io, sources, stats
from txai.io import InputError

log = logging.getLogger(__name__)

MAX_LOG2_TPM = float(np.log2(1e6 + 1))  # a single gene holding every transcript
TPM_SUM_TOLERANCE = 1.01
# log2 files are printed with few decimals: UCSC Xena writes a zero as -9.9658, below
# log2(0.001) = -9.96578. The bounds of the log2 scale allow rounding to 2 decimals; TPM below 0
# after undoing the pseudocount is clipped to 0.
LOG2_ROUNDING = 0.01


def _raw_header(path) -> list[str]:
    """A text table's first line as written: pandas renames repeated column names."""
    return io.read_user_table(path, nrows=1, header=None, dtype=str).iloc[0].tolist()


def _first(mask: np.ndarray) -> tuple[int, int]:
    return tuple(int(x) for x in np.argwhere(mask)[0])


def _duplicates(ids: list[str], path, what: str) -> None:
    seen = pd.Index(ids)
    if seen.has_duplicates:
        dup = seen[seen.duplicated()].unique()
        note = " (Ensembl version suffixes are stripped before comparing)" if what == "gene" else ""
        raise InputError(
            f"{path}: {len(dup)} duplicate {what} id(s), first '{dup[0]}'{note}. Each {what} "
            "must appear once: remove or merge the repeated ones."
        )


def read_matrix(path, genes_in: str = "rows") -> tuple[list[str], list[str], np.ndarray]:
    """Read an expression matrix as (samples, genes, float64 array samples x genes).

    `genes_in="rows"`: first column gene ids, one column per sample (the usual layout);
    `"columns"`: first column sample ids, one column per gene.
    """
    row_kind, col_kind = ("gene", "sample") if genes_in == "rows" else ("sample", "gene")
    path = Path(path)
    if str(path).lower().endswith(".parquet"):
        frame = io.read_user_table(path)
        frame = frame.set_index(frame.columns[0])
        header = list(frame.columns)
    else:
        # pandas renames repeated column names, so duplicates are looked for in the raw header.
        header = _raw_header(path)
        frame = io.read_user_table(path, index_col=0, dtype={header[0]: str})
        header = header[1:]
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InputError(f"{path}: the matrix is empty (no {row_kind}s or no {col_kind}s).")
    _duplicates([str(h) for h in header], path, col_kind)
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            values = pd.to_numeric(frame[column], errors="coerce")
            bad = values.isna() & frame[column].notna()
            if bad.any():
                raise InputError(
                    f"{path}: {row_kind} '{bad.idxmax()}', {col_kind} '{column}': "
                    f"'{frame[column][bad].iloc[0]}' is not a number. Every value must be numeric."
                )
            frame[column] = values
    values = frame.to_numpy(dtype=np.float64)
    rows = io.strip_version([str(i) for i in frame.index])
    cols = [str(c) for c in frame.columns]
    if genes_in == "rows":
        genes, samples, values = rows, cols, values.T
    else:
        samples, genes = rows, io.strip_version(cols)
    _duplicates(genes, path, "gene")
    _duplicates(samples, path, "sample")
    if not np.isfinite(values).all():
        s, g = _first(~np.isfinite(values))
        raise InputError(
            f"{path}: gene '{genes[g]}', sample '{samples[s]}': missing or infinite value "
            f"({values[s, g]}). Fill it (0 for an unexpressed gene) or drop the gene or sample."
        )
    return samples, genes, values


def matrix_dims(path, genes_in: str = "rows") -> dict[str, int]:
    """The matrix's samples and genes, without reading its values: a Parquet file's schema and
    row count, a text file's header and line count (a last line without newline included)."""
    path = io.user_file(path)
    if str(path).lower().endswith(".parquet"):
        with io.reading(path, io.RESAVE, io.AS_UTF8):
            meta = pq.ParquetFile(path).metadata
        rows, columns = meta.num_rows, meta.num_columns - 1
    else:
        columns = len(_raw_header(path)) - 1
        rows, last = -1, b"\n"  # the header line is not a row
        with io.reading(path, io.RESAVE, io.AS_UTF8):
            with (gzip.open if io.compression(path) else open)(path, "rb") as f:
                while block := f.read(1 << 24):
                    rows, last = rows + block.count(b"\n"), block[-1:]
        rows += last != b"\n"
    return (
        {"genes": rows, "samples": columns}
        if genes_in == "rows"
        else {"samples": rows, "genes": columns}
    )


def check_size(observed: dict[str, int], size: tuple[dict, str] | None, tolerance: float, path):
    """Stop when a count of `observed` (samples, genes, classes) is further than `tolerance`
    (relative) from the declared size (`size`: the declaration and its config key)."""
    if size is None:
        return
    declared, key = size
    off = [k for k, n in observed.items() if abs(n - declared[k]) > tolerance * declared[k]]
    if not off:
        return

    def shown(counts: dict) -> str:
        return ", ".join(f"{counts[k]:,} {k}" for k in observed)

    fix = ", ".join(f"{k}: {n}" for k, n in observed.items())
    raise InputError(
        f"{path}: the cohort has {shown(observed)}, but {key} declares {shown(declared)}: "
        f"{' and '.join(off)} differ by more than data.size_tolerance ({tolerance:.0%}). Every "
        f"job's memory and runtime are computed from the declaration, so declare the cohort's "
        f"own counts in {key} ({fix}) and rerun; the files built so far are kept."
    )


def to_tpm(
    values: np.ndarray, scale: str, pseudocount: float = 1.0, lengths_bp: np.ndarray | None = None
) -> np.ndarray:
    """TPM (float64, samples x genes) from values on their declared scale, each sample on its
    own: a subset of samples gives the same rows as the whole matrix."""
    if scale == "counts":
        return stats.tpm_from_counts(values, lengths_bp)
    if scale == "tpm":
        return values
    return np.clip(np.exp2(values) - pseudocount, 0.0, None)


def class_medians(classes, genes: list[str], tpm_of) -> pd.DataFrame:
    """Median TPM per class, classes (sorted) x genes: `tpm_of(rows)` gives the TPM of the
    samples at positions `rows` (float64, unrounded), one class at a time, so memory is about
    the largest class."""
    classes = np.asarray(classes)
    names = sorted(set(classes))
    medians = np.stack([np.median(tpm_of(np.flatnonzero(classes == c)), axis=0) for c in names])
    return pd.DataFrame(medians, index=pd.Index(names, name="class"), columns=list(genes))


def to_log2_tpm(
    values: np.ndarray,
    scale: str,
    path,
    samples: list[str],
    genes: list[str],
    pseudocount: float = 1.0,
    lengths_bp: np.ndarray | None = None,
    origin: str | None = None,
) -> np.ndarray:
    """Convert a matrix on its declared scale to log2(TPM + 1), refusing contradicting values.

    `origin`: where the scale was declared when the user did not declare it in cohort.files
    (e.g. `cohort.source: toil`); a contradiction then means the file is not what that source
    serves, and the message says so instead of suggesting another scale.
    """
    with_pseudocount = f" with pseudocount {pseudocount:g}" if scale == "log2" else ""

    def refuse(problem: str, hint: str) -> InputError:
        if origin is None:
            head = f"{path}: declared cohort.files.scale: {scale}{with_pseudocount}"
            return InputError(f"{head}, but {problem}. {hint}")
        return InputError(
            f"{path}: {origin} declares scale {scale}{with_pseudocount}, but {problem}. The file "
            "is not what that source serves: check its URLs and checksums in the config."
        )

    if scale in ("counts", "tpm") and (values < 0).any():
        s, g = _first(values < 0)
        raise refuse(
            f"gene '{genes[g]}' in sample '{samples[s]}' is {values[s, g]:g}: {scale} cannot be "
            "negative",
            "If the values are log-transformed, set scale: log2.",
        )
    if scale == "counts":
        fractional = values != np.round(values)
        if fractional.any():
            s, g = _first(fractional)
            raise refuse(
                f"gene '{genes[g]}' in sample '{samples[s]}' is {values[s, g]:g}: counts are "
                "whole numbers",
                "If these are TPM, set scale: tpm.",
            )
    elif scale == "tpm":
        if values.max() <= MAX_LOG2_TPM:
            raise refuse(
                f"no value exceeds {MAX_LOG2_TPM:.2f}: these look like log2 values, not TPM",
                "Set scale: log2 (and its pseudocount).",
            )
    else:
        low, high = np.log2(pseudocount), np.log2(1e6 + pseudocount)
        for bad, bound, fix in (
            (values < low - LOG2_ROUNDING, f"below log2({pseudocount:g}) = {low:.4f}",
             "pseudocount"),
            (values > high + LOG2_ROUNDING, f"above log2(1e6 + {pseudocount:g}) = {high:.4f}",
             "scale"),
        ):  # fmt: skip
            if bad.any():
                s, g = _first(bad)
                raise refuse(
                    f"gene '{genes[g]}' in sample '{samples[s]}' is {values[s, g]:g}, {bound}",
                    f"Check cohort.files.{fix}.",
                )
    tpm = to_tpm(values, scale, pseudocount, lengths_bp)
    sums = tpm.sum(axis=1)
    if sums.max() > 1e6 * TPM_SUM_TOLERANCE:
        s = int(sums.argmax())
        raise refuse(
            f"sample '{samples[s]}' sums to {sums[s]:.4g} TPM; TPM sums to at most 1e6 per sample",
            "If these are read counts, set scale: counts (with gene lengths).",
        )
    if scale == "log2" and pseudocount == 1:
        return values  # already log2(TPM + 1): kept as given, not round-tripped
    return np.log2(tpm + 1.0)


# Cells read as missing, as spreadsheets and R write them; a label's surrounding whitespace is
# dropped. Columns the data stage writes into results/data/samples.parquet.
MISSING = ("", "NA", "NaN", "nan", "N/A", "n/a", "NULL", "null", "None", "#N/A", "<NA>")
WRITTEN = ("class_index", "split")


def read_sheet(path) -> pd.DataFrame:
    """A sample sheet as spreadsheets write it: each cell a string or None (`MISSING` cells),
    class and tissue without surrounding whitespace (`Liver ` is `Liver`), status also in lower
    case, ids stored as numbers in a Parquet file as their digits. A header naming a column
    twice (a sheet merged from two) is refused."""
    path = io.user_file(path)
    if str(path).lower().endswith(".parquet"):
        with io.reading(path, io.RESAVE, io.AS_UTF8):
            header = pq.read_schema(path).names
        sheet = io.read_user_table(path)
    else:
        header = _raw_header(path)
        sheet = io.read_user_table(path, dtype=str, keep_default_na=False)
    repeated = pd.Index(header)[pd.Index(header).duplicated()].unique().tolist()
    if repeated:
        raise InputError(
            f"{path}: column(s) {repeated} appear more than once in the header (sheets merged "
            "side by side?). Keep one column of each name: delete or rename the others."
        )
    cells = {
        column: pd.Series(
            [_cell(v, column in ("class", "tissue", "status"), column == "status") for v in values],
            dtype=object,
        )
        for column, values in sheet.items()
    }
    return pd.DataFrame(cells)


def _cell(value, label: bool, lower: bool) -> str | None:
    if pd.isna(value):
        return None
    text = str(value).strip() if label else str(value)
    text = text.lower() if lower else text
    return None if text in MISSING else text


def _one_spelling(labels: pd.Series, column: str, path) -> None:
    """Refuse labels that differ only in case (`Liver_normal`, `liver_normal`): each spelling
    would be a class or tissue of its own."""
    labels = labels.dropna()
    spellings = labels.groupby(labels.str.casefold()).unique()
    split = spellings[spellings.map(len) > 1]
    if len(split):
        counts = labels.value_counts()
        shown = ", ".join(f"'{v}' ({counts[v]} rows)" for v in sorted(split.iloc[0]))
        raise InputError(
            f"{path}: column '{column}' spells one label in several ways: {shown} ({len(split)} "
            f"such label(s)). Labels are case-sensitive, so each spelling would be a {column} "
            "of its own: write every label one way."
        )


def read_sample_sheet(path, schema_path) -> pd.DataFrame:
    """Read (`read_sheet`) and validate a sample sheet; every row against
    `samples.schema.yaml`."""
    path = Path(path)
    sheet = read_sheet(path)
    validator = jsonschema.Draft202012Validator(yaml.safe_load(Path(schema_path).read_text()))
    missing = [c for c in ("sample", "class") if c not in sheet.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {missing}; a sample sheet needs 'sample' and 'class' "
            f"(found {list(sheet.columns)})."
        )
    written = [c for c in WRITTEN if c in sheet.columns]
    if written:
        raise InputError(
            f"{path}: column(s) {written} are written by txai (each class's index and the seeded "
            "train/test split of data.test_fraction, shared by every model): rename or drop them."
        )
    for i, record in enumerate(sheet.to_dict("records")):
        error = jsonschema.exceptions.best_match(validator.iter_errors(record))
        if error is not None:
            column = error.path[0] if error.path else "?"
            problem = "the cell is empty" if record.get(column) is None else error.message
            raise InputError(
                f"{path}: line {i + 2} (sample '{record.get('sample')}'), column '{column}': "
                f"{problem}. Fix the cell (see workflow/schemas/samples.schema.yaml)."
            )
    _duplicates(sheet["sample"].tolist(), path, "sample")
    _one_spelling(sheet["class"], "class", path)
    _one_spelling(tissues(sheet), "tissue", path)
    return sheet


def read_annotation(path) -> pd.DataFrame:
    """A gene annotation: column `gene`, optionally symbol, chrom, start, length, biotype."""
    frame = io.read_user_table(path, dtype={"gene": str})
    if "gene" not in frame.columns:
        raise InputError(
            f"{path}: no column 'gene' (found {list(frame.columns)}). Name the column of gene ids "
            "'gene' (the ids of the expression matrix)."
        )
    frame["gene"] = io.strip_version(frame["gene"].tolist())
    _duplicates(frame["gene"].tolist(), path, "gene")
    return frame


def _annotation(genes, gtf) -> tuple[pd.DataFrame, str]:
    """The genes annotated, and the file(s) they come from: the annotation file's (`genes`),
    with each gene's length from the GTF when there is one (the union of its exons, as rnanorm
    measures it; a gene absent from the GTF is not annotated), else the GTF's genes alone."""
    if gtf is None:
        return read_annotation(genes), str(genes)
    exons = sources.read_gtf_genes(gtf, user=True)
    if genes is None:
        return exons, str(gtf)
    table = read_annotation(genes).drop(columns="length", errors="ignore")
    added = ["gene", *[c for c in exons.columns if c not in table.columns]]
    return table.merge(exons[added], on="gene", how="inner"), f"{genes} (lengths from {gtf})"


def tissues(sheet: pd.DataFrame) -> pd.Series:
    """Each sample's tissue: the sheet's `tissue`, else its class."""
    return sheet["tissue"].fillna(sheet["class"]) if "tissue" in sheet else sheet["class"]


def tissue_classes(sheet: pd.DataFrame) -> dict[str, dict[str, int]]:
    """{tissue: {"normal": n, "cancer": n, "any": n}}: the classes of each tissue (`tissues`)
    by status, a class without status counted in `any` only; tissues in alphabetical order."""
    status = sheet["status"] if "status" in sheet else pd.Series(None, index=sheet.index)
    frame = pd.DataFrame({"tissue": tissues(sheet), "class": sheet["class"], "status": status})
    frame = frame.drop_duplicates(["tissue", "class"])
    return {
        tissue: {s: int((rows["status"] == s).sum()) for s in ("normal", "cancer")}
        | {"any": len(rows)}
        for tissue, rows in frame.groupby("tissue", sort=True)
    }


def check_focus(focus_tissues: list[str], found, where: str) -> None:
    """Every tissue named in focus_tissues is among the cohort's tissues (`found`, in `where`)."""
    absent = [t for t in focus_tissues if t not in set(found)]
    if absent:
        raise InputError(
            f"config key 'focus_tissues': {absent} not found in {where}, whose tissues are "
            f"{sorted(found)}. Name tissues found there, or set focus_tissues: [] to explain "
            "every tissue."
        )


def split(classes: pd.Series, test_fraction: float, seed: int) -> np.ndarray:
    """One seeded per-class train/test split ("train"/"test"), shared by every model."""
    out = np.full(len(classes), "train", dtype=object)
    r = io.rng(seed, "split")
    for cls in sorted(classes.unique()):
        idx = np.flatnonzero((classes == cls).to_numpy())
        n_test = max(1, round(test_fraction * idx.size))
        out[r.permutation(idx)[:n_test]] = "test"
    return out


def _match_samples(sheet: pd.DataFrame, samples: list[str], sheet_path, matrix_path) -> None:
    in_sheet, in_matrix = set(sheet["sample"]), set(samples)
    for absent, there, here, fix in (
        (in_matrix - in_sheet, matrix_path, sheet_path, "add them to the sheet or drop them"),
        (in_sheet - in_matrix, sheet_path, matrix_path, "drop them from the sheet"),
    ):
        if absent:
            first = sorted(absent)[:5]
            raise InputError(
                f"{len(absent)} sample(s) of {there} are missing from {here}, e.g. {first}: {fix}."
            )


def check_class_sizes(sheet: pd.DataFrame, min_class_size: int, path) -> None:
    """Every class of the sheet has at least `min_class_size` samples."""
    sizes = sheet["class"].value_counts()
    small = {name: int(n) for name, n in sizes[sizes < min_class_size].items()}
    if small:
        name, n = next(iter(small.items()))
        raise InputError(
            f"{path}: class '{name}' has {n} sample(s), fewer than data.min_class_size = "
            f"{min_class_size} ({len(small)} class(es) too small: {small}). Too few to split into "
            "train and test: add samples, remove the class from the sheet, or lower "
            "data.min_class_size."
        )


def run(
    *,
    expression,
    samples,
    scale: str,
    schema,
    out_expression,
    out_samples,
    out_genes,
    out_genesets,
    out_matrix,
    out_matrix_ids,
    focus_tissues: list[str],
    seed: int,
    out_medians,
    genes=None,
    gtf=None,
    genesets=None,
    genes_in: str = "rows",
    pseudocount: float = 1.0,
    protein_coding_only: bool = False,
    origin: str | None = None,
    test_fraction: float = 0.1,
    min_class_size: int = 25,
    size: tuple[dict, str] | None = None,
    size_tolerance: float = 0.25,
) -> None:
    """Validate a cohort and write `data/{expression,samples,genes}.parquet`, the matrix's
    sidecars (`io.matrix_paths`), the classes' median TPM (`class_medians`, computed from the
    values as given: the float32 matrix would move genes sitting on a TissueEnrich threshold)
    and gene sets. `gtf`: the genes' lengths for counts (`_annotation`).

    `origin`: where the scale was declared, when not in cohort.files (`to_log2_tpm`). `size`:
    the declared size and its config key (`txai.plan.declared_size`), checked before the matrix
    is read (from its header, its genes only when no annotation filters them) and after."""
    sheet = read_sample_sheet(samples, schema)
    check_focus(focus_tissues, set(tissues(sheet)), f"the tissue column of {samples}")
    before = {"samples": len(sheet)}
    if genes is None and not protein_coding_only:
        before["genes"] = matrix_dims(expression, genes_in)["genes"]
    before["classes"] = sheet["class"].nunique()
    check_size(before, size, size_tolerance, expression)
    sample_ids, gene_ids, values = read_matrix(expression, genes_in)
    _match_samples(sheet, sample_ids, samples, expression)
    log.info("%s: %d samples x %d genes", expression, len(sample_ids), len(gene_ids))

    annotation = pd.DataFrame({"gene": gene_ids})
    annotated = None
    if genes is not None or gtf is not None:
        annotation, described = _annotation(genes, gtf)
        unknown = sorted(set(gene_ids) - set(annotation["gene"]))
        if unknown and scale == "counts":
            raise InputError(
                f"{len(unknown)} gene(s) of {expression} are missing from the annotation "
                f"{described}, e.g. {unknown[:5]}: counts need every gene's length. Add them to "
                "the annotation."
            )
        if unknown:
            log.warning(
                "%d genes without annotation are dropped, e.g. %s", len(unknown), unknown[:5]
            )
        annotated = pd.Series(gene_ids).isin(annotation["gene"]).to_numpy()
        annotation = annotation.set_index("gene").reindex(gene_ids).reset_index()
    lengths = None
    if scale == "counts":
        if "length" not in annotation.columns:
            where = f"{genes} has no 'length' column" if genes else "no GTF or annotation is set"
            raise InputError(
                f"{expression}: declared cohort.files.scale: counts, which needs every gene's "
                f"length, but {where}. Set cohort.files.gtf to the GTF the reads were counted "
                "with (or cohort.files.genes to an annotation with columns 'gene' and 'length' in "
                "base pairs), or declare the matrix's true scale."
            )
        lengths = pd.to_numeric(annotation["length"], errors="coerce").to_numpy()
        if not (lengths > 0).all():
            bad = annotation["gene"][~(lengths > 0)].iloc[0]
            raise InputError(
                f"{genes}: gene '{bad}': length must be a positive number (bp). Fix the cell."
            )
    log2_tpm = to_log2_tpm(
        values, scale, expression, sample_ids, gene_ids, pseudocount, lengths, origin
    )

    keep = annotated
    if protein_coding_only:
        if "biotype" not in annotation.columns or annotation["biotype"].isna().all():
            if genes is None and gtf is None:
                where = "cohort.files.genes is not set"
            elif "biotype" in annotation.columns:
                where = f"{gtf} has no gene_type or gene_biotype attribute"
            else:
                where = f"{genes} has no 'biotype' column"
            raise InputError(
                f"config: cohort.files.protein_coding_only needs an annotation with a 'biotype' "
                f"column, but {where}. Add the column (protein_coding, lncRNA, ...) or set "
                "protein_coding_only: false."
            )
        coding = (annotation["biotype"] == "protein_coding").to_numpy()
        keep = coding if keep is None else keep & coding
    if keep is not None:
        if not keep.any():
            raise InputError(
                f"{genes or gtf}: no gene of {expression} is kept by the annotation. Use the "
                "matrix's gene ids in the annotation's 'gene' column (and, with "
                "protein_coding_only, biotype protein_coding)."
            )
        log2_tpm, annotation = log2_tpm[:, keep], annotation[keep].reset_index(drop=True)
        gene_ids = annotation["gene"].tolist()

    sheet = sheet.set_index("sample").loc[sample_ids].reset_index()
    check_class_sizes(sheet, min_class_size, samples)
    kept = slice(None) if keep is None else np.flatnonzero(keep)
    medians = class_medians(  # from the values as given, not the float32 matrix written
        sheet["class"],
        gene_ids,
        lambda rows: to_tpm(values[rows], scale, pseudocount, lengths)[:, kept],
    )
    after = {"samples": len(sample_ids), "genes": len(gene_ids), "classes": before["classes"]}
    check_size(after, size, size_tolerance, expression)
    sheet["tissue"] = tissues(sheet)
    if "status" not in sheet.columns:
        sheet["status"] = None
    classes = sorted(sheet["class"].unique())
    sheet.insert(2, "class_index", sheet["class"].map({c: i for i, c in enumerate(classes)}))
    sheet.insert(3, "split", split(sheet["class"], test_fraction, seed))
    base = ["sample", "class", "class_index", "tissue", "status", "split"]
    sheet = sheet[base + [c for c in sheet.columns if c not in base]]

    table = pd.DataFrame({"gene": gene_ids})
    for column in ("symbol", "chrom", "start", "length"):
        table[column] = annotation[column] if column in annotation.columns else None
    table["symbol"] = table["symbol"].fillna(table["gene"])
    extra = [c for c in annotation.columns if c not in table.columns]
    table = pd.concat([table, annotation[extra]], axis=1)

    sets = {}
    if genesets is not None:
        if not Path(genesets).exists():
            raise InputError(f"{genesets}: file not found. Check cohort.files.genesets.")
        kept = set(gene_ids)
        for name, (desc, members) in io.read_gmt(genesets).items():
            members = [g for g in io.strip_version(members) if g in kept]
            if members:
                sets[name] = (desc, members)

    sidecars = (out_matrix, out_matrix_ids)
    io.write_expression(sheet["sample"].tolist(), gene_ids, log2_tpm, out_expression, sidecars)
    io.write_table(sheet, out_samples)
    io.write_table(medians.reset_index(), out_medians)
    io.write_table(table, out_genes)
    io.write_gmt(sets, out_genesets)
    log.info(
        "wrote %d samples (%d test) x %d genes in %d classes",
        len(sheet),
        int((sheet["split"] == "test").sum()),
        len(gene_ids),
        len(classes),
    )
