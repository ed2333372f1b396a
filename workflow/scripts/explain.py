import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import explain
from txai.workflow import job

with job(snakemake):
    p = snakemake.params
    references = {Path(path).stem: path for path in snakemake.input.references}
    models = list(snakemake.input.models)
    outputs = list(snakemake.output)  # by explainer, then model
    for i, explainer in enumerate(p.explainers):
        explain.run(
            expression=snakemake.input.expression,
            samples=snakemake.input.samples,
            models=models,
            references=references,
            arch=p.arch,
            explainer=explainer,
            setting_name=p.setting_name,
            setting=p.setting,
            explain_config=p.explain_config,
            seed=p.seed,
            outputs=outputs[i * len(models) : (i + 1) * len(models)],
        )
