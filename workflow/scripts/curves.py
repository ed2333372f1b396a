import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import curves
from txai.workflow import job

with job(snakemake):
    curves.run(
        estimates=list(snakemake.input.estimates),
        scores=list(snakemake.input.scores),
        samples=snakemake.input.samples,
        genes=snakemake.input.genes,
        config=snakemake.params.config,
        score=snakemake.params.score,
        k=snakemake.params.k,
        seed=snakemake.params.seed,
        out=snakemake.output[0],
    )
