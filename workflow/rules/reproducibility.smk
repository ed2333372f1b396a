REPRODUCIBILITY_TABLES = {
    "replicates": "replicates.parquet",
    "summary": "summary.tsv",
    "consistency": "consistency.parquet",
    "clusters": "clusters.tsv",
}


# Replicate comparisons (Figures 1, 2 E-F, S1) and the consistency of explainers (Figure 3):
# one job reads the plain and optimised attributions of every model.
rule reproducibility:
    input:
        attributions=[f for arch in ARCHS for f in attribution_files(arch, ["plain", "optimised"])],
        samples="results/data/samples.parquet",
        genes="results/data/genes.parquet",
    output:
        **{
            name: f"results/reproducibility/{path}"
            for name, path in REPRODUCIBILITY_TABLES.items()
        },
    log:
        "logs/reproducibility/reproducibility.log",
    params:
        config=config["reproducibility"],
        score=config["explain"]["score"],
        focus_tissues=FOCUS.tissues,
        replicate_models=config["explain"]["replicate_models"],
    resources:
        mem_mb=mem("reproducibility"),
        runtime=runtime("reproducibility"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/reproducibility.py"
