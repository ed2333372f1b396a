rule confusion_figure:
    input:
        "results/models/{arch}/crossval_predictions.parquet",
    output:
        png="results/figures/confusion_{arch}.png",
        pdf="results/figures/confusion_{arch}.pdf",
    log:
        "logs/figures/confusion_{arch}.log",
    wildcard_constraints:
        arch="mlp|cnn",
    params:
        cohort=COHORT["name"],
    conda:
        "../../envs/figures.yaml"
    script:
        "../scripts/confusion_figure.py"


# The reproducibility figures, one rule each (the paper's Figures 1-3, S1 and S4); captions in
# workflow/report/ for the report.
for _name, _tables in REPRO_FIGURES.items():

    rule:
        name:
            f"figure_{_name}"
        input:
            **_tables,
        output:
            png=report(
                f"results/figures/{_name}.png",
                caption=f"../report/{_name}.rst",
                category="Reproducibility",
            ),
            pdf=f"results/figures/{_name}.pdf",
        log:
            f"logs/figures/{_name}.log",
        params:
            figure=_name,
            tissues=config["focus_tissues"],
            k=config["reproducibility"]["top_k"],
            title=f"{COHORT['name']}; config seed {config['seed']}",
        conda:
            "../../envs/figures.yaml"
        script:
            "../scripts/repro_figure.py"
