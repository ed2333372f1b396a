import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import sanity
from txai.workflow import job

with job(snakemake):
    sanity.run_summary(
        tables=list(snakemake.input),
        threshold=snakemake.params.threshold,
        out=snakemake.output[0],
    )
