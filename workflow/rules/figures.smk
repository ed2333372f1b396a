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
        cohort=plan.label(config),
    resources:
        mem_mb=mem("tables"),
        runtime=runtime("tables"),
    conda:
        "../../envs/figures.yaml"
    script:
        "../scripts/confusion_figure.py"


# The paper's figures, one rule each, with the tables each is drawn from: reproducibility
# (Figures 1-3, S1, S4, txai.repro_figures) and biology (Figures 4, 5, S9, S11, txai.bio_figures);
# captions in workflow/report/.
_REPLICATES = {"replicates": "results/reproducibility/replicates.parquet"}
_CURVES = {"curves": "results/reproducibility/curves.parquet"}
_MEDIANS = {"medians": "results/data/class_medians.parquet"}
_OVERLAPS = {"overlaps": "results/annotation/overlaps.parquet"}
FIGURES = {  # figure: (report category, the tables it is drawn from)
    "fig1": ("Reproducibility", _REPLICATES),
    "figS1": ("Reproducibility", _REPLICATES),
    "fig2": ("Reproducibility", {**_REPLICATES, **_CURVES}),
    "figS4": ("Reproducibility", _CURVES),
    "fig3": (
        "Reproducibility",
        {
            "consistency": "results/reproducibility/consistency.parquet",
            "clusters": "results/reproducibility/clusters.tsv",
        },
    ),
    "fig4": (
        "Biology",
        {**_OVERLAPS, **_MEDIANS, "representatives": ANNOTATION_TABLES["representatives"]},
    ),
    "fig5": (
        "Biology",
        {
            **_MEDIANS,
            "top_de": DIFFERENTIAL_TABLES["top_de"],
            "split": DIFFERENTIAL_TABLES["split"],
            "shared": DIFFERENTIAL_TABLES["shared"],
        },
    ),
    "figS9": ("Biology", {"status": ANNOTATION_TABLES["status"]}),
    "figS11": ("Biology", {**_OVERLAPS, **_MEDIANS, "genes": "results/annotation/genes.parquet"}),
}
for _name, (_category, _tables) in FIGURES.items():

    rule:
        name:
            f"figure_{_name}"
        input:
            **_tables,
        output:
            png=report(
                f"results/figures/{_name}.png",
                caption=f"../report/{_name}.rst",
                category=_category,
            ),
            pdf=f"results/figures/{_name}.pdf",
        log:
            f"logs/figures/{_name}.log",
        params:
            category=_category,
            figure=_name,
            tissues=FOCUS.tissues,
            paired=FOCUS.paired,  # the captions name what normal vs cancer compares
            k=config["reproducibility"]["top_k"],
            title=TITLE,
            groups=config["reproducibility"]["groups"],
        resources:
            mem_mb=mem("tables"),
            runtime=runtime("tables"),
        conda:
            "../../envs/figures.yaml"
        script:
            "../scripts/figure.py"
