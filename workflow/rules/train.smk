rule train:
    input:
        expression="results/data/expression.parquet",
        matrix=MATRIX,  # the sidecars io.read_expression reads
        samples="results/data/samples.parquet",
        genes="results/data/genes.parquet",
    output:
        model="results/models/{arch}/{model}/model.pt",
        meta="results/models/{arch}/{model}/meta.json",
    log:
        "logs/train/{arch}/{model}.log",
    benchmark:
        "benchmarks/train/{arch}/{model}.tsv"
    wildcard_constraints:
        arch="mlp|cnn",
        model=r"[ms]\d+",
    params:
        arch_config=lambda wildcards: config["train"][wildcards.arch],
        common=plan.train_common(config),
        seed=config["seed"],
    threads: config["train"]["threads"]
    resources:
        gpu=1,
        mem_mb=mem("train"),
        runtime=runtime("train", *({"arch": arch} for arch in ARCHS)),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/train.py"


rule crossval:
    input:
        expression="results/data/expression.parquet",
        matrix=MATRIX,  # the sidecars io.read_expression reads
        samples="results/data/samples.parquet",
        genes="results/data/genes.parquet",
    output:
        predictions="results/models/{arch}/crossval_predictions.parquet",
        scores="results/models/{arch}/crossval.parquet",
    log:
        "logs/train/{arch}/crossval.log",
    benchmark:
        "benchmarks/train/{arch}/crossval.tsv"
    wildcard_constraints:
        arch="mlp|cnn",
    params:
        arch_config=lambda wildcards: config["train"][wildcards.arch],
        common=plan.train_common(config),
        seed=config["seed"],
    threads: config["train"]["threads"]
    resources:
        gpu=1,
        mem_mb=mem("train"),
        runtime=runtime("crossval", *({"arch": arch} for arch in ARCHS)),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/crossval.py"


rule model_metrics:
    input:
        lambda wildcards: expand(
            "results/models/{{arch}}/{model}/meta.json",
            model=model_ids(config["train"][wildcards.arch]),
        ),
    output:
        "results/models/{arch}/metrics.parquet",
    log:
        "logs/train/{arch}/metrics.log",
    wildcard_constraints:
        arch="mlp|cnn",
    resources:
        mem_mb=mem("tables"),
        runtime=runtime("tables"),
    conda:
        "../../envs/torch.yaml"
    script:
        "../scripts/model_metrics.py"
