import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import differential
from txai.workflow import job

with job(snakemake):
    differential.run_top_genes(
        means=list(snakemake.input.means),
        expression=snakemake.input.expression,
        samples=snakemake.input.samples,
        genes=snakemake.input.genes,
        tests=snakemake.input.tests,
        cancer_genes=snakemake.input.get("cancer_genes"),
        config=snakemake.params.config,
        k=snakemake.params.k,
        focus_tissues=snakemake.params.focus_tissues,
        out=dict(snakemake.output.items()),
    )
