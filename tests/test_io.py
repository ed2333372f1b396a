import hashlib
import json

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
