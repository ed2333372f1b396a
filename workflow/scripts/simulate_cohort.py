import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import cohort
from txai.workflow import job

with job(snakemake):
    cohort.run(snakemake.params.spec, snakemake.params.seed, **dict(snakemake.output.items()))
