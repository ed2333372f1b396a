# The ground-truth scorecard: precision and recall of each combination's top genes against the
# planted markers of each focus class (a cohort without truth columns gets an empty table).
rule scorecard:
    input:
        **optimised_scores(),
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
        focus_tissues=config["focus_tissues"],
        score=config["explain"]["score"],
        title=f"{COHORT['name']}; config seed {config['seed']}",
    resources:
        mem_mb=mem("reproducibility"),
        runtime=runtime("tables"),
    conda:
        "../../envs/figures.yaml"
    script:
        "../scripts/scorecard.py"
