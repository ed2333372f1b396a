import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import io
from txai.workflow import job

with job(snakemake):
    p = snakemake.params
    io.write_provenance(p.config, dict(snakemake.input.items()), p.repo, snakemake.output[0])
