import sys
from pathlib import Path

from snakemake.utils import validate

# Jobs import txai from this repository's src/ (their scripts put it on sys.path), so one code
# path serves the venv, conda environments and cluster nodes; so does this file.
REPO = Path(workflow.current_basedir).parents[1]
sys.path.insert(0, str(REPO / "src"))
SCHEMAS = Path(workflow.current_basedir).parent / "schemas"

from txai.config import check  # noqa: E402
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


def final_outputs():
    return [
        "results/provenance.json",
        "results/data/expression.parquet",
        *expand("results/references/{type}.parquet", type=config["references"]["types"]),
    ]
