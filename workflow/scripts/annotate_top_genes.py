import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import annotate
from txai.workflow import job

with job(snakemake):
    annotate.run_top_genes(
        means=list(snakemake.input.means),
        singles=list(snakemake.input.singles),
        expression=snakemake.input.expression,
        samples=snakemake.input.samples,
        annotation=snakemake.input.annotation,
        genesets=snakemake.input.genesets,
        go_obo=snakemake.input.get("go_obo"),
        go_gaf=snakemake.input.get("go_gaf"),
        config=snakemake.params.config,
        score=snakemake.params.score,
        focus_tissues=snakemake.params.focus_tissues,
        out=dict(snakemake.output.items()),
    )
