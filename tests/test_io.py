import hashlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from txai import io


def test_atomic_path_renames_on_success(tmp_path):
    dest = tmp_path / "sub" / "out.txt"
    with io.atomic_path(dest) as tmp:
        tmp.write_text("done")
        assert not dest.exists()
    assert dest.read_text() == "done"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["out.txt"]


def test_atomic_path_keeps_old_file_and_leaves_nothing_on_error(tmp_path):
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError), io.atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_rng_streams_are_stable_and_distinct():
    a = io.rng(1, "references", "normal").random(4)
    assert np.array_equal(a, io.rng(1, "references", "normal").random(4))
    assert not np.array_equal(a, io.rng(1, "references", "universal").random(4))
    assert not np.array_equal(a, io.rng(2, "references", "normal").random(4))


def test_expression_round_trip_keeps_ids_as_columns(tmp_path):
    values = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    io.write_expression(["s1", "s2"], ["g3", "g1", "g2"], values, tmp_path / "e.parquet")
    frame = pd.read_parquet(tmp_path / "e.parquet")
    assert list(frame.columns) == ["sample", "g3", "g1", "g2"]
    assert (frame.dtypes[1:] == np.float32).all()
    samples, genes, x = io.read_expression(tmp_path / "e.parquet")
    assert samples == ["s1", "s2"] and genes == ["g3", "g1", "g2"]
    np.testing.assert_array_equal(x, values.astype(np.float32))


def test_gmt_round_trip_and_bad_line(tmp_path):
    sets = {"A": ("first", ["g1", "g2"]), "B": ("second", ["g3"])}
    io.write_gmt(sets, tmp_path / "s.gmt")
    assert (tmp_path / "s.gmt").read_text() == "A\tfirst\tg1\tg2\nB\tsecond\tg3\n"
    assert io.read_gmt(tmp_path / "s.gmt") == sets
    (tmp_path / "bad.gmt").write_text("A\tfirst\tg1\nB only-two-fields\n")
    with pytest.raises(io.InputError, match=r"bad\.gmt: line 2"):
        io.read_gmt(tmp_path / "bad.gmt")


def test_provenance_records_hashes_config_and_versions(tmp_path):
    data = tmp_path / "counts.tsv"
    data.write_bytes(b"gene\ts1\ng1\t3\n")
    config = {"seed": 11, "cohort": {"source": "files"}}
    out = tmp_path / "provenance.json"
    io.write_provenance(config, {"expression": str(data)}, tmp_path, out)
    first = out.read_bytes()
    record = json.loads(first)
    assert record["inputs"]["expression"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert record["config"] == config and record["seed"] == 11
    assert record["packages"]["numpy"] == np.__version__
    assert record["git"] == {"commit": None, "dirty": None}  # tmp_path is no git repository
    io.write_provenance(config, {"expression": str(data)}, tmp_path, out)
    assert out.read_bytes() == first


def test_a_write_removes_what_a_killed_writer_of_the_same_file_left(tmp_path):
    left = tmp_path / ".top.parquet.k3j_x9.tmp"  # as mkstemp names it; its writer was killed
    other = tmp_path / ".mean.parquet.q8w2.tmp"  # another output's, perhaps being written now
    left.write_bytes(b"half")
    other.write_bytes(b"half")
    io.write_table(pd.DataFrame({"gene": ["g1"]}), tmp_path / "top.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mean.parquet.q8w2.tmp", "top.parquet"]


def test_the_sidecars_give_the_parquet_values_in_its_layouts(tmp_path):
    r = np.random.default_rng(0)
    values = r.normal(3, 1, (150, 7)).astype(np.float32)
    samples, genes = [f"s{i:03d}" for i in range(150)], [f"g{j}" for j in range(7)]
    path = tmp_path / "expression.parquet"
    io.write_expression(samples, genes, values, path, io.matrix_paths(path))
    assert [p.name for p in io.matrix_paths(path)] == ["expression.npy", "expression.ids.json"]
    ids, names, whole = io.read_expression(path)
    assert (ids, names) == (samples, genes) and io.expression_ids(path) == (samples, genes)
    np.testing.assert_array_equal(whole, values)
    assert whole.flags.f_contiguous  # as the Parquet reader gave it: sums add in that order
    rows = [149, 3, 70, 3]  # any order, repeats allowed, across blocks of rows
    picked_ids, _, some = io.read_expression(path, rows=rows)
    assert picked_ids == [samples[i] for i in rows] and some.flags.c_contiguous
    np.testing.assert_array_equal(some, values[rows])
    for sidecar in io.matrix_paths(path):  # without them: the Parquet file, the same answers
        sidecar.rename(sidecar.with_name("away"))
        assert io.read_expression(path, rows=rows)[0] == picked_ids
        np.testing.assert_array_equal(io.read_expression(path, rows=rows)[2], values[rows])
        assert io.expression_ids(path) == (samples, genes)
        sidecar.with_name("away").rename(sidecar)
    np.save(io.matrix_paths(path)[0], values[:10])  # a stale sidecar is refused
    with pytest.raises(io.TxaiError, match=r"holds a \(10, 7\) float32 matrix, not the 150 x 7"):
        io.read_expression(path)


READER = """
import json, sys
from txai import io

def peak_mb():  # this process's high-water mark (getrusage's would count the parent's)
    return next(int(line.split()[1]) for line in open("/proc/self/status")
                if line.startswith("VmHWM")) / 1024

path, rows = sys.argv[1], json.loads(sys.argv[2])
before = peak_mb()
_, _, x = io.read_expression(path, rows=rows)
print(json.dumps({"increase_mb": peak_mb() - before, "read_mb": x.nbytes / 2**20}))
"""


def test_reading_costs_about_what_is_read(tmp_path):
    """10,000 samples x the paper's 19,241 genes (733 MB of float32), the sidecars written as
    the data stage writes them: the whole matrix raises the peak resident memory by at most 1.5x
    its size, 300 rows by about their size (the ids and a block of rows besides)."""
    n, genes = 10_000, 19_241
    path = tmp_path / "expression.parquet"
    matrix, ids = io.matrix_paths(path)
    np.save(matrix, np.random.default_rng(0).normal(3, 1, (n, genes)).astype(np.float32))
    io.write_json({"samples": [f"S{i:05d}" for i in range(n)],
                   "genes": [f"ENSG{j:011d}" for j in range(genes)]}, ids)  # fmt: skip
    for rows, factor, extra_mb in ((None, 1.5, 0), (list(range(0, n, 33)), 1.0, 16)):
        done = subprocess.run([sys.executable, "-c", READER, str(path), json.dumps(rows)],
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        found = json.loads(done.stdout)
        assert found["read_mb"] > 20
        assert found["increase_mb"] <= factor * found["read_mb"] + extra_mb, (rows is None, found)


def test_read_wide_gives_the_table_read_table_gives(tmp_path):
    """Attributions with estimates, their long form and a specific pool: the same frame as
    pandas' reader (labels first, every value), the genes' columns each contiguous."""
    r = np.random.default_rng(4)
    genes = [f"ENSG{j:011d}" for j in range(2_500)]  # over one block of WIDE_COLUMNS
    wide = pd.DataFrame(r.normal(size=(6, len(genes))).astype(np.float32), columns=genes)
    wide.insert(0, "estimate", np.tile([0, 1], 3))
    wide.insert(0, "replicate", np.repeat([0, 1, 2], 2))
    wide.insert(0, "sample", ["s1", "s2"] * 3)
    pool = wide.drop(columns=["sample", "replicate", "estimate"])
    pool.insert(0, "class", ["a"] * 3 + ["b"] * 3)
    pool.insert(0, "reference", [0, 1, 2] * 2)
    long = pd.DataFrame({"sample": ["s1", "s1"], "replicate": [0, 0], "rank": [1, 2],
                         "gene": genes[:2], "score": np.float32([2.5, 1.0])})  # fmt: skip
    for name, frame in (("wide", wide), ("pool", pool), ("long", long)):
        io.write_table(frame, tmp_path / f"{name}.parquet")
        read = io.read_wide(tmp_path / f"{name}.parquet")
        assert read.values.flags.f_contiguous and read.values.dtype == np.float32
        pd.testing.assert_frame_equal(read.frame(), io.read_table(tmp_path / f"{name}.parquet"))
    assert read.genes == ["score"]
    b = io.read_wide(tmp_path / "pool.parquet", where={"class": ["b"]})  # its rows alone
    assert b.values.shape == (3, len(genes)) and b.values.flags.f_contiguous
    pd.testing.assert_frame_equal(b.frame(), pool.iloc[3:].reset_index(drop=True))


WIDE_READER = """
import json, sys
from txai import io

def peak_mb():
    return next(int(line.split()[1]) for line in open("/proc/self/status")
                if line.startswith("VmHWM")) / 1024

read = {"wide": lambda path: io.read_wide(path).values, "pandas": io.read_table}[sys.argv[2]]
before = peak_mb()
read(sys.argv[1])
print(json.dumps({"increase_mb": peak_mb() - before}))
"""


def test_read_wide_costs_about_the_values(tmp_path):
    """A pool of 2,000 references x the paper's 19,241 genes (147 MB): read_wide's peak rises by
    the values and a fixed ~140 MB (the file's metadata of 19,241 columns, a block of columns);
    pandas' reader by ten times the values (measured 1,489 MB)."""
    genes = [f"ENSG{j:011d}" for j in range(19_241)]
    values = np.random.default_rng(0).random((2_000, len(genes)), dtype=np.float32)
    frame = pd.DataFrame(values, columns=genes, copy=False)
    frame.insert(0, "reference", np.arange(2_000))
    io.write_table(frame, tmp_path / "pool.parquet")
    found = {}
    for reader in ("wide", "pandas"):
        done = subprocess.run([sys.executable, "-c", WIDE_READER, str(tmp_path / "pool.parquet"),
                               reader], capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        found[reader] = json.loads(done.stdout)["increase_mb"]
    size = values.nbytes / 2**20
    assert found["wide"] <= size + 160 and found["pandas"] >= 3 * found["wide"], found
