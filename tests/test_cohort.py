"""Tests for txai.cohort: the embedded demo cohort and the truth planted in it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from txai import cohort, io

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEMO_CONFIG = REPO / "config" / "config.yaml"
TINY_CONFIG = REPO / "tests" / "config" / "tiny.yaml"
FOCUS = ["liver", "lung", "ovary", "pancreas"]
ROLES = {
    "tissue_enriched",
    "group_enriched",
    "housekeeping",
    "tf",
    "module",
    "cancer_up",
    "cancer_down",
    "cancer_only",
    "background",
}


def load_spec(config_path: Path) -> dict:
    """`cohort.demo` of a config with the schema's defaults for unset keys (as Snakemake does)."""
    schema = yaml.safe_load(SCHEMA.read_text())
    props = schema["properties"]["cohort"]["properties"]["demo"]["properties"]
    spec = {key: prop["default"] for key, prop in props.items()}
    spec.update(yaml.safe_load(config_path.read_text())["cohort"].get("demo", {}))
    return spec


def tpm(counts: pd.DataFrame, lengths: np.ndarray) -> np.ndarray:
    """Samples x genes TPM from a genes x samples counts frame (first column `gene`)."""
    rate = counts.drop(columns="gene").to_numpy(dtype=np.float64).T / lengths
    return rate / rate.sum(axis=1, keepdims=True) * 1e6


class Demo:
    """The default demo cohort with its TPM and per-class summaries, built once per module."""

    def __init__(self, spec: dict, seed: int):
        self.spec = spec
        self.cohort = cohort.simulate(spec, seed)
        self.genes = self.cohort.genes
        self.samples = self.cohort.samples
        self.cls = self.samples["class"].to_numpy()
        self.tpm = tpm(self.cohort.counts, self.genes["length"].to_numpy())
        frame = pd.DataFrame(self.tpm)
        self.median = frame.groupby(self.cls).median()  # classes x genes (positions)
        self.mean = frame.groupby(self.cls).mean()

    def planted(self, role: str) -> pd.DataFrame:
        return self.genes[self.genes["truth_role"] == role]


@pytest.fixture(scope="module")
def demo() -> Demo:
    seed = yaml.safe_load(DEMO_CONFIG.read_text())["seed"]
    return Demo(load_spec(DEMO_CONFIG), seed)


@pytest.fixture(scope="module")
def tiny_spec() -> dict:
    return load_spec(TINY_CONFIG)


# --- classes, samples, genes -------------------------------------------------------------------


def test_class_table_known_answer():
    table = cohort.class_table(["liver", "lung"], ["brain"])
    expected = pd.DataFrame(
        [
            ("normal_liver", "liver", "normal"),
            ("normal_lung", "lung", "normal"),
            ("normal_brain", "brain", "normal"),
            ("cancer_liver", "liver", "cancer"),
            ("cancer_lung", "lung", "cancer"),
        ],
        columns=["class", "tissue", "status"],
    )
    pd.testing.assert_frame_equal(table, expected)


def test_demo_classes_include_focus_tissues_and_their_cancers(demo):
    classes = set(demo.cls)
    assert len(classes) >= 12
    for t in FOCUS:
        assert {f"normal_{t}", f"cancer_{t}"} <= classes
    # 4 tissues with cancer x 2 + 6 normal-only tissues, all of which receive samples.
    assert len(classes) == 14
    # The sample sheet's tissue and status agree with the class name.
    named = demo.samples["status"] + "_" + demo.samples["tissue"]
    assert (named == demo.samples["class"]).all()
    assert list(demo.samples.columns) == ["sample", "class", "tissue", "status"]
    assert demo.samples["sample"].is_unique


def test_class_sizes_uneven_and_within_range(demo):
    sizes = demo.samples["class"].value_counts()
    assert sizes.min() >= 40 and sizes.max() <= 200
    assert sizes.nunique() > 1
    # Uniform on [40, 200] has sd ~46; 14 draws should not all sit in a narrow band.
    assert sizes.max() - sizes.min() >= 40
    # Samples are shuffled, not grouped by class.
    assert (demo.samples["class"] != demo.samples["class"].shift()).sum() > len(sizes) * 2


def test_gene_annotation_positions(demo):
    genes = demo.genes
    assert len(genes) == 2000
    assert genes["gene"].is_unique and genes["symbol"].is_unique
    assert list(genes.columns[:6]) == ["gene", "symbol", "chrom", "start", "length", "biotype"]
    assert set(genes["chrom"]) <= set(cohort.CHROMOSOMES)
    # Genes are in chromosome order, and sorted by start within each chromosome.
    chrom_index = genes["chrom"].map({c: i for i, c in enumerate(cohort.CHROMOSOMES)})
    assert chrom_index.is_monotonic_increasing
    chrom_mb = dict(zip(cohort.CHROMOSOMES, cohort.CHROMOSOME_MB, strict=True))
    for chrom, block in genes.groupby("chrom"):
        assert block["start"].is_monotonic_increasing, chrom
        assert block["start"].min() >= 1
        assert block["start"].max() < chrom_mb[chrom] * 1_000_000
    assert pd.api.types.is_integer_dtype(genes["length"])
    assert (genes["length"] > 0).all()
    assert genes["length"].between(300, 50_000).all()
    # Lengths are lognormal around 2.5 kb (median of the clipped draw stays ~2500).
    assert 2200 < genes["length"].median() < 2800
    # A chromosome's share of genes follows its length: chr1 (248 Mb) holds more than chr21 (47).
    per_chrom = genes["chrom"].value_counts()
    assert per_chrom["1"] > 2 * per_chrom.get("21", 0)


def test_counts_non_negative_integers_with_varying_library_sizes(demo):
    counts = demo.cohort.counts
    assert counts["gene"].tolist() == demo.genes["gene"].tolist()
    assert counts.columns[1:].tolist() == demo.samples["sample"].tolist()
    values = counts.drop(columns="gene")
    assert all(pd.api.types.is_integer_dtype(t) for t in values.dtypes)
    assert (values.to_numpy() >= 0).all()
    totals = values.sum(axis=0).to_numpy(dtype=np.float64)
    # library = library_size * lognormal(0, 0.3); the counts' expected total is the library.
    assert np.median(totals) == pytest.approx(demo.spec["library_size"], rel=0.05)
    log_sd = np.log(totals).std(ddof=1)
    assert log_sd == pytest.approx(0.3, abs=0.03)  # n ~ 1,500: standard error ~0.006


def test_counts_scale_with_gene_length(demo):
    """Reads are drawn in proportion to expression x length: log count share ~ 1 x log length."""
    counts = demo.cohort.counts.drop(columns="gene").to_numpy(dtype=np.float64)
    share = (counts / counts.sum(axis=0)).mean(axis=1)
    # Genes whose expression is drawn independently of length.
    flat = demo.genes["truth_role"].isin(["background", "housekeeping", "tf"]).to_numpy()
    slope = np.polyfit(np.log2(demo.genes["length"].to_numpy()[flat]), np.log2(share[flat]), 1)[0]
    assert slope == pytest.approx(1.0, abs=0.2)  # standard error ~0.07


def test_counts_are_negative_binomial(tiny_spec, monkeypatch):
    """Without biological noise, a class's counts are NB around a share of each library:
    var = mean + DISPERSION x mean^2, so var / mean^2 - 1 / mean = DISPERSION."""
    monkeypatch.setattr(cohort, "SAMPLE_NOISE_SD", 0.0)
    monkeypatch.setattr(cohort, "MODULE_FACTOR_SD", 0.0)
    c = cohort.simulate(dict(tiny_spec, library_size=2e5), 7)  # low- and high-count genes
    x = c.counts.drop(columns="gene").to_numpy(dtype=np.float64)
    cls = c.samples["class"].to_numpy()
    high_cv2, low_ratio = [], []
    for k in np.unique(cls):
        y = x[:, cls == k]
        scaled = y / y.sum(axis=0) * y.sum(axis=0).mean()  # remove the library-size variation
        mean, var = scaled.mean(axis=1), scaled.var(axis=1, ddof=1)
        high = mean > 500  # here the gamma part dominates
        high_cv2 += list(var[high] / mean[high] ** 2 - 1 / mean[high])
        low = (mean > 2) & (mean < 20)  # here Poisson and gamma parts both count
        low_ratio += list(var[low] / (mean[low] + cohort.DISPERSION * mean[low] ** 2))
    assert len(high_cv2) > 100 and len(low_ratio) > 100
    assert np.mean(high_cv2) == pytest.approx(cohort.DISPERSION, rel=0.1)
    assert np.mean(low_ratio) == pytest.approx(1.0, abs=0.15)


def test_truth_columns_match_the_spec(demo):
    genes, spec = demo.genes, demo.spec
    assert set(genes["truth_role"]) == ROLES
    n_classes = 14
    n_groups = len(spec["tissues_with_cancer"]) + spec["normal_groups"]
    expected = {
        "tissue_enriched": n_classes * spec["markers_per_class"],  # 14 x 8
        "group_enriched": n_groups * spec["lineage_markers_per_tissue"],  # 7 x 6
        "cancer_up": 4 * spec["cancer_genes_per_tissue"],
        "cancer_down": 4 * spec["cancer_genes_per_tissue"],
        "cancer_only": spec["cancer_only_genes"],
        "module": spec["modules"] * spec["module_size"],
        "housekeeping": 100,  # 5 % of 2000
        "tf": 120,  # 6 % of 2000
    }
    expected["background"] = 2000 - sum(expected.values())
    assert genes["truth_role"].value_counts().to_dict() == expected
    # truth_classes is set exactly for the roles that mark classes; truth_module for modules.
    unmarked = genes["truth_role"].isin(["housekeeping", "tf", "background"])
    assert genes.loc[unmarked, "truth_classes"].isna().all()
    assert genes.loc[~unmarked, "truth_classes"].notna().all()
    is_module = genes["truth_role"] == "module"
    assert genes.loc[~is_module, "truth_module"].isna().all()
    assert (genes.loc[is_module, "truth_module"].value_counts() == spec["module_size"]).all()
    classes = set(demo.cls)
    for marks in genes["truth_classes"].dropna():
        assert set(marks.split(";")) <= classes
    # Each class has its own tissue-enriched markers.
    te = demo.planted("tissue_enriched")["truth_classes"].value_counts()
    assert set(te.index) == classes and (te == spec["markers_per_class"]).all()
    # cancer_up / cancer_down mark one cancer class; cancer_only marks all four cancers.
    for role in ("cancer_up", "cancer_down"):
        assert set(demo.planted(role)["truth_classes"]) == {f"cancer_{t}" for t in FOCUS}
    assert set(demo.planted("cancer_only")["truth_classes"]) == {
        ";".join(f"cancer_{t}" for t in FOCUS)
    }


def test_planted_genes_are_scattered_over_the_genome(demo):
    position = np.arange(len(demo.genes)) / len(demo.genes)
    for role in ("tissue_enriched", "group_enriched", "housekeeping", "module", "background"):
        where = (demo.genes["truth_role"] == role).to_numpy()
        assert 0.4 < position[where].mean() < 0.6, role
        assert demo.genes.loc[where, "chrom"].nunique() >= 15, role


# --- planted signal ----------------------------------------------------------------------------


def test_tissue_enriched_markers_are_5_fold_above_every_other_class(demo):
    ratios = []
    for g, row in demo.planted("tissue_enriched").iterrows():
        own = demo.median.loc[row["truth_classes"], g]
        others = demo.median[g].drop(row["truth_classes"])
        ratios.append(own / others.max())
    assert len(ratios) == 112
    assert min(ratios) >= 5


@pytest.mark.parametrize("role", ["group_enriched", "cancer_only"])
def test_group_enriched_markers_are_5_fold_above_every_class_outside(demo, role):
    ratios = []
    for g, row in demo.planted(role).iterrows():
        group = row["truth_classes"].split(";")
        assert 2 <= len(group) <= 7  # TissueEnrich's group sizes
        inside = demo.median.loc[group, g]
        outside = demo.median[g].drop(group)
        assert inside.min() >= 1  # expressed in every class of the group
        ratios.append(inside.min() / outside.max())
    assert len(ratios) > 0
    assert min(ratios) >= 5


def test_group_enriched_groups(demo):
    groups = set(demo.planted("group_enriched")["truth_classes"])
    # One group per tissue with cancer (its normal and cancer class) ...
    for t in FOCUS:
        assert f"normal_{t};cancer_{t}" in groups
    # ... plus `normal_groups` groups of 2-3 normal-only tissues.
    extra = groups - {f"normal_{t};cancer_{t}" for t in FOCUS}
    assert 1 <= len(extra) <= demo.spec["normal_groups"]
    normal_only = {f"normal_{t}" for t in demo.spec["normal_only_tissues"]}
    for group in extra:
        members = group.split(";")
        assert 2 <= len(members) <= 3 and set(members) <= normal_only


def test_cancer_genes_differ_3_fold_between_normal_and_cancer(demo):
    for role, up in (("cancer_up", True), ("cancer_down", False)):
        for g, row in demo.planted(role).iterrows():
            cancer = row["truth_classes"]
            normal = cancer.replace("cancer_", "normal_")
            fold = demo.mean.loc[cancer, g] / demo.mean.loc[normal, g]
            if up:
                assert fold >= 3, (role, row["gene"], fold)
            else:
                assert fold <= 1 / 3, (role, row["gene"], fold)


def test_cancer_genes_are_not_tissue_enriched(demo):
    """~4-fold in one cancer only: differentially expressed, yet below TissueEnrich's 5-fold."""
    for g, row in demo.planted("cancer_up").iterrows():
        own = demo.median.loc[row["truth_classes"], g]
        assert own / demo.median[g].drop(row["truth_classes"]).max() < 5


def test_background_genes_are_rarely_differentially_expressed(demo):
    background = demo.planted("background").index
    assert len(background) > 1000
    for t in FOCUS:
        fold = demo.mean.loc[f"cancer_{t}", background] / demo.mean.loc[f"normal_{t}", background]
        share = np.mean((fold >= 3) | (fold <= 1 / 3))
        assert share < 0.01, (t, share)
    # Yet background varies between tissues: some genes differ 3-fold between two normals.
    fold = demo.mean.loc["normal_liver", background] / demo.mean.loc["normal_brain", background]
    assert np.mean((fold >= 3) | (fold <= 1 / 3)) > 0.05


def test_module_genes_correlate_within_a_module(demo):
    log_tpm = np.log2(demo.tpm + 1)
    genes = demo.genes
    background = demo.planted("background").index.to_numpy()
    rng = np.random.default_rng(0)
    modules = sorted(genes["truth_module"].dropna().unique())
    assert len(modules) == demo.spec["modules"]
    for m in modules:
        members = genes.index[genes["truth_module"] == m].to_numpy()
        marked = genes.loc[members, "truth_classes"].unique()
        assert len(marked) == 1  # all genes of a module mark the same classes
        cls = marked[0].split(";")[0]
        x = log_tpm[demo.cls == cls]
        within = np.corrcoef(x[:, members].T)[np.triu_indices(len(members), k=1)]
        assert within.mean() > 0.4, (m, within.mean())
        pairs = rng.choice(background, size=(200, 2))
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        random_r = [np.corrcoef(x[:, a], x[:, b])[0, 1] for a, b in pairs]
        assert abs(np.mean(random_r)) < 0.1
        assert within.mean() > np.mean(random_r) + 0.3


def test_module_genes_are_up_in_their_tissue(demo):
    """Modules are 2.8-fold (log2 1.5) up in the classes they mark."""
    for m, block in demo.planted("module").groupby("truth_module"):
        marked = block["truth_classes"].iloc[0].split(";")
        inside = np.log2(demo.median.loc[marked, block.index]).mean().mean()
        outside = np.log2(demo.median[block.index].drop(marked)).mean().mean()
        assert inside - outside == pytest.approx(1.5, abs=0.35), m


def test_housekeeping_genes_expressed_and_flat_in_every_class(demo):
    hk = demo.median[demo.planted("housekeeping").index]
    assert (hk > 1).all().all()
    # Within 2-fold of the gene's mean over classes (log2 scale), the housekeeping rule.
    log_hk = np.log2(hk)
    assert (log_hk - log_hk.mean()).abs().max().max() < 1


# --- gene sets ---------------------------------------------------------------------------------


def test_marker_gene_sets_contain_every_planted_marker(demo):
    sets = demo.cohort.gene_sets
    genes = demo.genes
    background = set(demo.planted("background")["gene"])
    markers = genes[genes["truth_role"].isin(["tissue_enriched", "group_enriched"])]
    for cls in set(demo.cls):
        name = f"DEMO_{cls.upper()}_MARKERS"
        assert name in sets
        members = set(sets[name][1])
        marks = markers["truth_classes"].str.split(";")
        own = set(markers.loc[marks.map(lambda m, cls=cls: cls in m), "gene"])
        assert own  # every class has markers
        assert own <= members
        # The rest is background noise, one fifth of the planted genes (at least one).
        assert members - own <= background
        assert len(members - own) == max(1, len(own) // 5)
    # Module and housekeeping sets hold their planted genes; random sets only background.
    for m in genes["truth_module"].dropna().unique():
        assert set(genes.loc[genes["truth_module"] == m, "gene"]) <= set(
            sets[f"DEMO_{m.upper()}"][1]
        )
    assert set(demo.planted("housekeeping")["gene"]) <= set(sets["DEMO_HOUSEKEEPING"][1])
    randoms = [name for name in sets if name.startswith("DEMO_RANDOM_")]
    assert len(randoms) == 20
    for name in randoms:
        assert set(sets[name][1]) <= background and 15 <= len(sets[name][1]) <= 40


# --- files, determinism, guards ----------------------------------------------------------------


def write_cohort(spec: dict, seed: int, folder: Path) -> dict[str, Path]:
    paths = {
        "counts": folder / "counts.parquet",
        "samples": folder / "samples.tsv",
        "genes": folder / "genes.parquet",
        "genesets": folder / "genesets.gmt",
        "tfs": folder / "tfs.tsv",
    }
    cohort.run(spec, seed, **paths)
    return paths


def test_run_same_seed_gives_byte_identical_files(tiny_spec, tmp_path):
    first = write_cohort(tiny_spec, 7, tmp_path / "a")
    second = write_cohort(tiny_spec, 7, tmp_path / "b")
    for key in first:
        assert first[key].read_bytes() == second[key].read_bytes(), key
    # The files hold what simulate() returns, in the formats a user supplies.
    expected = cohort.simulate(tiny_spec, 7)
    pd.testing.assert_frame_equal(io.read_table(first["counts"]), expected.counts)
    pd.testing.assert_frame_equal(pd.read_csv(first["samples"], sep="\t"), expected.samples)
    genes = io.read_table(first["genes"])
    assert genes["gene"].tolist() == expected.genes["gene"].tolist()
    tfs = pd.read_csv(first["tfs"], sep="\t")  # AnimalTFDB's columns, the planted TFs
    assert list(tfs.columns) == ["Species", "Symbol", "Ensembl", "Family", "Protein", "Entrez_ID"]
    assert tfs["Ensembl"].tolist() == genes.loc[genes["truth_role"] == "tf", "gene"].tolist()
    assert genes["truth_role"].tolist() == expected.genes["truth_role"].tolist()
    sets = {name: (desc, list(members)) for name, (desc, members) in expected.gene_sets.items()}
    assert io.read_gmt(first["genesets"]) == sets


def test_run_different_seed_changes_the_counts(tiny_spec, tmp_path):
    first = write_cohort(tiny_spec, 7, tmp_path / "a")
    other = write_cohort(tiny_spec, 8, tmp_path / "b")
    assert first["counts"].read_bytes() != other["counts"].read_bytes()
    a, b = io.read_table(first["counts"]), io.read_table(other["counts"])
    n = min(a.shape[1], b.shape[1])
    assert not a.iloc[:, 1:n].equals(b.iloc[:, 1:n])


def test_tiny_spec_is_small_and_complete(tiny_spec):
    c = cohort.simulate(tiny_spec, 7)
    sizes = c.samples["class"].value_counts()
    assert sorted(sizes.index) == sorted(
        [
            "normal_liver",
            "normal_lung",
            "normal_brain",
            "normal_heart",
            "cancer_liver",
            "cancer_lung",
        ]
    )
    assert sizes.between(24, 40).all()
    assert len(c.genes) == 400 and set(c.genes["truth_role"]) == ROLES


def test_too_many_planted_genes_raise_input_error(tiny_spec):
    spec = dict(tiny_spec, genes=300, markers_per_class=40)  # 6 classes x 40 = 240 > 180
    with pytest.raises(io.InputError, match=r"cohort\.demo\.genes"):
        cohort.simulate(spec, 7)


def test_planted_share_limit_is_60_percent(tiny_spec):
    """300 genes: 180 planted (60 %) pass, 186 fail."""
    spec = dict(tiny_spec, genes=300, housekeeping_fraction=0.0, tf_fraction=0.0)
    spec["cancer_only_genes"] = 8
    # Tiny: 6 classes; 3 groups (liver, lung, one pair of brain/heart) x 3 lineage markers;
    # 2 tissues x (4 up + 4 down); 8 cancer-only; 3 modules x 3 genes: 9 + 16 + 8 + 9 = 42.
    fixed = 3 * 3 + 2 * (4 + 4) + 8 + 3 * 3
    c = cohort.simulate(dict(spec, markers_per_class=23), 7)  # 42 + 6 x 23 = 180
    assert fixed + 6 * 23 == 180
    assert (c.genes["truth_role"] != "background").sum() == 180
    with pytest.raises(io.InputError, match=r"plants 186 genes in a cohort of 300"):
        cohort.simulate(dict(spec, markers_per_class=24), 7)
