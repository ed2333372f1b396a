import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import annotate
from txai.workflow import job

with job(snakemake):
    annotate.run_genes(
        medians=snakemake.input.medians,
        genes=snakemake.input.genes,
        tf=snakemake.input.get("tf"),
        tf_cofactor=snakemake.input.get("tf_cofactor"),
        config=snakemake.params.config,
        out_genes=snakemake.output.genes,
        out_truth=snakemake.output.truth,
    )
