import importlib
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai.workflow import job

with job(snakemake):
    params = snakemake.params
    extra = {"groups": params.groups} if params.module == "bio_figures" else {}
    importlib.import_module(f"txai.{params.module}").run(
        **extra,
        figure=params.figure,
        tables=dict(snakemake.input.items()),
        tissues=params.tissues,
        k=params.k,
        title=params.title,
        png=snakemake.output.png,
        pdf=snakemake.output.pdf,
    )
