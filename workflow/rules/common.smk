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

check(config, SCHEMAS / "config.schema.yaml")  # a short message naming the key
validate(config, SCHEMAS / "config.schema.yaml")  # fills in the defaults
# A bad sample sheet, or focus tissues it lacks, stops the run before any job starts.
plan.check_inputs(config, SCHEMAS / "samples.schema.yaml")

# The job plan (txai.plan): what the rules below are generated from.
ARCHS = plan.ARCHS
COHORT = plan.cohort_inputs(config)
EXPLAINERS = explainers_by_arch(config)
SETTINGS = plan.settings(config)
JOBS = {arch: plan.explain_jobs(config, arch) for arch in ARCHS}
SIMULATE = config["simulate"]
TITLE = f"{plan.label(config)}; config seed {config['seed']}"  # under every figure
MATRIX = [str(p) for p in io.matrix_paths("results/data/expression.parquet")]  # its sidecars


def mem(stage, **job):
    """A rule's mem_mb from the config (txai.scale), so a dry run shows it."""
    return scale.mem_mb(config, stage, **job)


def runtime(stage, **job):
    """A rule's runtime in minutes from the config (txai.scale). Every job of a rule asks for
    the same (the largest), as a SLURM array gives all its tasks the first task's resources."""
    return scale.runtime_min(config, stage, **job)


def explain_resource(size, arch, jobs):
    """The largest mem or runtime among an explain rule's jobs."""
    return max(
        size("explain", arch=arch, explainer=j.explainer, setting=j.spec, models=j.models)
        for j in jobs
    )


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
