import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import download
from txai.workflow import job

with job(snakemake):
    spec = snakemake.params.spec
    download.fetch(spec["url"], snakemake.output[0], spec.get("sha256"))
