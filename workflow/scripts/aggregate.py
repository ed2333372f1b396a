import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import aggregate, paths
from txai.workflow import job

with job(snakemake):
    out = snakemake.output
    for i, explainer in enumerate(snakemake.params.explainers):
        aggregate.run(
            attributions=[
                p for p in snakemake.input.attributions if paths.parse(p).explainer == explainer
            ],
            samples=snakemake.input.samples,
            genes=snakemake.input.genes,
            score=snakemake.params.score,
            k=snakemake.params.k,
            out_mean=out.mean[i],
            out_top=out.top[i],
            out_table=out.table[i],
            annotation=snakemake.input.annotation,
            tests=snakemake.input.tests,
        )
