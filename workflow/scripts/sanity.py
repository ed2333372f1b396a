import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import sanity
from txai.workflow import job

with job(snakemake):
    params = snakemake.params
    sanity.run(
        expression=snakemake.input.expression,
        samples=snakemake.input.samples,
        genes=snakemake.input.genes,
        references={Path(p).stem: p for p in snakemake.input.references},
        model=snakemake.input.model,
        arch=snakemake.wildcards.arch,
        arch_config=params.arch_config,
        common=params.common,
        explainers=params.explainers,
        setting=params.setting,
        explain_config=params.explain_config,
        config=params.config,
        seed=params.seed,
        out=snakemake.output[0],
    )
