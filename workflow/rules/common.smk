import sys
from pathlib import Path

from snakemake.utils import validate

# Jobs import txai from this repository's src/ (their scripts put it on sys.path), so one code
# path serves the venv, conda environments and cluster nodes; so does this file.
REPO = Path(workflow.current_basedir).parents[1]
sys.path.insert(0, str(REPO / "src"))
SCHEMAS = Path(workflow.current_basedir).parent / "schemas"

from txai import io, paths, plan, scale  # noqa: E402
from txai.config import check, explainers_by_arch, model_ids  # noqa: E402

# A bad config or sample sheet stops the run before any job starts, with its message alone (it
# names the key or file and the fix; a traceback would only hide it).
try:
    check(config, SCHEMAS / "config.schema.yaml")
    validate(config, SCHEMAS / "config.schema.yaml")  # fills in the defaults
    plan.check_inputs(config, SCHEMAS / "samples.schema.yaml")
except io.InputError as error:
    sys.exit(f"txai: {error}")

# The job plan (txai.plan): what the rules below are generated from.
ARCHS = plan.ARCHS
COHORT = plan.cohort_inputs(config)
FOCUS = plan.focus(config)
EXPLAINERS = explainers_by_arch(config)
SETTINGS = plan.settings(config)
JOBS = {arch: plan.explain_jobs(config, arch, scale.COST) for arch in ARCHS}
PACKS = {arch: plan.explain_packs(config, arch, scale.COST) for arch in ARCHS}
SIMULATE = config["simulate"]
TITLE = f"{plan.label(config)}; config seed {config['seed']}"  # under every figure
MATRIX = [str(p) for p in io.matrix_paths("results/data/expression.parquet")]  # its sidecars


def mem(stage, *jobs, **job):
    """A rule's mem_mb from the config (txai.scale), so a dry run shows it: one request for
    all its jobs, the largest over `jobs` (dicts of arch, explainer, ...). It grows on each
    retry (`scale.on_attempt`)."""
    return retried("mem_mb", max(scale.mem_mb(config, stage, **j) for j in jobs or [job]))


def runtime(stage, *jobs, **job):
    """A rule's runtime in minutes from the config (txai.scale), as `mem` its memory."""
    return retried("runtime", max(scale.runtime_min(config, stage, **j) for j in jobs or [job]))


def retried(kind, first):
    """A resource Snakemake asks for anew on each attempt of a job (--retries)."""
    return lambda wildcards, attempt: scale.on_attempt(config, kind, first, attempt)


def explain_costs(arch, jobs):
    """The cost-model arguments (txai.scale) of an explain rule's jobs."""
    return [dict(arch=arch, explainer=j.explainer, setting=j.spec, models=j.models) for j in jobs]


def attribution_files(arch, settings):
    """Every model's attribution files of an architecture for the given settings."""
    return plan.attribution_files([j for j in JOBS[arch] if j.setting in settings], arch)


def reference_files(arch, setting, explainers):
    """The reference pools a setting needs for the explainers (none for gradient-only ones)."""
    kinds = plan.references(SETTINGS[setting][arch], explainers)
    return [f"results/references/{kind}.parquet" for kind in kinds]


def final_outputs():
    """Everything the default target asks for, every stage's tables and figures."""
    return [
        "results/provenance.json",
        "results/data/expression.parquet",
        *expand("results/references/{type}.parquet", type=config["references"]["types"]),
        *expand("results/models/{arch}/metrics.parquet", arch=ARCHS),
        *expand("results/models/{arch}/crossval.parquet", arch=ARCHS),
        *expand("results/figures/confusion_{arch}.{ext}", arch=ARCHS, ext=("png", "pdf")),
        *TOP_GENE_TABLES,
        *expand("results/reproducibility/{name}", name=REPRODUCIBILITY_TABLES.values()),
        "results/reproducibility/curves.parquet",
        *expand("results/figures/{fig}.{ext}", fig=FIGURES, ext=("png", "pdf")),
        *ANNOTATION_TABLES.values(),
        *DIFFERENTIAL_TABLES.values(),
        "results/sanity/sanity.parquet",
        *expand("results/figures/sanity.{ext}", ext=("png", "pdf")),
        *expand("results/report/scorecard.{ext}", ext=("parquet", "png", "pdf")),
        *expand("results/report/{name}", name=("models.tsv", "crossval.tsv", "sanity.tsv")),
        "results/report/config.yaml",
    ]
