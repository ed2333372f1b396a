DIFFERENTIAL_TABLES = {
    "top_de": "results/differential/top_de.parquet",
    "split": "results/differential/split.parquet",
    "shared": "results/differential/shared.parquet",
}


# Normal vs cancer per focus tissue: Mann-Whitney U per gene, BH FDR, fold change of mean TPM.
rule differential:
    input:
        expression="results/data/expression.parquet",
        matrix=MATRIX,  # the sidecars io.read_expression reads
        samples="results/data/samples.parquet",
        genes="results/data/genes.parquet",
    output:
        tests="results/differential/tests.parquet",
        truth="results/differential/truth.tsv",
    log:
        "logs/differential/tests.log",
    params:
        config=config["differential"],
        focus_tissues=FOCUS.tissues,
    resources:
        mem_mb=mem("differential"),
        runtime=runtime("differential"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/differential.py"


# Top genes against the tests: DE shares (Figure 5A), normal / cancer split (5B), shared top
# genes of each cancer class (5C).
rule differential_top_genes:
    input:
        means=plan.optimised_scores(config)["means"],
        expression="results/data/expression.parquet",
        matrix=MATRIX,  # the sidecars io.read_expression reads
        samples="results/data/samples.parquet",
        genes="results/data/genes.parquet",
        tests="results/differential/tests.parquet",
        **(
            {"cancer_genes": plan.resource(config, "differential", "cancer_genes")}
            if config["differential"].get("cancer_genes")
            else {}
        ),
    output:
        **DIFFERENTIAL_TABLES,
    log:
        "logs/differential/top_genes.log",
    params:
        config=config["differential"],
        k=config["annotate"]["top_k"],
        focus_tissues=FOCUS.tissues,
    resources:
        mem_mb=mem("differential"),
        runtime=runtime("differential"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/differential_top_genes.py"
