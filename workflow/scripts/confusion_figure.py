import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import figures, io
from txai.workflow import job

with job(snakemake):
    predictions = io.read_table(snakemake.input[0])
    fig = figures.confusion(
        predictions, f"{snakemake.wildcards.arch.upper()}, {snakemake.params.cohort}"
    )
    figures.save(fig, snakemake.output.png, snakemake.output.pdf)
