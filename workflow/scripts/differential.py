import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import differential
from txai.workflow import job

with job(snakemake):
    differential.run_tests(
        expression=snakemake.input.expression,
        samples=snakemake.input.samples,
        genes=snakemake.input.genes,
        config=snakemake.params.config,
        focus_tissues=snakemake.params.focus_tissues,
        out_tests=snakemake.output.tests,
        out_truth=snakemake.output.truth,
    )
