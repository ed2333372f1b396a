import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import explain
from txai.workflow import job

with job(snakemake):
    explain.run(
        expression=snakemake.input.expression,
        samples=snakemake.input.samples,
        models=list(snakemake.input.models),
        references={Path(p).stem: p for p in snakemake.input.references},
        arch=snakemake.params.arch,
        explainer=snakemake.wildcards.explainer,
        setting_name=snakemake.wildcards.setting,
        setting=snakemake.params.setting,
        explain_config=snakemake.params.explain_config,
        seed=snakemake.params.seed,
        outputs=list(snakemake.output),
    )
