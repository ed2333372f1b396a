import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import data
from txai.workflow import job

with job(snakemake):
    p = snakemake.params
    data.run(
        **dict(snakemake.input.items()),
        **p.cohort,
        schema=p.schema,
        focus_tissues=p.focus_tissues,
        seed=p.seed,
        test_fraction=p.test_fraction,
        min_class_size=p.min_class_size,
        **{f"out_{name}": path for name, path in snakemake.output.items()},
    )
