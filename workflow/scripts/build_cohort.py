import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # txai from this repository

from txai import sources
from txai.workflow import job

with job(snakemake):
    files, out = snakemake.input, snakemake.output
    outputs = {
        "out_expression": out.expression,
        "out_samples": out.samples,
        "out_genes": out.genes,
        "projects": files.projects,
    }
    if snakemake.params.source == "toil":
        sources.build_toil(
            expression=files.toil_expression,
            phenotype=files.toil_phenotype,
            gtf=files.toil_gtf,
            min_class_size=snakemake.params.min_class_size,
            **outputs,
        )
    else:
        projects = snakemake.params.tcga_projects
        sources.build_portal(
            gtex_tpm=files.portal_gtex_tpm,
            gtex_attributes=files.portal_gtex_attributes,
            tcga_sums={p: files[f"portal_tcga_sums_{p}"] for p in projects},
            tcga_metadata={p: files[f"portal_tcga_metadata_{p}"] for p in projects},
            gtf=files.portal_gtf,
            min_class_size=snakemake.params.min_class_size,
            **outputs,
        )
