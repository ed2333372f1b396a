# The ground-truth scorecard: precision and recall of each combination's top genes against the
# planted markers of each focus class (a cohort without truth columns gets an empty table).
rule scorecard:
    input:
        **plan.optimised_scores(config),
        samples="results/data/samples.parquet",
        genes="results/data/genes.parquet",
    output:
        table="results/report/scorecard.parquet",
        png=report(
            "results/report/scorecard.png",
            caption="../report/scorecard.rst",
            category="Ground truth",
        ),
        pdf="results/report/scorecard.pdf",
    log:
        "logs/report/scorecard.log",
    params:
        k=config["annotate"]["top_k"],
        focus_tissues=FOCUS.tissues,
        score=config["explain"]["score"],
        title=TITLE,
    resources:
        mem_mb=mem("reproducibility"),
        runtime=runtime("tables"),
    conda:
        "../../envs/figures.yaml"
    script:
        "../scripts/scorecard.py"


# What the HTML report quotes besides the figures: model accuracy, cross-validation per class,
# the sanity verdicts and the run's config (snakemake --report results/report.html).
rule report_tables:
    input:
        metrics=expand("results/models/{arch}/metrics.parquet", arch=ARCHS),
        crossval=expand("results/models/{arch}/crossval.parquet", arch=ARCHS),
        sanity="results/sanity/sanity.parquet",
    output:
        models=report(
            "results/report/models.tsv",
            caption="../report/models.rst",
            category="Models",
        ),
        crossval=report(
            "results/report/crossval.tsv",
            caption="../report/crossval.rst",
            category="Models",
        ),
        sanity=report(
            "results/report/sanity.tsv",
            caption="../report/sanity_table.rst",
            category="Sanity checks",
        ),
        config=report(
            "results/report/config.yaml",
            caption="../report/config.rst",
            category="Run",
        ),
    log:
        "logs/report/tables.log",
    params:
        config=config,
    resources:
        mem_mb=mem("tables"),
        runtime=runtime("tables"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/report_tables.py"


# `snakemake top_genes`: stop once the top-gene tables are written (training, attribution,
# aggregation, the annotation and tests they are flagged with), before the analyses and figures.
rule top_genes:
    input:
        TOP_GENE_TABLES,
