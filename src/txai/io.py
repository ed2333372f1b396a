"""Reading and writing txai's file contracts (docs/architecture.md).

Every write goes to a temporary file in the destination's folder and is renamed into place, so
a killed job never leaves a half-written output behind (the temporary file it leaves goes when
the output is next written).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import platform
import re
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

ENSEMBL_VERSION = re.compile(r"^(ENS[A-Z]*G\d{11})\.\d+$")  # an id and its version suffix
_UMASK = os.umask(0)
os.umask(_UMASK)


class TxaiError(Exception):
    """A failure whose message tells the whole story (what, where, and the fix)."""


class InputError(TxaiError, ValueError):
    """Bad user input: the message names the file, the row or key, and the fix."""


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; rename it to `dest` on success, delete it on error."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in dest.parent.glob(f".{glob.escape(dest.name)}.*.tmp"):  # left by a killed writer
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; outputs get the usual mode
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def staged(dest: str | os.PathLike, *identity) -> Path:
    """Where a job that writes several outputs keeps one it has finished until the job ends and
    moves them all into place: hidden beside `dest`, named by a digest of what the output is
    computed from (`identity`: JSON-able values). Snakemake deletes a stopped job's outputs
    before running it again, not these files, so the rerun takes a finished output from its
    staged file (when the identity is the same) instead of computing it again. A staged file
    of another identity, left by a run of other inputs or settings, is removed."""
    dest = Path(dest)
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    path = dest.with_name(f".{dest.name}.{key[:16]}.staged")
    for stale in dest.parent.glob(f".{glob.escape(dest.name)}.*.staged"):
        if stale != path:
            stale.unlink()
    return path


def stamp(path: str | os.PathLike) -> list:
    """A file's path, size and modification time: its identity for `staged`, without reading it
    (a file written anew gets a new stamp)."""
    info = os.stat(path)
    return [str(path), info.st_size, info.st_mtime_ns]


def strip_version(ids: list[str]) -> list[str]:
    """Drop Ensembl version suffixes (ENSG00000141510.16 -> ENSG00000141510); other ids stay."""
    return [ENSEMBL_VERSION.sub(r"\1", str(i)) for i in ids]


def rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A random generator for one named stream of the master seed (stable across runs)."""
    words = [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    return np.random.default_rng([int(seed), *words])


def write_table(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a frame as Parquet (zstd) atomically; the index is not stored."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, engine="pyarrow", compression="zstd", index=False)


def read_table(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(path, engine="pyarrow", columns=columns)


WIDE_COLUMNS = 1_000  # gene columns a wide table is read at a time


class Wide(NamedTuple):
    """A table of one float32 column per gene and a few label columns of other types (reference
    pools, attributions; a long-form attribution file reads as one `score` column): the labels,
    the float32 columns' names and their values (rows x columns, each column contiguous)."""

    labels: pd.DataFrame
    genes: list[str]
    values: np.ndarray

    def frame(self) -> pd.DataFrame:
        """The table as read_table gives it (labels first, as txai writes them), over the same
        values (no copy)."""
        frame = pd.DataFrame(self.values, columns=self.genes, copy=False)
        return pd.concat([self.labels, frame], axis=1)


def read_wide(path: str | os.PathLike, where: dict[str, list] | None = None) -> Wide:
    """Read a wide table `WIDE_COLUMNS` float32 columns at a time into one array: memory is
    about the values, where pandas' reader holds several copies of them and ~40 KB a column
    (800 MB for 19,241 genes, whatever the rows). With `where` ({label column: values}), only
    the rows whose labels are among the values, in file order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)
    schema = table.schema_arrow
    genes = [field.name for field in schema if field.type == pa.float32()]
    labels = table.read(columns=[field.name for field in schema if field.type != pa.float32()])
    labels = labels.to_pandas()
    rows = np.ones(len(labels), dtype=bool)
    for column, allowed in (where or {}).items():
        rows &= labels[column].isin(allowed).to_numpy()
    take = rows if where else slice(None)
    values = np.empty((int(rows.sum()), len(genes)), dtype=np.float32, order="F")
    for start in range(0, len(genes), WIDE_COLUMNS):
        block = table.read(columns=genes[start : start + WIDE_COLUMNS])
        for j, column in enumerate(block.columns, start=start):
            values[:, j] = column.to_numpy()[take]
    return Wide(labels[take].reset_index(drop=True), genes, values)


def write_json(obj: object, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


BLOCK_ROWS = 64  # rows of the sidecar read before they are copied into place


def matrix_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The expression matrix's sidecars beside its Parquet file (`data/expression.npy` and
    `data/expression.ids.json`): the same float32 values, samples x genes in row order, which
    readers take a row at a time, and the sample and gene ids."""
    path = Path(path)
    return path.with_suffix(".npy"), path.with_suffix(".ids.json")


def write_expression(
    samples: list[str], genes: list[str], values: np.ndarray, path, sidecars=None
) -> None:
    """`data/expression.parquet`: column `sample`, then one float32 column per gene; and, given
    `sidecars` (the two paths of `matrix_paths(path)`), the matrix's sidecars."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    frame = pd.DataFrame(values, columns=list(genes))
    frame.insert(0, "sample", list(samples))
    write_table(frame, path)
    if sidecars is not None:
        matrix, ids = sidecars
        with atomic_path(matrix) as tmp, open(tmp, "wb") as f:
            np.save(f, values)
        write_json({"samples": list(samples), "genes": list(genes)}, ids)


def expression_ids(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """The sample ids (in row order) and gene ids of `data/expression.parquet`: from its ids
    sidecar, else from its `sample` column and header."""
    ids = matrix_paths(path)[1]
    if ids.exists():
        named = json.loads(ids.read_text())
        return named["samples"], named["genes"]
    import pyarrow.parquet as pq

    genes = [name for name in pq.read_schema(path).names if name != "sample"]
    return read_table(path, columns=["sample"])["sample"].tolist(), genes


def read_expression(path: str | os.PathLike, rows=None) -> tuple[list[str], list[str], np.ndarray]:
    """Read `data/expression.parquet` as (samples, genes, float32 array samples x genes); with
    `rows` (indices in file order) only those samples.

    With the sidecars (`matrix_paths`) the values are read a block of rows at a time: memory is
    about what is read. Without them the Parquet file is read whole (pyarrow then holds
    several copies, and parses a large footer for 19,000 columns). All rows come column-major,
    some rows row-major: the layouts the Parquet reader gave, so sums over samples add in the
    same order as they always did.
    """
    matrix, ids = matrix_paths(path)
    if not (matrix.exists() and ids.exists()):
        frame = read_table(path)
        genes = [c for c in frame.columns if c != "sample"]
        values = frame[genes].to_numpy(dtype=np.float32)
        if rows is None:
            return frame["sample"].tolist(), genes, values
        return frame["sample"].iloc[rows].tolist(), genes, values[np.asarray(rows)]
    samples, genes = expression_ids(path)
    picked = np.arange(len(samples)) if rows is None else np.asarray(rows, dtype=np.int64)
    x = np.empty((len(picked), len(genes)), dtype=np.float32, order="F" if rows is None else "C")
    block = np.empty((max(1, min(BLOCK_ROWS, len(picked))), len(genes)), dtype=np.float32)
    with open(matrix, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}[version]  # fmt: skip
        shape, fortran, dtype = read_header(f)
        if shape != (len(samples), len(genes)) or fortran or dtype != np.float32:
            raise TxaiError(
                f"{matrix}: holds a {shape} {dtype} matrix, not the {len(samples)} x "
                f"{len(genes)} float32 values {ids} names. Delete both and rerun the data stage."
            )
        start, width = f.tell(), 4 * len(genes)
        for first in range(0, len(picked), len(block)):
            chunk = picked[first : first + len(block)]
            for out, row in zip(block[: len(chunk)], chunk, strict=True):
                f.seek(start + int(row) * width)
                f.readinto(memoryview(out).cast("B"))
            x[first : first + len(chunk)] = block[: len(chunk)]
    return [samples[i] for i in picked], genes, x


def compression(path: str | os.PathLike) -> str | None:
    """ "gzip" when the file starts with gzip's magic bytes, else None: downloads keep no suffix."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found. Check the path in the config.")
    with open(path, "rb") as f:
        return "gzip" if f.read(2) == b"\x1f\x8b" else None


@contextlib.contextmanager
def reading(path: str | os.PathLike, unreadable: str, undecodable: str) -> Iterator[None]:
    """Turn a parser's, decoder's or decompressor's failure into an InputError naming the file
    and the fix: `unreadable` for a truncated, corrupt or misnamed file, `undecodable` for bytes
    that are not UTF-8 (the encoding in the message is the decoder's)."""
    try:
        yield
    except InputError:
        raise
    except UnicodeDecodeError as e:
        raise InputError(
            f"{path}: cannot be decoded as {e.encoding} (byte 0x{e.object[e.start]:02x}: "
            f"{e.reason}), the encoding this file is read in. {undecodable}"
        ) from e
    except (ValueError, EOFError, OSError, zlib.error) as e:
        raise InputError(
            f"{path}: cannot be read ({e}). The file is truncated, corrupt or not in the expected "
            f"format: {unreadable}."
        ) from e


# The fixes `reading` gives for a user's own files (a spreadsheet's export, a matrix).
RESAVE = "open it where it was made and save it again, as its name says (.tsv, .csv, .parquet)"
AS_UTF8 = "Save it as UTF-8 (a spreadsheet's Save As: CSV UTF-8)."


def user_file(path: str | os.PathLike) -> Path:
    """A user's input file that exists, else an InputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found. Check the path in the config.")
    return path


def read_user_table(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """Read a user's TSV, CSV or Parquet file, chosen by its extension; text gzip-compressed or
    not, whatever its name says, with or without a byte-order mark. A Parquet file's stored
    index (`df.set_index("gene").to_parquet()`) becomes its first column."""
    path = user_file(path)
    suffixes = "".join(path.suffixes[-2:]).lower()
    if suffixes.endswith(".parquet"):
        with reading(path, RESAVE, AS_UTF8):
            frame = pd.read_parquet(path)
        return frame if isinstance(frame.index, pd.RangeIndex) else frame.reset_index()
    if any(suffixes.endswith(s) for s in (".tsv", ".tsv.gz", ".txt", ".txt.gz")):
        kwargs["sep"] = "\t"
    elif not suffixes.endswith((".csv", ".csv.gz")):
        raise InputError(
            f"{path}: unknown file type. Use .tsv, .txt, .csv (optionally .gz) or .parquet."
        )
    with reading(path, RESAVE, AS_UTF8):
        return pd.read_csv(path, compression=compression(path), encoding="utf-8-sig", **kwargs)


def write_gmt(gene_sets: dict[str, tuple[str, list[str]]], path) -> None:
    """Gene sets in GMT format: name, description, genes (tab-separated, one set a line)."""
    lines = ["\t".join([name, desc, *genes]) for name, (desc, genes) in gene_sets.items()]
    write_text("".join(f"{line}\n" for line in lines), path)


def read_gmt(path: str | os.PathLike) -> dict[str, tuple[str, list[str]]]:
    sets = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            raise InputError(
                f"{path}: line {number}: a GMT line needs a name, a description and at least one "
                "gene, separated by tabs."
            )
        sets[fields[0]] = (fields[1], [g for g in fields[2:] if g])
    return sets


PROVENANCE_PACKAGES = (
    "numpy", "pandas", "pyarrow", "scipy", "statsmodels", "torch", "captum", "snakemake",
    "matplotlib", "seaborn",
)  # fmt: skip


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def float32_precision(torch) -> dict[str, str]:
    """The float32 arithmetic of PyTorch (the `torch` module, so that this module needs no
    torch) now: cuBLAS matmuls and cuDNN convolutions, 'tf32' or 'ieee' ('none' where nothing
    set it: PyTorch's default, TF32 convolutions and full-precision matmuls in torch 2.13)."""
    return {
        "cuda_matmul": torch.backends.cuda.matmul.fp32_precision,
        "cudnn_conv": torch.backends.cudnn.conv.fp32_precision,
    }


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def write_provenance(config: dict, inputs: dict[str, str], repo: str | os.PathLike, path) -> None:
    """`provenance.json`: versions, git commit, config, input file hashes and the master seed.

    Holds no time stamps, so the same code, config and inputs give the same file.
    """
    from txai import __version__

    versions = {}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    commit = _git(Path(repo), "rev-parse", "HEAD")
    status = _git(Path(repo), "status", "--porcelain", "--untracked-files=no")
    write_json(
        {
            "txai": __version__,
            "python": platform.python_version(),
            "packages": versions,
            "git": {"commit": commit, "dirty": bool(status) if commit else None},
            "config": config,
            "inputs": {name: {"path": str(p), "sha256": sha256(p)} for name, p in inputs.items()},
            "seed": config.get("seed"),
        },
        path,
    )
