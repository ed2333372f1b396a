import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import train
from txai.workflow import job

with job(snakemake):
    train.crossval(
        expression=snakemake.input.expression,
        samples=snakemake.input.samples,
        genes=snakemake.input.genes,
        arch=snakemake.wildcards.arch,
        arch_config=snakemake.params.arch_config,
        common=snakemake.params.common,
        seed=snakemake.params.seed,
        out_predictions=snakemake.output.predictions,
        out_scores=snakemake.output.scores,
    )
