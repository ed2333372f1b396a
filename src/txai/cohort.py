"""The embedded demo cohort: a generated transcriptome whose truth is known.

No real cohort can be downloaded on an offline laptop, so the default run uses this one. It is
written in the formats a user supplies (a counts matrix, a sample sheet, a gene annotation and
gene sets), so the demo goes through the same data stage as any real cohort.

Expression is built on a log2-TPM scale per class, then per sample: biological noise and shared
module factors, then negative-binomial counts over gene lengths and library sizes. Planted genes
(the `truth_*` columns of the annotation) are sized so that, at the paper's thresholds:
- tissue- and group-enriched markers are >= 5-fold above every other class (TissueEnrich's
  Tissue-Enriched / Group-Enriched); cancer-only genes are group-enriched in the cancers;
- cancer up/down genes differ ~4-fold between a tissue's normal and cancer class only, so they are
  differentially expressed (fold >= 3) but not tissue-specific;
- housekeeping genes are high and flat; modules are 2.8-fold up in one tissue and strongly
  correlated within (a model may use either of two redundant genes);
- background genes vary by tissue, a cancer keeping its tissue's profile.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd

from txai import io

log = logging.getLogger(__name__)

CHROMOSOMES = [str(c) for c in range(1, 23)] + ["X"]
# Approximate human chromosome lengths (Mb), to place genes.
CHROMOSOME_MB = [248, 242, 198, 190, 181, 171, 159, 145, 138, 134, 135, 133, 114, 107, 102, 90,
                 83, 80, 59, 64, 47, 51, 156]  # fmt: skip
READ = {"scale": "counts", "genes_in": "rows", "protein_coding_only": True}  # for txai.data.run
SAMPLE_NOISE_SD = 0.35  # log2 biological variation per sample and gene
MODULE_FACTOR_SD = 0.8  # log2 shared factor of a module's genes, per sample
DISPERSION = 0.05  # negative binomial: var = mu + DISPERSION * mu^2


class Cohort(NamedTuple):
    counts: pd.DataFrame  # genes x samples, first column `gene`
    samples: pd.DataFrame  # sample, class, tissue, status
    genes: pd.DataFrame  # gene, symbol, chrom, start, length, biotype, truth_*
    gene_sets: dict[str, tuple[str, list[str]]]


def class_table(tissues_with_cancer: list[str], normal_only: list[str]) -> pd.DataFrame:
    """One row per class: `class`, `tissue`, `status`."""
    rows = [(f"normal_{t}", t, "normal") for t in tissues_with_cancer + normal_only]
    rows += [(f"cancer_{t}", t, "cancer") for t in tissues_with_cancer]
    return pd.DataFrame(rows, columns=["class", "tissue", "status"])


def _gene_table(n: int, r: np.random.Generator) -> pd.DataFrame:
    weights = np.array(CHROMOSOME_MB, dtype=float)
    chrom = np.sort(r.choice(len(CHROMOSOMES), size=n, p=weights / weights.sum()))
    start = np.empty(n, dtype=np.int64)
    for c in np.unique(chrom):
        idx = np.flatnonzero(chrom == c)
        start[idx] = np.sort(r.integers(1, CHROMOSOME_MB[c] * 1_000_000, size=idx.size))
    length = np.clip(np.round(r.lognormal(np.log(2500), 0.6, n)), 300, 50_000).astype(np.int64)
    return pd.DataFrame(
        {
            "gene": [f"DG{i:05d}" for i in range(1, n + 1)],
            "symbol": [f"DGENE{i}" for i in range(1, n + 1)],
            "chrom": [CHROMOSOMES[c] for c in chrom],
            "start": start,
            "length": length,
            "biotype": "protein_coding",
        }
    )


def _plant(spec: dict, classes: pd.DataFrame, n_genes: int, r: np.random.Generator):
    """Choose the planted genes. Returns (role, marked class lists, module ids), one per gene."""
    names = classes["class"].tolist()
    by_tissue = classes.groupby("tissue", sort=False)["class"].apply(list).to_dict()
    normal_only = list(spec["normal_only_tissues"])
    plan: list[tuple[str, list[str], str | None]] = []
    for c in names:
        plan += [("tissue_enriched", [c], None)] * spec["markers_per_class"]
    groups = [by_tissue[t] for t in spec["tissues_with_cancer"]]
    for _ in range(spec["normal_groups"] if len(normal_only) >= 2 else 0):
        size = int(r.integers(2, min(3, len(normal_only)) + 1))
        groups.append([f"normal_{t}" for t in r.choice(normal_only, size, replace=False)])
    for group in groups:
        plan += [("group_enriched", list(group), None)] * spec["lineage_markers_per_tissue"]
    for t in spec["tissues_with_cancer"]:
        plan += [("cancer_up", [f"cancer_{t}"], None)] * spec["cancer_genes_per_tissue"]
        plan += [("cancer_down", [f"cancer_{t}"], None)] * spec["cancer_genes_per_tissue"]
    cancers = [f"cancer_{t}" for t in spec["tissues_with_cancer"]]
    plan += [("cancer_only", cancers, None)] * spec["cancer_only_genes"]
    tissues = list(by_tissue)
    for m in range(spec["modules"]):
        marked = by_tissue[tissues[m % len(tissues)]]
        plan += [("module", list(marked), f"module{m + 1:02d}")] * spec["module_size"]
    plan += [("housekeeping", [], None)] * round(spec["housekeeping_fraction"] * n_genes)
    plan += [("tf", [], None)] * round(spec["tf_fraction"] * n_genes)
    if len(plan) > 0.6 * n_genes:
        raise io.InputError(
            f"config: cohort.demo plants {len(plan)} genes in a cohort of {n_genes}; planted genes "
            "may be at most 60 %. Raise cohort.demo.genes or lower the per-class marker counts."
        )
    plan += [("background", [], None)] * (n_genes - len(plan))
    order = r.permutation(n_genes)
    role = np.empty(n_genes, dtype=object)
    marked = np.empty(n_genes, dtype=object)
    module = np.empty(n_genes, dtype=object)
    for g, (rl, mk, md) in zip(order, plan, strict=True):
        role[g], marked[g], module[g] = rl, mk, md
    return role, marked, module


def _class_levels(role, marked, classes: pd.DataFrame, r: np.random.Generator) -> np.ndarray:
    """Expected log2 TPM per class and gene (classes x genes), before normalisation."""
    names = classes["class"].tolist()
    n_classes, n_genes = len(names), len(role)
    tissue_idx = pd.factorize(classes["tissue"])[0]
    base = {
        "background": r.normal(4.5, 2.5, n_genes).clip(-3, 12),
        "tissue_enriched": r.normal(1.0, 1.0, n_genes),
        "group_enriched": r.normal(1.0, 1.0, n_genes),
        "cancer_only": r.normal(-1.5, 0.5, n_genes),
        "cancer_up": r.normal(4.5, 1.0, n_genes),
        "cancer_down": r.normal(6.0, 1.0, n_genes),
        "housekeeping": r.normal(7.0, 1.0, n_genes),
        "tf": r.normal(3.5, 1.5, n_genes),
        "module": r.normal(4.5, 1.2, n_genes),
    }
    # Tissue profiles: a cancer keeps its tissue's effect plus a small deviation of its own.
    tissue_effect = r.normal(0.0, 0.8, (tissue_idx.max() + 1, n_genes))[tissue_idx]
    tissue_effect += (
        r.normal(0.0, 0.15, (n_classes, n_genes))
        * (classes["status"] == "cancer").to_numpy()[:, None]
    )
    tf_effect = r.normal(0.0, 0.6, (tissue_idx.max() + 1, n_genes))[tissue_idx]
    levels = np.empty((n_classes, n_genes))
    jitter = r.normal(0.0, 0.05, (n_classes, n_genes))
    for g in range(n_genes):
        levels[:, g] = base[role[g]][g] + jitter[:, g]
    is_role = {name: np.array([x == name for x in role]) for name in base}
    levels[:, is_role["background"]] += tissue_effect[:, is_role["background"]]
    levels[:, is_role["tf"]] += tf_effect[:, is_role["tf"]]
    lift = {
        "tissue_enriched": (5.0, 7.0),
        "group_enriched": (4.5, 6.0),
        "cancer_only": (6.0, 7.5),
        "cancer_up": (1.9, 2.1),
        "cancer_down": (-2.1, -1.9),
        "module": (1.5, 1.5),
    }
    row = {c: i for i, c in enumerate(names)}
    for g in np.flatnonzero(np.isin(role, list(lift))):
        lo, hi = lift[role[g]]
        levels[[row[c] for c in marked[g]], g] += r.uniform(lo, hi)
    return levels


def simulate(spec: dict, seed: int) -> Cohort:
    """Generate the demo cohort described by `spec` (the config's `cohort.demo` block)."""
    r = io.rng(seed, "cohort")
    classes = class_table(list(spec["tissues_with_cancer"]), list(spec["normal_only_tissues"]))
    genes = _gene_table(spec["genes"], r)
    role, marked, module = _plant(spec, classes, spec["genes"], r)
    levels = _class_levels(role, marked, classes, r)

    lo, hi = spec["samples_per_class"]
    sizes = r.integers(lo, hi + 1, size=len(classes))
    sample_class = r.permutation(np.repeat(np.arange(len(classes)), sizes))
    n = sample_class.size
    log2_expr = levels[sample_class] + r.normal(0.0, SAMPLE_NOISE_SD, (n, len(role)))
    modules = sorted({m for m in module if m is not None})
    for m in modules:
        members = np.flatnonzero(module == m)
        log2_expr[:, members] += r.normal(0.0, MODULE_FACTOR_SD, (n, 1))

    # Reads: proportional to expression x length; library sizes vary; negative-binomial noise
    # drawn as a gamma-Poisson mixture.
    weight = np.exp2(log2_expr) * genes["length"].to_numpy()
    library = spec["library_size"] * r.lognormal(0.0, 0.3, n)
    mean = weight / weight.sum(axis=1, keepdims=True) * library[:, None]
    counts = r.poisson(r.gamma(1.0 / DISPERSION, mean * DISPERSION))

    sample_ids = [f"DS{i:05d}" for i in range(1, n + 1)]
    samples = classes.iloc[sample_class].reset_index(drop=True)
    samples.insert(0, "sample", sample_ids)
    matrix = pd.DataFrame(counts.T.astype(np.int64), columns=sample_ids)
    matrix.insert(0, "gene", genes["gene"])
    genes["truth_role"] = role
    genes["truth_classes"] = [";".join(m) if m else None for m in marked]
    genes["truth_module"] = module
    return Cohort(matrix, samples, genes, _gene_sets(genes, classes, r))


def _gene_sets(genes: pd.DataFrame, classes: pd.DataFrame, r: np.random.Generator):
    """Planted gene sets (markers, modules, housekeeping, cancer program) and random null sets."""
    gene_ids = genes["gene"].to_numpy()
    background = gene_ids[(genes["truth_role"] == "background").to_numpy()]
    marks = genes["truth_classes"].fillna("").str.split(";")
    sets = {}

    def add(name: str, desc: str, members: np.ndarray) -> None:
        noise = r.choice(background, max(1, len(members) // 5), replace=False)
        sets[name] = (desc, sorted(set(members) | set(noise)))

    for c in classes["class"]:
        is_marker = genes["truth_role"].isin(["tissue_enriched", "group_enriched"]) & marks.map(
            lambda m, c=c: c in m
        )
        add(f"DEMO_{c.upper()}_MARKERS", f"planted: markers of {c}", gene_ids[is_marker])
    for m in sorted(genes["truth_module"].dropna().unique()):
        add(f"DEMO_{m.upper()}", f"planted: correlated {m}", gene_ids[genes["truth_module"] == m])
    add(
        "DEMO_HOUSEKEEPING",
        "planted: housekeeping",
        gene_ids[genes["truth_role"] == "housekeeping"],
    )
    cancer = genes["truth_role"].isin(["cancer_only", "cancer_up"])
    add("DEMO_CANCER_PROGRAM", "planted: up in cancer", gene_ids[cancer])
    for i in range(1, 21):
        size = int(r.integers(15, 41))
        sets[f"DEMO_RANDOM_{i:02d}"] = (
            "random: no planted signal",
            sorted(r.choice(background, size, replace=False)),
        )
    return sets


def run(spec: dict, seed: int, *, counts, samples, genes, genesets, tfs) -> None:
    """Write the demo cohort as a user would supply it: counts, sample sheet, annotation, sets,
    and its planted TFs as an AnimalTFDB-format list."""
    cohort = simulate(spec, seed)
    log.info(
        "demo cohort: %d genes, %d samples in %d classes",
        len(cohort.genes),
        len(cohort.samples),
        cohort.samples["class"].nunique(),
    )
    io.write_table(cohort.counts, counts)
    with io.atomic_path(samples) as tmp:
        cohort.samples.to_csv(tmp, sep="\t", index=False)
    io.write_table(cohort.genes, genes)
    io.write_gmt(cohort.gene_sets, genesets)
    planted = cohort.genes[cohort.genes["truth_role"] == "tf"]
    listed = pd.DataFrame(
        {"Species": "Homo_sapiens", "Symbol": planted["symbol"], "Ensembl": planted["gene"],
         "Family": "planted", "Protein": "", "Entrez_ID": ""}
    )  # fmt: skip
    with io.atomic_path(tfs) as tmp:
        listed.to_csv(tmp, sep="\t", index=False)
