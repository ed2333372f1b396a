import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import io, train
from txai.workflow import job

with job(snakemake):
    io.write_table(train.metrics(list(snakemake.input)), snakemake.output[0])
