import gzip
import string

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom, spearmanr
from statsmodels.stats.multitest import multipletests

from txai import annotate
from txai.io import InputError


def enrich(columns: dict[str, list[float]], classes="ABCDEFGHIJ", **kwargs) -> pd.DataFrame:
    """TissueEnrich table for genes given as {gene: TPM per class}."""
    first = next(iter(columns.values()))
    medians = pd.DataFrame(columns, index=list(classes[: len(first)]))
    return annotate.tissue_enrich(medians, **kwargs).set_index("gene")


def test_not_expressed_and_tissue_enriched_threshold():
    table = enrich(
        {
            "off": [0.9, 0.5, 0.1, 0.0],
            "exactly5": [2.0, 10.0, 1.0, 1.0],
            "below5": [2.01, 10.0, 1.0, 1.0],
            "second0": [0.0, 0.0, 3.0, 0.0],
        }
    )
    assert table.loc["off"].tolist() == ["Not-Expressed", ""]
    assert table.loc["exactly5"].tolist() == ["Tissue-Enriched", "B"]
    assert table.loc["below5", "category"] != "Tissue-Enriched"
    assert table.loc["second0"].tolist() == ["Tissue-Enriched", "C"]


def test_group_enriched_smallest_group():
    table = enrich(
        {
            "pair": [10.0, 8.0, 1.0, 1.0, 1.0],  # mean(10, 8) = 9 >= 5 x 1
            "trio": [10.0, 6.0, 3.0, 1.0, 0.5],  # pair: 8 < 15; trio: 6.33 >= 5
            "edge": [10.0, 4.0, 2.0, 0.0, 0.0],  # third at exactly 10 / 5: a group of 3
            "wide": [10.0, 4.0, 1.9, 0.0, 0.0],  # third below 10 / 5: no group, Mixed
        }
    )
    assert table.loc["pair"].tolist() == ["Group-Enriched", "A;B"]
    assert table.loc["trio"].tolist() == ["Group-Enriched", "A;B;C"]
    assert table.loc["edge"].tolist() == ["Group-Enriched", "A;B;C"]
    assert table.loc["wide"].tolist() == ["Mixed", ""]


def test_group_needs_a_next_class_and_max_group():
    table = enrich({"all": [10.0, 9.0, 8.0]})  # all classes, no next one: not a group
    assert table.loc["all", "category"] == "Expressed-In-All"
    three = {"g": [10.0, 9.0, 8.0, 0.5, 0.5]}
    assert enrich(three).loc["g", "category"] == "Group-Enriched"
    assert enrich(three, max_group=2).loc["g", "category"] != "Group-Enriched"


def test_expressed_in_all_enhanced_mixed_and_rule_order():
    zeros = [0.0] * 7
    table = enrich(
        {
            "flat": [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0],
            # mean 7.79: 40 >= 38.95 is enhanced; 40 < 5 x 30; 35 < 5 x 7.9; 7.9 < 40 / 5
            "enhanced": [0.0, 30.0, 40.0, 7.9, *[0.0] * 6],
            "mixed": [3.0] * 8 + [0.5, 0.5],
            # both enriched (>= 5 x second) and enhanced (>= 5 x mean): Enriched first
            "both": [50.0, 1.0, 0.0, *zeros],
            # a group (4.5 >= 20 / 5) whose top class is also enhanced: Group first
            "grouped": [20.0, 0.0, 0.0, 4.5, 0.0, *[0.0] * 5],
        }
    )
    assert table.loc["flat"].tolist() == ["Expressed-In-All", ""]
    assert table.loc["enhanced"].tolist() == ["Tissue-Enhanced", "C"]
    assert table.loc["mixed"].tolist() == ["Mixed", ""]
    assert table.loc["both"].tolist() == ["Tissue-Enriched", "A"]
    assert table.loc["grouped"].tolist() == ["Group-Enriched", "A;D"]
    assert list(table.index) == ["flat", "enhanced", "mixed", "both", "grouped"]


# ENSG00000264717's median TPM in the 35 Human Protein Atlas tissues of TissueEnrich's data
# (combine-expression.rda): Skin's 2.0 is exactly 5 x the mean, 0.4 as R computes it; a float64
# sum, row after row, makes the mean 0.4000000000000001 and would leave Skin out.
HPA_ENSG00000264717 = [
    0.2, 0.0, 0.4, 0.0, 0.0, 0.0, 0.0, 3.0, 0.3, 0.1, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0, 1.1, 0.0,
    0.0, 0.0, 0.0, 1.6, 2.4, 0.0, 0.0, 0.0, 2.0, 1.3, 0.5, 0.0, 0.9, 0.0, 0.0, 0.0, 0.0,
]  # fmt: skip


def test_tissue_enhanced_at_exactly_mean_times_fold_uses_rs_mean():
    values = np.array([HPA_ENSG00000264717, [1.0] * 35]).T.copy()  # classes x genes, row-major
    assert values.mean(axis=0)[0] == 0.4000000000000001  # numpy adds row after row
    assert annotate._mean(values)[0] == annotate._mean(np.asfortranarray(values))[0] == 0.4
    medians = pd.DataFrame(values, index=[f"t{i:02d}" for i in range(35)], columns=["hpa", "flat"])
    table = annotate.tissue_enrich(medians).set_index("gene")
    assert table.loc["hpa"].tolist() == ["Tissue-Enhanced", "t07;t22;t26"]  # Colon, Rectum, Skin


def test_ties_at_every_threshold():
    # 11 classes, fold 5, min_tpm 1, max_group 7; every value exact in binary
    zeros = [0.0] * 11
    genes = {
        "enriched_tie": [2.0, 10.0, 1.0, 1.0, *zeros[:7]],  # 10 / 2 == 5
        "enriched_below": [9.5, 2.0, *zeros[:9]],  # 9.5 / 2 < 5; pair over 0: group
        "second0": [0.0, 0.0, 3.0, *zeros[:8]],  # 3 / 0 = inf
        "top_at_min": [1.0, *zeros[:10]],  # expressed, enriched
        "top_below_min": [0.5, 0.5, 0.25, *zeros[:8]],
        "group_tie": [8.0, 7.0, 1.5, *zeros[:8]],  # mean 7.5 / 1.5 == 5; 1.5 < 8 / 5
        "group_below": [8.0, 6.5, 1.5, *zeros[:8]],  # 7.25 / 1.5 < 5; 8 >= 5 x 16 / 11
        "at_fraction": [10.0, 5.0, 2.0, *zeros[:8]],  # 2 == 10 / 5 is in: trio over 0
        "at_min": [0.0, 5.0, 4.0, 1.0, *zeros[:7]],  # 1 == 5 / 5 == min_tpm is in
        # 7 within 10 / 5 = 2; only the seven over 1.5 pass: 10 / 1.5 >= 5
        "seven": [*[10.0] * 7, 1.5, 0.0, 0.0, 0.0],
        # 8 within 10 / 5: no group, though mean(10, 10) / 2 == 5 would pass alone
        "eight": [10.0, 10.0, *[2.0] * 6, 0.0, 0.0, 0.0],
        "eight_all": [10.0, 10.0, *[2.0] * 6, 1.0, 1.0, 1.0],  # the same, all at min_tpm
        "all_at_min": [2.0, *[1.0] * 10],  # 11 within 2 / 5: no group
        # mean 22 / 11 = 2: 10 == 5 x 2 is enhanced; 3 / 1.5 < 5, 6.5 / 1.5 < 5
        "enhanced_tie": [1.5, 1.5, 1.5, 10.0, 3.0, 1.5, 1.5, 1.5, 0.0, 0.0, 0.0],
        # mean 21.5 / 11: 9.5 < 9.77
        "enhanced_below": [1.5, 1.5, 1.5, 9.5, 3.0, 1.5, 1.5, 1.5, 0.0, 0.0, 0.0],
    }
    table = enrich(genes, classes="ABCDEFGHIJK")
    expected = {
        "enriched_tie": ["Tissue-Enriched", "B"],
        "enriched_below": ["Group-Enriched", "A;B"],
        "second0": ["Tissue-Enriched", "C"],
        "top_at_min": ["Tissue-Enriched", "A"],
        "top_below_min": ["Not-Expressed", ""],
        "group_tie": ["Group-Enriched", "A;B"],
        "group_below": ["Tissue-Enhanced", "A"],
        "at_fraction": ["Group-Enriched", "A;B;C"],
        "at_min": ["Group-Enriched", "B;C;D"],
        "seven": ["Group-Enriched", "A;B;C;D;E;F;G"],
        "eight": ["Mixed", ""],
        "eight_all": ["Expressed-In-All", ""],
        "all_at_min": ["Expressed-In-All", ""],
        "enhanced_tie": ["Tissue-Enhanced", "D"],
        "enhanced_below": ["Mixed", ""],
    }
    assert {gene: table.loc[gene].tolist() for gene in genes} == expected


def _reference_category(tpm, names, fold=5, max_group=7, min_tpm=1):
    """TissueEnrich's rules for one gene, plainly, as (category, classes)."""
    order = sorted(range(len(tpm)), key=lambda c: -tpm[c])  # stable: ties by row
    s = [tpm[c] for c in order]
    if s[0] < min_tpm:
        return "Not-Expressed", ""
    with np.errstate(divide="ignore", invalid="ignore"):
        if np.float64(s[0]) / s[1] >= fold:
            return "Tissue-Enriched", names[order[0]]
        m = sum(1 for v in s if v >= s[0] / fold and v >= min_tpm)
        if 2 <= m <= max_group:
            for i in range(2, min(m, len(s) - 1) + 1):
                if np.float64(sum(s[:i]) / i) / s[i] >= fold:
                    return "Group-Enriched", ";".join(names[c] for c in sorted(order[:i]))
    if min(s) >= min_tpm:
        return "Expressed-In-All", ""
    limit = np.mean(tpm) * fold
    enhanced = [n for n, v in zip(names, tpm, strict=True) if v >= limit and v >= min_tpm]
    return ("Tissue-Enhanced", ";".join(enhanced)) if enhanced else ("Mixed", "")


@pytest.mark.parametrize("max_group", [2, 3, 7])
def test_tissue_enrich_matches_per_gene_rules(max_group):
    rng = np.random.default_rng(2)
    # few distinct values in halves: many exact ties at every threshold
    values = rng.choice([0.0, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 12.5], size=(9, 3000))
    values[:, :1000] *= rng.random((9, 1000)) < 0.4  # sparse genes
    names = list("ABCDEFGHI")
    medians = pd.DataFrame(values, index=names, columns=[f"g{i}" for i in range(3000)])
    table = annotate.tissue_enrich(medians, max_group=max_group)
    expected = [_reference_category(list(col), names, max_group=max_group) for col in values.T]
    assert list(zip(table["category"], table["classes"], strict=True)) == expected
    assert table["category"].nunique() == 6


def test_tissue_enhanced_lists_every_enhanced_class():
    # 20 classes, mean 4.145: 40 and 35 are >= 20.7; 37.5 < 5 x 7.9 and 7.9 < 40 / 5: no group
    values = [0.0, 35.0, 0.0, 7.9, 40.0] + [0.0] * 15
    table = enrich({"g": values}, classes=string.ascii_uppercase)
    assert table.loc["g"].tolist() == ["Tissue-Enhanced", "B;E"]


def test_is_tissue_specific():
    table = pd.DataFrame(
        {
            "gene": list("abcdef"),
            "category": [
                "Tissue-Enriched",
                "Group-Enriched",
                "Tissue-Enhanced",
                "Expressed-In-All",
                "Mixed",
                "Not-Expressed",
            ],
        }
    )
    assert annotate.is_tissue_specific(table).tolist() == [True] * 3 + [False] * 3
    enhanced_only = annotate.is_tissue_specific(table, ["Tissue-Enhanced"])
    assert enhanced_only.tolist() == [False, False, True, False, False, False]


def test_housekeeping_rules():
    medians = pd.DataFrame(
        {
            "within_mean": [2.0, 4.0, 8.0],  # log2 1, 2, 3: within 1 of 2; max/min = 4
            "edge": [1.0, 2.0, 2.0],  # one class at exactly min_tpm
            "stable": [10.0, 12.0, 15.0],
            "far": [2.0, 2.0, 20.0],
        },
        index=["a", "b", "c"],
    )
    assert annotate.housekeeping(medians).tolist() == [True, False, True, False]
    strict = annotate.housekeeping(medians, rule="strict")
    assert strict.tolist() == [False, False, True, False]
    with pytest.raises(ValueError, match="strict"):
        annotate.housekeeping(medians, rule="median")


def test_read_tf_list(tmp_path):
    path = tmp_path / "Homo_sapiens_TF"
    path.write_text(
        "Species\tSymbol\tEnsembl\tFamily\tProtein\tEntrez_ID\n"
        "Homo_sapiens\tZNF8\tENSG00000083842\tzf-C2H2\tENSP1\t7554\n"
        "Homo_sapiens\tTP53\tENSG00000141510\tP53\tENSP2\t7157\n"
    )
    assert annotate.read_tf_list(path) == {
        "ZNF8",
        "ENSG00000083842",
        "TP53",
        "ENSG00000141510",
    }
    downloaded = tmp_path / "tf"
    downloaded.write_bytes(gzip.compress(path.read_bytes()))
    assert annotate.read_tf_list(downloaded) == annotate.read_tf_list(path)
    bad = tmp_path / "bad_tfs.txt"
    bad.write_text("Species\tGene\tFamily\nHomo_sapiens\tTP53\tP53\n")
    with pytest.raises(InputError, match="bad_tfs.txt"):
        annotate.read_tf_list(bad)


def test_expression_status_matches_scipy_and_sets():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 6, size=(5, 300)).astype(float)  # many ties
    expression = rng.integers(0, 20, size=(5, 300)).astype(float)
    rho, shared = annotate.expression_status(scores, expression, k=30)
    for row in range(5):
        assert rho[row] == pytest.approx(spearmanr(scores[row], expression[row])[0], abs=1e-12)
        by_score = set(np.argsort(-scores[row], kind="stable")[:30])
        by_expression = set(np.argsort(-expression[row], kind="stable")[:30])
        assert shared[row] == len(by_score & by_expression)


def test_set_overlaps_broadcast():
    top = np.array([[1, 1, 0, 0], [0, 1, 1, 1]], dtype=bool)
    members = np.array([[0, 1, 1, 0]], dtype=bool)
    assert annotate.set_overlaps(top, members).tolist() == [1, 2]
    per_row = np.array([[1, 0, 0, 0], [0, 1, 1, 1]], dtype=bool)
    assert annotate.set_overlaps(top, per_row).tolist() == [1, 3]


def test_gmt_enrichment_hand_case():
    background = [f"g{i}" for i in range(20)]
    top = ["g0", "g1", "g2", "g3", "outside"]  # 4 drawn within the background
    sets = {
        "hit": {"g0", "g1", "g2", "g10", "g11"},
        "miss": {"g10", "g11", "g12", "g13", "extra"},  # 4 in the background
        "small": {"g0", "g1", "extra"},  # 2 in the background: skipped
        "half": {"g0", "g15", "g16"},
    }
    table = annotate.gmt_enrichment(top, background, sets)
    assert table["term"].tolist() == ["hit", "half", "miss"]
    assert table["size"].tolist() == [5, 3, 4]
    assert table["overlap"].tolist() == [3, 1, 0]
    np.testing.assert_allclose(table["expected"], [4 * 5 / 20, 4 * 3 / 20, 4 * 4 / 20])
    p = [hypergeom.sf(2, 20, 5, 4), hypergeom.sf(0, 20, 3, 4), 1.0]
    np.testing.assert_allclose(table["p"], p)
    np.testing.assert_allclose(table["fdr"], multipletests(p, method="fdr_bh")[1])
    assert annotate.gmt_enrichment(top, background, sets, min_size=2)["term"].tolist() == [
        "small",
        "hit",
        "half",
        "miss",
    ]
    empty = annotate.gmt_enrichment(top, background, sets, min_size=10)
    assert empty.empty and list(empty.columns) == [
        "term",
        "size",
        "overlap",
        "expected",
        "p",
        "fdr",
    ]


OBO = """format-version: 1.2

[Term]
id: GO:0000001
name: root process
namespace: biological_process

[Term]
id: GO:0000002
name: parent process
namespace: biological_process
is_a: GO:0000001 ! root process

[Term]
id: GO:0000003
name: sibling process
namespace: biological_process
is_a: GO:0000001 ! root process

[Term]
id: GO:0000004
name: child process
namespace: biological_process
is_a: GO:0000002 ! parent process
"""


def test_go_enrichment_propagates_counts(tmp_path, capsys):
    obo = tmp_path / "tiny.obo"
    obo.write_text(OBO)
    background = [f"g{i}" for i in range(20)]
    associations = {g: {"GO:0000004"} for g in ["g0", "g1", "g2", "g3"]}
    associations |= {g: {"GO:0000002"} for g in ["g4", "g5"]}
    associations |= {g: {"GO:0000003"} for g in ["g6", "g7", "g8"]}
    associations |= {g: {"GO:0000001"} for g in ["g9", "g10"]}
    original = {g: set(ids) for g, ids in associations.items()}
    top = ["g0", "g1", "g2"]
    table = annotate.go_enrichment(top, background, obo, associations).set_index("term")
    assert associations == original  # goatools propagates into a copy
    assert capsys.readouterr().out == ""
    assert set(table.index) == {"GO:0000001", "GO:0000002", "GO:0000004"}  # sibling: no hit
    assert (table["namespace"] == "biological_process").all()
    assert table.loc["GO:0000002", "name"] == "parent process"
    assert table["overlap"].tolist() == [3, 3, 3]  # parent and root count the study genes
    sizes = {"GO:0000004": 4, "GO:0000002": 6, "GO:0000001": 11}
    assert table["size"].to_dict() == sizes
    for term, size in sizes.items():
        assert table.loc[term, "p"] == pytest.approx(hypergeom.sf(2, 20, size, 3), rel=1e-9)
    assert table["p"].is_monotonic_increasing
    assert table["fdr"].ge(table["p"]).all()


def test_read_gaf(tmp_path):
    path = tmp_path / "tiny.gaf"
    path.write_text(
        "!gaf-version: 2.2\n"
        "!generated-by: test\n"
        "UniProtKB\tP1\tTP53\tinvolved_in\tGO:0000004\tPMID:1\tIDA\t\tP\tp53\t\tprotein\ttaxon:9606\n"
        "UniProtKB\tP1\tTP53\tenables\tGO:0000002\tPMID:1\tIDA\t\tF\tp53\t\tprotein\ttaxon:9606\n"
        "UniProtKB\tP1\tTP53\tNOT|enables\tGO:0000003\tPMID:1\tIDA\t\tF\tp53\t\tprotein\ttaxon:9606\n"
        "UniProtKB\tP2\tMYC\tinvolved_in\tGO:0000001\tPMID:1\tIDA\t\tP\tmyc\t\tprotein\ttaxon:9606\n"
        "UniProtKB\tP3\tOTHER\tinvolved_in\tGO:0000001\tPMID:1\tIDA\t\tP\tx\t\tprotein\ttaxon:9606\n"
    )
    gaf = annotate.read_gaf(path, ["TP53", "MYC", "ABSENT"])
    assert gaf == {"TP53": {"GO:0000004", "GO:0000002"}, "MYC": {"GO:0000001"}}
    # goa_human.gaf.gz as the download rule stores it: gzipped, under a name without .gz
    downloaded = tmp_path / "go_gaf"
    downloaded.write_bytes(gzip.compress(path.read_bytes()))
    assert annotate.read_gaf(downloaded, ["TP53", "MYC", "ABSENT"]) == gaf
