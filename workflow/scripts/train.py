import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import train
from txai.workflow import job

with job(snakemake):
    p = snakemake.params
    train.run(
        expression=snakemake.input.expression,
        samples=snakemake.input.samples,
        genes=snakemake.input.genes,
        arch=p.arch,
        models=p.models,
        arch_config=p.arch_config,
        common=p.common,
        seed=p.seed,
        out_models=list(snakemake.output.models),
        out_metas=list(snakemake.output.metas),
    )
