import sys
from pathlib import Path

from snakemake.utils import validate

# Jobs import txai from this repository's src/ (their scripts put it on sys.path), so one code
# path serves the venv, conda environments and cluster nodes; so does this file.
REPO = Path(workflow.current_basedir).parents[1]
sys.path.insert(0, str(REPO / "src"))
SCHEMAS = Path(workflow.current_basedir).parent / "schemas"

from txai import simulate  # noqa: E402
from txai.config import CNN_ONLY, REFERENCE_BASED, check, model_ids  # noqa: E402
from txai.data import read_sample_sheet  # noqa: E402

check(config, SCHEMAS / "config.schema.yaml")  # a short message naming the key
validate(config, SCHEMAS / "config.schema.yaml")  # fills in the defaults

COHORT = config["cohort"]
if COHORT["source"] == "files":
    # A bad sample sheet stops the run before any job starts.
    read_sample_sheet(COHORT["files"]["samples"], SCHEMAS / "samples.schema.yaml")


def cohort_files(wildcards=None):
    """The cohort's input files: the generated demo, or the user's own."""
    if COHORT["source"] == "demo":
        return {
            "expression": "results/cohort/counts.parquet",
            "samples": "results/cohort/samples.tsv",
            "genes": "results/cohort/genes.parquet",
            "genesets": "results/cohort/genesets.gmt",
        }
    files = COHORT["files"]
    names = ("expression", "samples", "genes", "genesets")
    return {name: files[name] for name in names if files.get(name)}


def cohort_params():
    """How the data stage reads the cohort: scale, layout and filters."""
    if COHORT["source"] == "demo":
        return {"scale": "counts", "genes_in": "rows", "protein_coding_only": True}
    keys = ("scale", "pseudocount", "genes_in", "protein_coding_only")
    return {key: COHORT["files"][key] for key in keys}


def cohort_size():
    """(samples, genes) the config implies: exact for the demo, the paper's scale otherwise."""
    if COHORT["source"] == "demo":
        demo = COHORT["demo"]
        n_classes = 2 * len(demo["tissues_with_cancer"]) + len(demo["normal_only_tissues"])
        return n_classes * demo["samples_per_class"][1], demo["genes"]
    return 27_417, 19_241


TRAIN_COMMON = {k: v for k, v in config["train"].items() if k not in ("mlp", "cnn")}


def train_mem_mb(wildcards):
    """Expression in float32 a few times over (input, tensors, an up-sampled epoch) + 1 GB."""
    samples, genes = cohort_size()
    return 1000 + 24 * samples * genes // 1_000_000


def train_runtime(wildcards):
    """Minutes for one model: grows with samples x genes x epochs; CNNs cost more per cell."""
    samples, genes = cohort_size()
    per_epoch_s = samples * genes * (2e-7 if wildcards.arch == "mlp" else 5e-6)
    epochs = config["train"][wildcards.arch].get("max_epochs", config["train"]["max_epochs"])
    return max(10, round(epochs * per_epoch_s / 60 * 2))


ARCHS = ("mlp", "cnn")
EXPLAINERS = {
    arch: [e for e in config["explain"]["explainers"] if arch == "cnn" or e not in CNN_ONLY]
    for arch in ARCHS
}
EXPLAIN_COMMON = {
    **{k: v for k, v in config["explain"].items() if k not in ("explainers", "settings")},
    "focus_tissues": config["focus_tissues"],
}


SIMULATE = config["simulate"]
CURVE_SETTINGS = simulate.settings(SIMULATE)  # the estimate curves' own explain settings
SETTINGS = {**config["explain"]["settings"], **CURVE_SETTINGS}


def curve_models(arch):
    """The models the estimate curves explain: the first simulate.models of an architecture."""
    return model_ids(config["train"][arch])[: SIMULATE["models"]]


def curve_inputs(arch):
    """The curve settings' attribution files an architecture needs (each once)."""
    sources = simulate.sources(SIMULATE, arch, EXPLAINERS[arch], REFERENCE_BASED)
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


def explain_batches(arch):
    """Models of an architecture in batches of explain.models_per_job (0: one batch)."""
    ids = model_ids(config["train"][arch])
    size = config["explain"]["models_per_job"] or len(ids)
    return {f"b{i // size + 1:02d}": ids[i : i + size] for i in range(0, len(ids), size)}


def reference_inputs(arch, wildcards):
    """The reference pools a setting uses for an explainer (none for gradient-only ones)."""
    setting = SETTINGS[wildcards.setting][arch]
    kinds = {
        strategy["references"]["type"]
        for strategy in (setting, *setting.get("overrides", {}).values())
        if "references" in strategy
    }
    if wildcards.explainer not in REFERENCE_BASED:
        return []
    return [f"results/references/{kind}.parquet" for kind in sorted(kinds)]


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
    ]


REPRODUCIBILITY_TABLES = {
    "replicates": "replicates.parquet",
    "summary": "summary.tsv",
    "consistency": "consistency.parquet",
    "clusters": "clusters.tsv",
}
_REPLICATES = {"replicates": "results/reproducibility/replicates.parquet"}
_CURVES = {"curves": "results/reproducibility/curves.parquet"}
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
