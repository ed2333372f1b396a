import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import figures
from txai.workflow import job

with job(snakemake):
    figures.run(
        figure="sanity",
        tables=dict(snakemake.input.items()),
        threshold=snakemake.params.threshold,
        title=snakemake.params.title,
        png=snakemake.output.png,
        pdf=snakemake.output.pdf,
    )
