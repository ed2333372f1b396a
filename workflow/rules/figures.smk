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
