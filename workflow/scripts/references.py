import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import references
from txai.workflow import job

with job(snakemake):
    references.run(
        expression=snakemake.input.expression,
        samples=snakemake.input.samples,
        kind=snakemake.wildcards.type,
        pool_size=snakemake.params.pool_size,
        focus_tissues=snakemake.params.focus_tissues,
        seed=snakemake.params.seed,
        out=snakemake.output[0],
    )
