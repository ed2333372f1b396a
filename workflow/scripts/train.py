import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import train
from txai.workflow import job

with job(snakemake):
    train.run(
        expression=snakemake.input.expression,
        samples=snakemake.input.samples,
        genes=snakemake.input.genes,
        arch=snakemake.wildcards.arch,
        model=snakemake.wildcards.model,
        arch_config=snakemake.params.arch_config,
        common=snakemake.params.common,
        seed=snakemake.params.seed,
        out_model=snakemake.output.model,
        out_meta=snakemake.output.meta,
    )
