import sys
from pathlib import Path

from snakemake.utils import validate

# Jobs import txai from this repository's src/ (their scripts put it on sys.path), so one code
# path serves the venv, conda environments and cluster nodes; so does this file.
REPO = Path(workflow.current_basedir).parents[1]
sys.path.insert(0, str(REPO / "src"))
SCHEMAS = Path(workflow.current_basedir).parent / "schemas"

from txai import scale, simulate  # noqa: E402
from txai.config import (  # noqa: E402
    check,
    check_combinations,
    check_demo_focus,
    explainers_by_arch,
    model_ids,
    setting_for,
)
from txai.data import check_focus, read_sample_sheet  # noqa: E402

check(config, SCHEMAS / "config.schema.yaml")  # a short message naming the key
validate(config, SCHEMAS / "config.schema.yaml")  # fills in the defaults

COHORT = config["cohort"]
check_demo_focus(config)
if COHORT["source"] == "files":
    # A bad sample sheet, or focus tissues it lacks, stops the run before any job starts.
    check_focus(
        read_sample_sheet(COHORT["files"]["samples"], SCHEMAS / "samples.schema.yaml"),
        config["focus_tissues"],
        COHORT["files"]["samples"],
    )


SOURCE_OUT = {  # a downloaded cohort, as build_cohort writes it: read once, by prepare_data
    "expression": "results/source/expression.parquet",
    "samples": "results/source/samples.tsv",
    "genes": "results/source/genes.parquet",
}


def cohort_files(wildcards=None):
    """The cohort's input files: the generated demo, one built from downloads, or the user's."""
    if COHORT["source"] == "demo":
        return {
            "expression": "results/cohort/counts.parquet",
            "samples": "results/cohort/samples.tsv",
            "genes": "results/cohort/genes.parquet",
            "genesets": "results/cohort/genesets.gmt",
        }
    if COHORT["source"] in ("toil", "portal"):
        return SOURCE_OUT
    files = COHORT["files"]
    names = ("expression", "samples", "genes", "genesets")
    return {name: files[name] for name in names if files.get(name)}


def cohort_params():
    """How the data stage reads the cohort: scale, layout and filters."""
    if COHORT["source"] == "demo":
        return {"scale": "counts", "genes_in": "rows", "protein_coding_only": True}
    if COHORT["source"] == "toil":  # UCSC Xena: log2(TPM + 0.001), protein-coding already
        return {"scale": "log2", "pseudocount": 0.001, "genes_in": "columns"}
    if COHORT["source"] == "portal":
        return {"scale": "tpm", "genes_in": "columns"}
    keys = ("scale", "pseudocount", "genes_in", "protein_coding_only")
    return {key: COHORT["files"][key] for key in keys}


def source_files():
    """{input name: (path, download spec or None)} of a toil or portal cohort's files."""
    source = COHORT["source"]
    if source not in ("toil", "portal"):
        return {}
    out = {}
    for key, spec in COHORT[source].items():
        if key == "tcga_projects":
            continue
        projects = COHORT[source]["tcga_projects"] if key.startswith("tcga_") else [None]
        for project in projects:
            name = f"{source}_{key}" + (f"_{project}" if project else "")
            if project:
                fill = {"project": project, "suffix": project[-2:]}
                sha = spec.get("sha256", {}).get(project)
                spec_ = {k: spec[k].format(**fill) for k in ("path", "url") if k in spec}
                spec_ = {**spec_, "sha256": sha}
            else:
                spec_ = spec
            if "path" in spec_:
                out[name] = (spec_["path"], None)
            else:
                out[name] = (f"results/downloads/{name}", spec_)
    return out


def mem(stage, **job):
    """A rule's mem_mb from the config (txai.scale), so a dry run shows it."""
    return scale.mem_mb(config, stage, **job)


def runtime(stage, **job):
    """A rule's runtime in minutes from the config (txai.scale). Every job of a rule asks for
    the same (the largest), as a SLURM array gives all its tasks the first task's resources."""
    return scale.runtime_min(config, stage, **job)


TRAIN_COMMON = {k: v for k, v in config["train"].items() if k not in ("mlp", "cnn")}


ARCHS = ("mlp", "cnn")
EXPLAINERS = explainers_by_arch(config)
EXPLAIN_COMMON = {
    **{k: v for k, v in config["explain"].items() if k not in ("explainers", "settings")},
    "focus_tissues": config["focus_tissues"],
}


check_combinations(config)
SIMULATE = config["simulate"]
CURVE_SETTINGS = simulate.settings(SIMULATE)  # the estimate curves' own explain settings
SETTINGS = {**config["explain"]["settings"], **CURVE_SETTINGS}


def curve_models(arch):
    """The models the estimate curves explain: the first simulate.models of an architecture."""
    return model_ids(config["train"][arch])[: SIMULATE["models"]]


def curve_inputs(arch):
    """The curve settings' attribution files an architecture needs (each once)."""
    sources = simulate.sources(SIMULATE, arch, EXPLAINERS[arch])
    pairs = dict.fromkeys((setting, explainer) for _, _, setting, explainer in sources)
    return [
        f"results/attributions/{arch}/{explainer}/{setting}/{model}.parquet"
        for setting, explainer in pairs
        for model in curve_models(arch)
    ]


def attribution_files(arch, settings):
    """Every model's attribution files of an architecture for the given settings."""
    return expand(
        "results/attributions/{arch}/{explainer}/{setting}/{model}.parquet",
        arch=arch,
        explainer=EXPLAINERS[arch],
        setting=settings,
        model=model_ids(config["train"][arch]),
    )


def explain_resource(size, arch, models, settings):
    """The largest mem or runtime among one explain rule's jobs (every explainer and setting):
    a SLURM array gives every task its first task's resources, so a rule's jobs ask alike."""
    return max(
        size("explain", arch=arch, explainer=explainer, setting=SETTINGS[name][arch], models=models)
        for explainer in EXPLAINERS[arch]
        for name in settings
    )


def explain_batches(arch):
    """Models of an architecture in batches of explain.models_per_job (0: one batch)."""
    ids = model_ids(config["train"][arch])
    size = config["explain"]["models_per_job"] or len(ids)
    return {f"b{i // size + 1:02d}": ids[i : i + size] for i in range(0, len(ids), size)}


def reference_inputs(arch, wildcards):
    """The reference pool a setting uses for an explainer (none where it uses no references)."""
    strategy = setting_for(SETTINGS[wildcards.setting][arch], wildcards.explainer)
    if "references" not in strategy:
        return []
    return [f"results/references/{strategy['references']['type']}.parquet"]


def final_outputs():
    archs = ARCHS
    return [
        "results/provenance.json",
        "results/data/expression.parquet",
        *expand("results/references/{type}.parquet", type=config["references"]["types"]),
        *expand("results/models/{arch}/metrics.parquet", arch=archs),
        *expand("results/models/{arch}/crossval.parquet", arch=archs),
        *expand("results/figures/confusion_{arch}.{ext}", arch=archs, ext=("png", "pdf")),
        *[
            f"results/tables/top_genes_{arch}_{explainer}_{setting}.tsv"
            for arch in archs
            for explainer in EXPLAINERS[arch]
            for setting in config["explain"]["settings"]
        ],
        *expand("results/reproducibility/{name}", name=REPRODUCIBILITY_TABLES.values()),
        "results/reproducibility/curves.parquet",
        *expand("results/figures/{fig}.{ext}", fig=REPRO_FIGURES, ext=("png", "pdf")),
        *ANNOTATION_TABLES.values(),
        *DIFFERENTIAL_TABLES.values(),
        *expand("results/figures/{fig}.{ext}", fig=BIO_FIGURES, ext=("png", "pdf")),
        "results/sanity/sanity.parquet",
        *expand("results/figures/sanity.{ext}", ext=("png", "pdf")),
        *expand("results/report/scorecard.{ext}", ext=("parquet", "png", "pdf")),
        *expand("results/report/{name}", name=("models.tsv", "crossval.tsv", "sanity.tsv")),
        "results/report/config.yaml",
    ]


ANNOTATION_TABLES = {
    "overlaps": "results/annotation/overlaps.parquet",
    "status": "results/annotation/expression_status.parquet",
    "representatives": "results/annotation/representatives.parquet",
    "enrichment": "results/annotation/enrichment.tsv",
}
DIFFERENTIAL_TABLES = {
    "top_de": "results/differential/top_de.parquet",
    "split": "results/differential/split.parquet",
    "shared": "results/differential/shared.parquet",
}


REPRODUCIBILITY_TABLES = {
    "replicates": "replicates.parquet",
    "summary": "summary.tsv",
    "consistency": "consistency.parquet",
    "clusters": "clusters.tsv",
}
def resource(section, key):
    """An annotation file: its configured path, or where the download rule puts its URL."""
    spec = config[section].get(key)
    if spec is None:
        return None
    return spec["path"] if "path" in spec else f"results/downloads/{key}"


DOWNLOADS = {
    **{
        key: spec
        for section in ("annotate", "differential")
        for key, spec in config[section].items()
        if isinstance(spec, dict) and "url" in spec
    },
    **{name: spec for name, (_, spec) in source_files().items() if spec},
}


def annotation_files(wildcards=None):
    """The TF, TF cofactor and GO files in use (the demo: its planted TF list)."""
    files = {key: resource("annotate", key) for key in ("tf", "tf_cofactor", "go_obo", "go_gaf")}
    if files["tf"] is None and COHORT["source"] == "demo":
        files["tf"] = "results/cohort/tfs.tsv"
    return {key: path for key, path in files.items() if path}


def optimised_scores():
    """Every explainer's aggregated (mean over models) and single-model (m01) optimised scores."""
    return {
        "means": [
            f"results/aggregate/{arch}/{explainer}/optimised/mean.parquet"
            for arch in ARCHS
            for explainer in EXPLAINERS[arch]
        ],
        "singles": [
            f"results/attributions/{arch}/{explainer}/optimised/m01.parquet"
            for arch in ARCHS
            for explainer in EXPLAINERS[arch]
        ],
    }


_REPLICATES = {"replicates": "results/reproducibility/replicates.parquet"}
_CURVES = {"curves": "results/reproducibility/curves.parquet"}
_MEDIANS = {"medians": "results/annotation/class_medians.parquet"}
_OVERLAPS = {"overlaps": "results/annotation/overlaps.parquet"}
BIO_FIGURES = {  # figure: the tables it is drawn from
    "fig4": {
        **_OVERLAPS,
        **_MEDIANS,
        "representatives": "results/annotation/representatives.parquet",
    },
    "fig5": {
        **_MEDIANS,
        "top_de": "results/differential/top_de.parquet",
        "split": "results/differential/split.parquet",
        "shared": "results/differential/shared.parquet",
    },
    "figS9": {"status": "results/annotation/expression_status.parquet"},
    "figS11": {**_OVERLAPS, **_MEDIANS, "genes": "results/annotation/genes.parquet"},
}
REPRO_FIGURES = {  # figure: the tables it is drawn from
    "fig1": _REPLICATES,
    "figS1": _REPLICATES,
    "fig2": {**_REPLICATES, **_CURVES},
    "figS4": _CURVES,
    "fig3": {
        "consistency": "results/reproducibility/consistency.parquet",
        "clusters": "results/reproducibility/clusters.tsv",
    },
}
