# Annotation files given as URLs are downloaded once (SHA-256 checked when configured).
rule download:
    output:
        "results/downloads/{name}",
    log:
        "logs/downloads/{name}.log",
    wildcard_constraints:
        name="|".join(DOWNLOADS) or "no-downloads",
    params:
        spec=lambda wildcards: DOWNLOADS[wildcards.name],
    resources:
        mem_mb=mem("tables"),
        runtime=runtime("cohort"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/download.py"


# Per-gene annotation from the data alone: TissueEnrich categories, housekeeping, TF lists.
rule annotate_genes:
    input:
        unpack(annotation_files),
        expression="results/data/expression.parquet",
        samples="results/data/samples.parquet",
        genes="results/data/genes.parquet",
    output:
        genes="results/annotation/genes.parquet",
        medians="results/annotation/class_medians.parquet",
        truth="results/annotation/truth.tsv",
    log:
        "logs/annotate/genes.log",
    params:
        config=config["annotate"],
    resources:
        mem_mb=mem("annotate"),
        runtime=runtime("annotate"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/annotate_genes.py"


# The biology of the top genes: expression status, TS / HK / TF overlaps, enrichment.
rule annotate_top_genes:
    input:
        unpack(annotation_files),
        **optimised_scores(),
        expression="results/data/expression.parquet",
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
        focus_tissues=config["focus_tissues"],
    resources:
        mem_mb=mem("annotate"),
        runtime=runtime("annotate"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/annotate_top_genes.py"
