# Sanity checks (Adebayo et al. 2018): the first model of each architecture with its layers
# re-initialised, and a model trained on permuted labels, explained like the trained model.
rule sanity_arch:
    input:
        expression="results/data/expression.parquet",
        matrix=MATRIX,  # the sidecars io.read_expression reads
        samples="results/data/samples.parquet",
        genes="results/data/genes.parquet",
        model="results/models/{arch}/m01/model.pt",
        references=lambda w: reference_files(w.arch, "plain", EXPLAINERS[w.arch]),
    output:
        "results/sanity/{arch}.parquet",
    log:
        "logs/sanity/{arch}.log",
    wildcard_constraints:
        arch="mlp|cnn",
    params:
        arch_config=lambda wildcards: config["train"][wildcards.arch],
        common=plan.train_common(config),
        explainers=lambda wildcards: EXPLAINERS[wildcards.arch],
        setting=lambda wildcards: config["explain"]["settings"]["plain"][wildcards.arch],
        explain_config=plan.explain_common(config),
        config=config["sanity"],
        seed=config["seed"],
    threads: config["train"]["threads"]
    resources:
        gpu=1,
        mem_mb=mem("sanity", *({"arch": arch} for arch in ARCHS)),
        runtime=runtime("sanity", *({"arch": arch} for arch in ARCHS)),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/sanity.py"


rule sanity:
    input:
        expand("results/sanity/{arch}.parquet", arch=ARCHS),
    output:
        "results/sanity/sanity.parquet",
    log:
        "logs/sanity/sanity.log",
    params:
        threshold=config["sanity"]["threshold"],
    resources:
        mem_mb=mem("tables"),
        runtime=runtime("tables"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/sanity_summary.py"


rule sanity_figure:
    input:
        sanity="results/sanity/sanity.parquet",
    output:
        png=report(
            "results/figures/sanity.png", caption="../report/sanity.rst", category="Sanity checks"
        ),
        pdf="results/figures/sanity.pdf",
    log:
        "logs/figures/sanity.log",
    params:
        threshold=config["sanity"]["threshold"],
        title=TITLE,
    resources:
        mem_mb=mem("tables"),
        runtime=runtime("tables"),
    conda:
        "../../envs/figures.yaml"
    script:
        "../scripts/sanity_figure.py"
