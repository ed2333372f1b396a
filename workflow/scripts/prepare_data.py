import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import data, plan
from txai.workflow import job

with job(snakemake):
    p = snakemake.params
    # The declared size is read from the config, not a param: declaring it anew reruns nothing.
    size = plan.declared_size(snakemake.config)
    data.run(
        **dict(snakemake.input.items()),
        **p.cohort,
        # Found from this script, not a param: an absolute path would rerun a moved project.
        schema=f"{snakemake.scriptdir}/../schemas/samples.schema.yaml",
        focus_tissues=p.focus_tissues,
        seed=p.seed,
        test_fraction=p.test_fraction,
        min_class_size=p.min_class_size,
        size=size,
        size_tolerance=snakemake.config["data"]["size_tolerance"],
        **{f"out_{name}": path for name, path in snakemake.output.items()},
    )
