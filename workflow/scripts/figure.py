import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import bio_figures, repro_figures
from txai.workflow import job

DRAW = {"Reproducibility": repro_figures.run, "Biology": bio_figures.run}  # by the rule's category

with job(snakemake):
    params = snakemake.params
    extra = {"groups": params.groups} if params.category == "Biology" else {}
    DRAW[params.category](
        **extra,
        figure=params.figure,
        tables=dict(snakemake.input.items()),
        tissues=params.tissues,
        k=params.k,
        title=params.title,
        png=snakemake.output.png,
        pdf=snakemake.output.pdf,
    )
