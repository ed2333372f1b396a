import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu
from statsmodels.stats.multitest import multipletests

from txai import differential, io


def _scipy(a, b):
    return mannwhitneyu(
        a, b, alternative="two-sided", method="asymptotic", use_continuity=True, axis=0
    )


def test_mann_whitney_equals_scipy_with_ties_and_unequal_groups():
    rng = np.random.default_rng(0)
    a = np.round(rng.gamma(2.0, 2.0, size=(23, 500)))  # rounded: many ties per gene
    b = np.round(rng.gamma(2.5, 2.0, size=(41, 500)))
    a[:, :50] = np.round(a[:, :50] / 4)  # some genes with very few distinct values
    u, p = differential.mann_whitney(a, b)
    expected = _scipy(a, b)
    assert u.shape == p.shape == (500,)
    np.testing.assert_allclose(u, expected.statistic, rtol=1e-10)
    np.testing.assert_allclose(p, expected.pvalue, rtol=1e-10)
    assert (p < 0.05).any() and (p > 0.5).any()  # a spread of p-values, not all one regime


def test_mann_whitney_vectorised_equals_a_per_gene_loop():
    rng = np.random.default_rng(1)
    a = np.round(rng.normal(1.0, 1.0, size=(7, 40)), 1)
    b = np.round(rng.normal(0.0, 1.0, size=(12, 40)), 1)
    u, p = differential.mann_whitney(a, b)
    for g in range(40):
        one_u, one_p = differential.mann_whitney(a[:, [g]], b[:, [g]])
        reference = _scipy(a[:, g], b[:, g])
        assert u[g] == pytest.approx(one_u[0], rel=1e-12)
        assert p[g] == pytest.approx(one_p[0], rel=1e-12)
        assert u[g] == pytest.approx(reference.statistic, rel=1e-10)
        assert p[g] == pytest.approx(reference.pvalue, rel=1e-10)


def test_mann_whitney_constant_gene_gets_p_one():
    a = np.array([[5.0, 1.0], [5.0, 2.0], [5.0, 3.0]])
    b = np.array([[5.0, 7.0], [5.0, 8.0]])
    u, p = differential.mann_whitney(a, b)
    assert u[0] == 3.0  # all ties: U = n1 * n2 / 2
    assert p[0] == 1.0
    assert p[1] == pytest.approx(_scipy(a[:, 1], b[:, 1]).pvalue, rel=1e-10)


def test_mann_whitney_hand_computed_u():
    u, _ = differential.mann_whitney(np.array([[1.0], [2.0]]), np.array([[3.0], [4.0]]))
    assert u[0] == 0.0  # no value of a beats any of b
    u, _ = differential.mann_whitney(np.array([[3.0], [4.0]]), np.array([[1.0], [2.0]]))
    assert u[0] == 4.0  # n1 * n2
    u, _ = differential.mann_whitney(np.array([[1.0], [3.0]]), np.array([[3.0], [2.0]]))
    assert u[0] == 1.5  # 1 < 3, 1 < 2 lose; 3 > 2 wins; 3 = 3 half: 1 + 0.5


def test_mann_whitney_rejects_mismatched_genes():
    with pytest.raises(ValueError, match="same genes"):
        differential.mann_whitney(np.ones((3, 2)), np.ones((3, 4)))


def _pair():
    """Normal and cancer TPM for five genes, 30 samples each (numbers chosen by hand)."""
    rng = np.random.default_rng(2)
    noise = rng.uniform(0.9, 1.1, size=(60, 5))
    normal = np.array([10.0, 10.0, 40.0, 0.0, 7.0]) * noise[:30]
    cancer = np.array([40.0, 20.0, 10.0, 5.0, 7.0]) * noise[30:]
    normal[:, 3] = 0.0  # gene d: not expressed in normal
    cancer[:, 4] = normal[:, 4]  # gene e: identical in both
    return normal, cancer, ["a_up4", "b_up2", "c_down4", "d_zero_normal", "e_same"]


def test_test_pair_fold_change_direction_and_de():
    normal, cancer, genes = _pair()
    table = differential.test_pair(normal, cancer, genes)
    assert list(table.columns) == differential.DE_COLUMNS
    assert table["gene"].tolist() == genes
    row = table.set_index("gene")
    assert row.loc["a_up4", "fold_change"] == pytest.approx(4.0, rel=0.05)
    assert row.loc["b_up2", "fold_change"] == pytest.approx(2.0, rel=0.05)
    assert row.loc["c_down4", "fold_change"] == pytest.approx(0.25, rel=0.05)
    assert row.loc["d_zero_normal", "fold_change"] == np.inf
    assert row.loc["e_same", "fold_change"] == 1.0
    assert row["direction"].tolist() == ["up", "up", "down", "up", ""]
    assert row["de"].tolist() == [True, False, True, True, False]
    assert row.loc["b_up2", "fdr"] <= 0.001  # significant, but below the 3-fold threshold
    assert row.loc["e_same", "p"] == 1.0
    np.testing.assert_allclose(row["mean_tpm_normal"], normal.mean(axis=0))
    np.testing.assert_allclose(row["mean_tpm_cancer"], cancer.mean(axis=0))
    u, p = differential.mann_whitney(cancer, normal)  # u is the cancer samples' U
    np.testing.assert_array_equal(table["u"], u)
    assert row.loc["a_up4", "u"] == 900.0  # every cancer sample above every normal one


def test_test_pair_thresholds_are_parameters():
    normal, cancer, genes = _pair()
    table = differential.test_pair(normal, cancer, genes, fold=1.5)
    assert table["de"].tolist() == [True, True, True, True, False]
    table = differential.test_pair(normal, cancer, genes, fdr=1e-30)
    assert not table["de"].any()


def test_test_pair_zero_everywhere_is_fold_one_and_not_de():
    table = differential.test_pair(np.zeros((4, 1)), np.zeros((3, 1)), ["g"])
    assert table.loc[0, "fold_change"] == 1.0
    assert table.loc[0, "direction"] == ""
    assert table.loc[0, "p"] == 1.0
    assert not table.loc[0, "de"]


def test_test_pair_fdr_is_statsmodels_fdr_bh():
    rng = np.random.default_rng(3)
    normal = rng.gamma(2.0, 3.0, size=(15, 200))
    cancer = rng.gamma(2.0, 3.0, size=(18, 200)) * np.linspace(0.5, 2.0, 200)
    table = differential.test_pair(normal, cancer, [f"g{i}" for i in range(200)])
    expected = multipletests(table["p"].to_numpy(), method="fdr_bh")[1]
    np.testing.assert_allclose(table["fdr"], expected, rtol=1e-12)


def test_test_pair_rejects_wrong_gene_count():
    with pytest.raises(ValueError, match="3 genes"):
        differential.test_pair(np.ones((2, 2)), np.ones((2, 2)), ["a", "b", "c"])


def test_top_share():
    share, chance = differential.top_share(
        {"a", "b", "c", "d"}, {"a", "c", "x"}, ["a", "b", "c", "d", "e", "f", "g", "x", "y", "z"]
    )
    assert share == 0.5  # a and c of four
    assert chance == 0.3  # a, c, x of ten
    share, chance = differential.top_share(set(), {"a"}, ["a", "b"])
    assert np.isnan(share) and chance == 0.5


def test_status_split():
    split = differential.status_split({"g3", "g1", "g2"}, {"g2", "g4", "g3"})
    assert split == {"only normal": ["g1"], "only cancer": ["g4"], "both": ["g2", "g3"]}
    assert differential.status_split(set(), set()) == {
        "only normal": [],
        "only cancer": [],
        "both": [],
    }


def test_shared_top():
    rows = [
        # class A: s1, s2, s3
        ("s1", "A", 1, "g1"),
        ("s1", "A", 2, "g2"),
        ("s1", "A", 3, "g3"),
        ("s2", "A", 1, "g2"),
        ("s2", "A", 2, "g1"),
        ("s2", "A", 4, "g3"),  # beyond k = 3: not counted
        ("s3", "A", 1, "g1"),
        ("s3", "A", 2, "g4"),
        # class B: s4, s5
        ("s4", "B", 1, "g9"),
        ("s4", "B", 2, "g1"),
        ("s5", "B", 1, "g9"),
        ("s5", "B", 3, "g5"),
    ]
    top = pd.DataFrame(rows, columns=["sample", "class", "rank", "gene"])
    top["score"] = 1.0 / top["rank"]
    shared = differential.shared_top(top, k=3, min_samples=2)
    assert list(shared.columns) == ["class", "gene", "samples"]
    assert shared.values.tolist() == [["A", "g1", 3], ["A", "g2", 2], ["B", "g9", 2]]
    shared = differential.shared_top(top, k=3, min_samples=1)
    assert shared.values.tolist() == [
        ["A", "g1", 3],
        ["A", "g2", 2],
        ["A", "g3", 1],  # ties in count ordered by gene
        ["A", "g4", 1],
        ["B", "g9", 2],
        ["B", "g1", 1],
        ["B", "g5", 1],
    ]
    assert differential.shared_top(top, k=4, min_samples=2).values.tolist()[:3] == [
        ["A", "g1", 3],
        ["A", "g2", 2],
        ["A", "g3", 2],
    ]


def test_read_cancer_genes(tmp_path):
    path = tmp_path / "cancer_genes.tsv"
    path.write_text(
        "gene\trole\nTP53\ttumour suppressor\nKRAS\toncogene\nNOTCH1\toncogene; tumour suppressor\n"
    )
    table = differential.read_cancer_genes(path)
    assert table["gene"].tolist() == ["TP53", "KRAS", "NOTCH1"]
    assert table["oncogene"].tolist() == [False, True, True]
    assert table["tumour_suppressor"].tolist() == [True, False, True]


def test_read_cancer_genes_bad_header_names_file_column_and_header(tmp_path):
    path = tmp_path / "cancer_genes.tsv"
    path.write_text("symbol\trole\nTP53\ttumour suppressor\n")
    with pytest.raises(io.InputError) as error:
        differential.read_cancer_genes(path)
    message = str(error.value)
    assert str(path) in message and "'gene'" in message and "columns 'gene' and 'role'" in message


def test_read_cancer_genes_bad_role(tmp_path):
    path = tmp_path / "cancer_genes.tsv"
    path.write_text("gene\trole\nTP53\ttumour suppressor\nMYC\tdriver\n")
    with pytest.raises(io.InputError, match=r"row 3: gene 'MYC' has role 'driver'"):
        differential.read_cancer_genes(path)


def test_roles_are_looked_up_by_symbol_or_gene_id(tmp_path):
    path = tmp_path / "cancer_genes.tsv"
    path.write_text("gene\trole\nGPC3\toncogene\nENSG5\ttumour suppressor\n")
    listed = differential.read_cancer_genes(path)
    symbols = pd.Series({"ENSG1": "GPC3", "ENSG2": "ALB", "ENSG5": "TP53X"})
    got = differential.roles_of(["ENSG1", "ENSG2", "ENSG5", "ENSG9"], symbols, listed)
    assert got == ["oncogene", "", "tumour suppressor", ""]
    assert differential.roles_of(["ENSG1"], symbols, None) == [""]


def write_cohort(folder, classes):
    """expression (log2 TPM + 1, with sidecars), samples and genes tables: 5 samples of each
    (class, tissue, status), 3 genes; gene g0 is 8-fold higher in every cancer class."""
    rows = [(f"{c}{i}", c, t, s) for c, t, s in classes for i in range(5)]
    sheet = pd.DataFrame(rows, columns=["sample", "class", "tissue", "status"])
    tpm = np.random.default_rng(1).uniform(10, 20, size=(len(sheet), 3))
    tpm[(sheet["status"] == "cancer").to_numpy(), 0] *= 8
    path = folder / "expression.parquet"
    io.write_expression(sheet["sample"].tolist(), ["g0", "g1", "g2"], np.log2(tpm + 1), path,
                        io.matrix_paths(path))  # fmt: skip
    io.write_table(sheet, folder / "samples.parquet")
    io.write_table(pd.DataFrame({"gene": ["g0", "g1", "g2"]}), folder / "genes.parquet")
    return {name: folder / f"{name}.parquet" for name in ("expression", "samples", "genes")}


def run_tests(tmp_path, classes, focus):
    files = write_cohort(tmp_path, classes)
    out = tmp_path / "tests.parquet"
    differential.run_tests(**files, config={"fdr": 0.05, "fold_change": 3}, focus_tissues=focus,
                           out_tests=out, out_truth=tmp_path / "truth.tsv")  # fmt: skip
    return io.read_table(out)


def test_run_tests_compares_the_focus_tissues_with_normal_and_cancer_samples(tmp_path):
    classes = [("liverN", "liver", "normal"), ("LIHC", "liver", "cancer"),
               ("lungN", "lung", "normal"), ("BRCA", "breast", "cancer")]  # fmt: skip
    tests = run_tests(tmp_path, classes, ["lung", "liver", "breast"])
    assert tests["tissue"].tolist() == ["liver"] * 3  # lung: no cancer; breast: no normal
    assert tests["de"].tolist() == [True, False, False]  # g0 is 8-fold up, p = 0.012 for 5 vs 5


def test_run_tests_without_a_pair_writes_an_empty_table_of_the_columns(tmp_path):
    classes = [("lungN", "lung", "normal"), ("BRCA", "breast", "cancer")]
    tests = run_tests(tmp_path, classes, ["lung", "breast"])
    assert tests.empty and tests.columns.tolist() == ["tissue", *differential.DE_COLUMNS]
    assert tests["de"].dtype == bool and tests["p"].dtype == np.float64
