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
    resources:
        mem_mb=mem("tables"),
        runtime=runtime("tables"),
    conda:
        "../../envs/figures.yaml"
    script:
        "../scripts/confusion_figure.py"


# The paper's figures, one rule each: reproducibility (Figures 1-3, S1, S4, txai.repro_figures)
# and biology (Figures 4, 5, S9, S11, txai.bio_figures); captions in workflow/report/.
_FIGURES = {
    **{name: ("repro_figures", tables) for name, tables in REPRO_FIGURES.items()},
    **{name: ("bio_figures", tables) for name, tables in BIO_FIGURES.items()},
}
for _name, (_module, _tables) in _FIGURES.items():

    rule:
        name:
            f"figure_{_name}"
        input:
            **_tables,
        output:
            png=report(
                f"results/figures/{_name}.png",
                caption=f"../report/{_name}.rst",
                category="Reproducibility" if _module == "repro_figures" else "Biology",
            ),
            pdf=f"results/figures/{_name}.pdf",
        log:
            f"logs/figures/{_name}.log",
        params:
            module=_module,
            figure=_name,
            tissues=config["focus_tissues"],
            k=config["reproducibility"]["top_k"],
            title=f"{COHORT['name']}; config seed {config['seed']}",
            groups=config["reproducibility"]["groups"],
        resources:
            mem_mb=mem("tables"),
            runtime=runtime("tables"),
        conda:
            "../../envs/figures.yaml"
        script:
            "../scripts/figure.py"
