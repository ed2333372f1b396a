import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import repro_figures
from txai.workflow import job

with job(snakemake):
    repro_figures.run(
        figure=snakemake.params.figure,
        tables=dict(snakemake.input.items()),
        tissues=snakemake.params.tissues,
        k=snakemake.params.k,
        title=snakemake.params.title,
        png=snakemake.output.png,
        pdf=snakemake.output.pdf,
    )
