ANNOTATION_TABLES = {
    "overlaps": "results/annotation/overlaps.parquet",
    "status": "results/annotation/expression_status.parquet",
    "representatives": "results/annotation/representatives.parquet",
    "enrichment": "results/annotation/enrichment.tsv",
}


# Per-gene annotation from the class medians alone: TissueEnrich categories, housekeeping, TF
# lists (a table of classes x genes: the resources of a table job).
rule annotate_genes:
    input:
        **plan.annotation_files(config),
        medians="results/data/class_medians.parquet",
        genes="results/data/genes.parquet",
    output:
        genes="results/annotation/genes.parquet",
        truth="results/annotation/truth.tsv",
    log:
        "logs/annotate/genes.log",
    params:
        config=config["annotate"],
    resources:
        mem_mb=mem("tables"),
        runtime=runtime("tables"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/annotate_genes.py"


# The biology of the top genes: expression status, TS / HK / TF overlaps, enrichment.
rule annotate_top_genes:
    input:
        **plan.annotation_files(config),
        **plan.optimised_scores(config),
        expression="results/data/expression.parquet",
        matrix=MATRIX,  # the sidecars io.read_expression reads
        samples="results/data/samples.parquet",
        annotation="results/annotation/genes.parquet",
        genesets="results/data/genesets.gmt",
    output:
        **ANNOTATION_TABLES,
    log:
        "logs/annotate/top_genes.log",
    params:
        config=config["annotate"],
        score=config["explain"]["score"],
        focus_tissues=FOCUS.tissues,
    resources:
        mem_mb=mem("annotate"),
        runtime=runtime("annotate"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/annotate_top_genes.py"
