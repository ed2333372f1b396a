"""Biological annotation of top genes (Figures 4-5): expression status, tissue-specific and
housekeeping genes, transcription factors, gene-set and GO enrichment.

Matrices are classes (or samples) x genes; every rule is vectorised over genes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

import numpy as np
import pandas as pd

from txai import aggregate, io
from txai.io import InputError
from txai.reproducibility import top_sets, unit_ranks
from txai.stats import bh, overlap_test

log = logging.getLogger(__name__)

TS_CATEGORIES = ("Tissue-Enriched", "Group-Enriched", "Tissue-Enhanced")
TF_COLUMNS = ("Species", "Symbol", "Ensembl", "Family", "Protein", "Entrez_ID")
HOUSEKEEPING_RULES = ("mean", "strict")


def _joined(member: np.ndarray, names) -> np.ndarray:
    """';'-joined names of the True rows of each column of classes x genes `member`."""
    labels = np.array([f"{name};" for name in names], dtype=object)
    joined = member.T.astype(object) @ labels  # True * "a;" = "a;", False * "a;" = ""
    return pd.Series(joined, dtype=object).str.rstrip(";").to_numpy(dtype=object)


def _mean(values: np.ndarray) -> np.ndarray:
    """Column means as R's mean() computes them, so that TPM exactly at mean x fold falls as in
    TissueEnrich: a long double sum divided by n, corrected by the mean of the residuals, then
    rounded to float64 (numpy's float64 mean differs in the last bit for a third of genes)."""
    x = values.astype(np.longdouble)
    mean = x.sum(axis=0) / len(x)
    return (mean + (x - mean).sum(axis=0) / len(x)).astype(np.float64)


def _group_size(ordered: np.ndarray, fold: float, max_group: int, min_tpm: float) -> np.ndarray:
    """Per gene, the size of its Group-Enriched group (0 for none) from TPM sorted descending
    (classes x genes): the smallest i >= 2 with mean(top i) / the (i+1)-th >= `fold`, tested
    only when 2 to `max_group` classes are >= `min_tpm` and within `fold` of the highest."""
    n_classes, n_genes = ordered.shape
    sizes = np.arange(2, min(max_group, n_classes - 1) + 1)  # a group needs a class after it
    if sizes.size == 0:
        return np.zeros(n_genes, dtype=int)
    within = ((ordered >= ordered[0] / fold) & (ordered >= min_tpm)).sum(axis=0)
    means = np.stack([_mean(ordered[:size]) for size in sizes])
    with np.errstate(divide="ignore", invalid="ignore"):  # x / 0 = inf passes, 0 / 0 not
        passes = (means / ordered[sizes] >= fold) & (sizes[:, None] <= within)
    found = passes.any(axis=0) & (within >= 2) & (within <= max_group)
    return np.where(found, sizes[passes.argmax(axis=0)], 0)


def tissue_enrich(
    medians: pd.DataFrame, fold: float = 5, max_group: int = 7, min_tpm: float = 1
) -> pd.DataFrame:
    """TissueEnrich's categories (teGeneRetrieval) from classes x genes median TPM: one row per
    gene with its `category` and the `classes` (';'-joined) the category names ("" for none).

    `max_group` caps the number of classes within `fold` of the highest: with more, a gene is
    never Group-Enriched. Thresholds are compared as TissueEnrich does (ratios, mean x fold),
    so exact ties fall the same way."""
    values = medians.to_numpy(dtype=float)
    n_classes, n_genes = values.shape
    order = np.argsort(-values, axis=0, kind="stable")
    ordered = np.take_along_axis(values, order, axis=0)  # per gene, TPM descending
    position = np.argsort(order, axis=0, kind="stable")  # each class's place in that order
    top = ordered[0]
    second = ordered[1] if n_classes > 1 else np.zeros(n_genes)

    category = np.full(n_genes, "", dtype=object)
    size = np.zeros(n_genes, dtype=int)  # the top `size` classes are named

    def assign(mask: np.ndarray, name: str, named: int | np.ndarray = 0) -> None:
        new = mask & (category == "")
        category[new] = name
        size[new] = np.broadcast_to(named, n_genes)[new]

    assign(top < min_tpm, "Not-Expressed")
    with np.errstate(divide="ignore", invalid="ignore"):  # x / 0 = inf passes, 0 / 0 not
        assign(top / second >= fold, "Tissue-Enriched", 1)
    group = _group_size(ordered, fold, max_group, min_tpm)
    assign(group > 0, "Group-Enriched", group)
    assign(ordered[-1] >= min_tpm, "Expressed-In-All")
    enhanced = (values >= _mean(values) * fold) & (values >= min_tpm)
    assign(enhanced.any(axis=0), "Tissue-Enhanced")
    assign(np.ones(n_genes, dtype=bool), "Mixed")

    member = np.where(category == "Tissue-Enhanced", enhanced, position < size)
    return pd.DataFrame(
        {
            "gene": list(medians.columns),
            "category": category.astype(str),
            "classes": _joined(member, medians.index).astype(str),
        }
    )


def is_tissue_specific(table: pd.DataFrame, categories=TS_CATEGORIES) -> np.ndarray:
    """True for genes whose TissueEnrich category is one of `categories`."""
    return table["category"].isin(list(categories)).to_numpy()


def housekeeping(
    medians: pd.DataFrame, min_tpm: float = 1, fold: float = 2, rule: str = "mean"
) -> np.ndarray:
    """Housekeeping genes from classes x genes median TPM: expressed (> `min_tpm`) in every class
    and stable across classes: within `fold`-fold of the gene's log2 mean ("mean") or
    max/min < `fold` ("strict")."""
    if rule not in HOUSEKEEPING_RULES:
        raise ValueError(f"unknown housekeeping rule {rule!r}; options: {HOUSEKEEPING_RULES}")
    values = medians.to_numpy(dtype=float)
    expressed = (values > min_tpm).all(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if rule == "mean":
            logged = np.log2(values)
            spread = np.abs(logged - logged.mean(axis=0)).max(axis=0)
            stable = spread <= np.log2(fold) + 1e-12  # inclusive, despite rounding
        else:
            stable = values.max(axis=0) / values.min(axis=0) < fold
    return expressed & stable


def read_tf_list(path: str | os.PathLike) -> set[str]:
    """Gene symbols and Ensembl ids of an AnimalTFDB v3 list (TFs or TF cofactors)."""
    table = pd.read_csv(path, sep="\t", dtype=str, compression=io.compression(path))
    missing = [column for column in ("Symbol", "Ensembl") if column not in table.columns]
    if missing:
        raise InputError(
            f"{os.fspath(path)}: missing column(s) {missing}; an AnimalTFDB v3 list has the "
            f"tab-separated header {' '.join(TF_COLUMNS)}."
        )
    values = pd.concat([table["Symbol"], table["Ensembl"]]).dropna().str.strip()
    return set(values[values != ""])


def expression_status(
    scores: np.ndarray, expression: np.ndarray, k: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Per sample (row): Spearman's rho between gene scores and expression, and the number of
    top-k genes by score that are among the k most expressed genes."""
    scores, expression = np.asarray(scores, dtype=float), np.asarray(expression, dtype=float)
    rho = (unit_ranks(scores) * unit_ranks(expression)).sum(axis=1)
    return rho, set_overlaps(top_sets(scores, k), top_sets(expression, k))


def set_overlaps(top: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Genes both in each row's top set and in the member set (rows x genes or 1 x genes)."""
    return (np.asarray(top, dtype=bool) & np.asarray(members, dtype=bool)).sum(axis=1)


def gmt_enrichment(
    top: list[str], background: list[str], sets: dict[str, set], min_size: int = 3
) -> pd.DataFrame:
    """Over-representation of each gene set among `top` genes (hypergeometric, BH), both
    restricted to `background`; sets with fewer than `min_size` background genes are skipped."""
    universe = set(background)
    drawn = universe.intersection(top)
    rows = []
    for term, genes in sets.items():
        inside = universe.intersection(genes)
        if len(inside) >= min_size:
            rows.append((term, len(inside), len(drawn.intersection(inside))))
    table = pd.DataFrame(rows, columns=["term", "size", "overlap"])
    table = table.astype({"term": str, "size": np.int64, "overlap": np.int64})
    table["expected"], table["p"] = overlap_test(
        table["overlap"].to_numpy(), len(drawn), table["size"].to_numpy(), len(universe)
    )
    table["fdr"] = bh(table["p"].to_numpy())
    return table.sort_values(["p", "term"], kind="stable").reset_index(drop=True)


def read_gaf(path: str | os.PathLike, genes) -> dict[str, set[str]]:
    """GO ids per gene symbol from a GAF 2.x file (NOT qualifiers dropped), for `genes` only."""
    try:
        gaf = pd.read_csv(
            path, sep="\t", header=None, comment="!", usecols=[2, 3, 4], dtype=str, quoting=3,
            compression=io.compression(path),
        )  # fmt: skip
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise InputError(
            f"{path}: cannot be read as a GAF 2.x file ({e}). GAF lines are tab-separated, with "
            "the gene symbol, qualifier and GO id in columns 3 to 5: check annotate.go_gaf."
        ) from e
    gaf.columns = ["symbol", "qualifier", "go"]
    keep = ~gaf["qualifier"].fillna("").str.contains("NOT") & gaf["symbol"].isin(set(genes))
    kept = gaf[keep].dropna(subset=["go"])
    return {symbol: set(ids) for symbol, ids in kept.groupby("symbol")["go"]}


GO_COLUMNS = ["namespace", "term", "name", "size", "overlap", "p", "fdr"]


def go_enrichment(
    top: list[str], background: list[str], obo, associations: dict[str, set[str]]
) -> pd.DataFrame:
    """GO over-representation among `top` genes against `background` with goatools: one-sided
    Fisher (= hypergeometric) p, BH per namespace, annotations propagated up the is_a graph.

    `obo` is an OBO path or a loaded `goatools.obo_parser.GODag`; only enriched terms are kept.
    """
    from goatools.go_enrichment import GOEnrichmentStudy
    from goatools.obo_parser import GODag

    with contextlib.redirect_stdout(sys.stderr):  # goatools prints progress
        dag = (
            obo
            if isinstance(obo, GODag)
            else GODag(os.fspath(obo), optional_attrs=set(), load_obsolete=False, prt=None)
        )
        by_namespace: dict[str, dict[str, set[str]]] = {}
        for gene, ids in associations.items():  # copies: goatools propagates in place
            for go in ids:
                if go in dag:
                    by_namespace.setdefault(dag[go].namespace, {}).setdefault(gene, set()).add(go)
        results = []
        for namespace, assoc in sorted(by_namespace.items()):  # as GOEnrichmentStudyNS does
            study = GOEnrichmentStudy(
                list(background),
                assoc,
                dag,
                propagate_counts=True,
                alpha=0.05,
                methods=["fdr_bh"],
                log=None,
                alternative="greater",
                name=namespace,
            )
            results += study.run_study(list(top))
    rows = [
        (dag[r.GO].namespace, r.GO, r.name, r.pop_count, r.study_count, r.p_uncorrected, r.p_fdr_bh)
        for r in results
        if r.enrichment == "e"
    ]
    table = pd.DataFrame(rows, columns=GO_COLUMNS)
    return table.sort_values(["p", "term"], kind="stable").reset_index(drop=True)


# --- The workflow's steps -------------------------------------------------------------------------


def run_genes(*, medians, genes, tf, tf_cofactor, config: dict, out_genes, out_truth) -> None:
    """`annotation/genes.parquet` (gene, symbol, ts_category, ts_classes, ts, housekeeping, tf,
    tf_cofactor) from the classes' median TPM (`data.class_medians`) and, for a cohort with
    planted truth, how many planted tissue- and group-enriched markers are TS genes of their
    classes."""
    medians = io.read_table(medians).set_index("class")
    gene_ids = list(medians.columns)
    spec = config["tissue_specific"]
    table = tissue_enrich(medians, spec["fold"], spec["max_group"], spec["min_tpm"])
    table["ts"] = is_tissue_specific(table, tuple(spec["categories"]))
    hk = config["housekeeping"]
    table["housekeeping"] = housekeeping(medians, hk["min_tpm"], hk["fold"], hk["rule"])
    annotation = io.read_table(genes).set_index("gene").loc[gene_ids]
    for column, path in (("tf", tf), ("tf_cofactor", tf_cofactor)):
        listed = read_tf_list(path) if path else set()
        symbols = annotation["symbol"]
        table[column] = [g in listed or s in listed for g, s in zip(gene_ids, symbols, strict=True)]
    table.insert(1, "symbol", annotation["symbol"].to_numpy())
    table = table.rename(columns={"category": "ts_category", "classes": "ts_classes"})
    io.write_table(table, out_genes)
    truth = ts_truth(table, annotation) if "truth_role" in annotation else pd.DataFrame()
    with io.atomic_path(out_truth) as tmp:
        truth.to_csv(tmp, sep="\t", index=False, float_format="%.4g")
    log.info(
        "%d genes: %d TS, %d housekeeping, %d TF, %d TF cofactors", len(table), table["ts"].sum(),
        table["housekeeping"].sum(), table["tf"].sum(), table["tf_cofactor"].sum(),
    )  # fmt: skip


PLANTED_SPECIFIC = ("tissue_enriched", "group_enriched", "cancer_up", "cancer_down", "cancer_only")


def ts_truth(table: pd.DataFrame, annotation: pd.DataFrame) -> pd.DataFrame:
    """Planted markers against the TS calls: recall (planted tissue- and group-enriched genes
    that are TS genes of all their classes) and precision (TS genes with a planted
    class-specific role)."""
    roles = annotation["truth_role"].to_numpy()
    planted = np.isin(roles, ["tissue_enriched", "group_enriched"])
    called = table["ts_classes"].str.split(";").map(set).to_numpy()
    marks = annotation["truth_classes"].fillna("").str.split(";").map(set).to_numpy()
    found = table["ts"].to_numpy() & np.array([m <= c for m, c in zip(marks, called, strict=True)])
    ts = table["ts"].to_numpy()
    return pd.DataFrame(
        {"measure": ["planted markers", "found as TS of their classes", "recall",
                     "TS genes", "with a planted class-specific role", "precision"],
         "value": [planted.sum(), (found & planted).sum(), (found & planted).sum() / planted.sum(),
                   ts.sum(), (ts & np.isin(roles, PLANTED_SPECIFIC)).sum(),
                   (ts & np.isin(roles, PLANTED_SPECIFIC)).sum() / max(ts.sum(), 1)]}
    )  # fmt: skip


def run_top_genes(
    *, means: list, singles: list, expression, samples, annotation, genesets, go_obo, go_gaf,
    config: dict, score: str, focus_tissues: list, out: dict,
) -> None:  # fmt: skip
    """Expression status, overlaps with TS / HK / TF sets and enrichment of the top genes."""
    sample_ids, gene_ids, x = io.read_expression(expression)
    sheet = io.read_table(samples).set_index("sample")
    table = io.read_table(annotation).set_index("gene").loc[gene_ids]
    k = config["top_k"]
    class_ts = {
        c: table["ts"].to_numpy() & table["ts_classes"].str.split(";").map(lambda s, c=c: c in s)
        for c in sheet["class"].unique()
    }
    fixed = {"HK": table["housekeeping"], "TF": table["tf"], "TF cofactor": table["tf_cofactor"]}
    fixed = {name: column.to_numpy() for name, column in fixed.items()}
    position = pd.Series(np.arange(len(sample_ids)), index=sample_ids)
    sets = io.read_gmt(genesets)
    go = (go_obo, read_gaf(go_gaf, set(table["symbol"]))) if go_obo and go_gaf else None
    overlaps, status, representatives, enrichment = [], [], [], []
    for arch, explainer, aggregated, scores in aggregate.combinations(
        means, singles, score, gene_ids
    ):
        scores = scores[sheet.loc[scores.index, "tissue"].isin(focus_tissues).to_numpy()]
        info = sheet.loc[scores.index, ["class", "tissue", "status"]].reset_index()
        values, expressed = scores.to_numpy(), x[position.loc[scores.index].to_numpy()]
        top = top_sets(values, k)
        rho, shared = expression_status(values, expressed, k)
        keys = {"arch": arch, "explainer": explainer, "aggregated": aggregated}
        status.append(info.assign(**keys, rho=rho))
        members = {"top expressed": top_sets(expressed, k),
                   "TS": np.stack([class_ts[c] for c in info["class"]]), **fixed}  # fmt: skip
        for name, member in members.items():
            member = np.broadcast_to(member, top.shape)
            counts = set_overlaps(top, member)
            expected, p = overlap_test(counts, k, member.sum(1), len(gene_ids))
            rows = info.assign(**keys, set=name, top_k=k, overlap=counts, expected=expected, p=p)
            overlaps.append(rows)
        if not aggregated:
            continue
        names, index, _ = aggregate.class_top(scores, sheet["class"], k)
        combination = aggregate.label(arch, explainer, True)
        for c, idx in zip(names, index, strict=True):
            genes_top = [gene_ids[i] for i in idx]
            if combination in config["representatives"]:
                representatives.append(pd.DataFrame(
                    {"combination": combination, "class": c,
                     "tissue": sheet.loc[sheet["class"] == c, "tissue"].iloc[0],
                     "status": sheet.loc[sheet["class"] == c, "status"].iloc[0],
                     "rank": np.arange(1, len(idx) + 1), "gene": genes_top}
                ))  # fmt: skip
            found = gmt_enrichment(
                genes_top, gene_ids, {n: set(g) for n, (_, g) in sets.items()},
                config["enrichment_min_size"],
            )  # fmt: skip
            found.insert(0, "source", "gene sets")
            if go is not None:
                symbols = table.loc[genes_top, "symbol"].tolist()
                terms = go_enrichment(symbols, table["symbol"].tolist(), go[0], go[1])
                found = pd.concat([found, terms.assign(source="GO")], ignore_index=True)
            enrichment.append(found.assign(combination=combination, **keys, **{"class": c}))
    io.write_table(pd.concat(overlaps, ignore_index=True), out["overlaps"])
    io.write_table(pd.concat(status, ignore_index=True), out["status"])
    io.write_table(pd.concat(representatives, ignore_index=True), out["representatives"])
    with io.atomic_path(out["enrichment"]) as tmp:
        pd.concat(enrichment, ignore_index=True).to_csv(tmp, sep="\t", index=False)
