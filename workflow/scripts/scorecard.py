import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import scorecard
from txai.workflow import job

with job(snakemake):
    scorecard.run(
        means=list(snakemake.input.means),
        singles=list(snakemake.input.singles),
        samples=snakemake.input.samples,
        genes=snakemake.input.genes,
        focus_tissues=snakemake.params.focus_tissues,
        k=snakemake.params.k,
        score=snakemake.params.score,
        title=snakemake.params.title,
        out_table=snakemake.output.table,
        out_png=snakemake.output.png,
        out_pdf=snakemake.output.pdf,
    )
