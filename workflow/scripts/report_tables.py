import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import report
from txai.workflow import job

with job(snakemake):
    arch_of = lambda path: path.split("/")[-2]  # noqa: E731  results/models/{arch}/...
    report.tables(
        metrics={arch_of(p): p for p in snakemake.input.metrics},
        crossval={arch_of(p): p for p in snakemake.input.crossval},
        sanity=snakemake.input.sanity,
        config=snakemake.params.config,
        out=dict(snakemake.output.items()),
    )
