import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import reproducibility
from txai.workflow import job

with job(snakemake):
    out = snakemake.output
    reproducibility.run(
        attributions=list(snakemake.input.attributions),
        samples=snakemake.input.samples,
        genes=snakemake.input.genes,
        config=snakemake.params.config,
        score=snakemake.params.score,
        focus_tissues=snakemake.params.focus_tissues,
        replicate_models=snakemake.params.replicate_models,
        out_replicates=out.replicates,
        out_summary=out.summary,
        out_consistency=out.consistency,
        out_clusters=out.clusters,
    )
