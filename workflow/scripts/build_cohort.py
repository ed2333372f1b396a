import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import sources
from txai.workflow import job

with job(snakemake):
    # resources/tcga_projects.tsv ships with the workflow: txai.sources finds it by itself.
    sources.run(
        source=snakemake.params.source,
        files=dict(snakemake.input.items()),
        tcga_projects=snakemake.params.tcga_projects,
        min_class_size=snakemake.params.min_class_size,
        out_expression=snakemake.output.expression,
        out_samples=snakemake.output.samples,
        out_genes=snakemake.output.genes,
    )
