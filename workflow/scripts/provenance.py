import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import io
from txai.workflow import job

with job(snakemake):
    # The repository is found from this script, not a param: an absolute path would rerun a
    # moved or copied project.
    repo = f"{snakemake.scriptdir}/../.."
    inputs = dict(snakemake.input.items())
    io.write_provenance(snakemake.params.config, inputs, repo, snakemake.output[0])
