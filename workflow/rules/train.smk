# One rule per training job of the plan (txai.plan.train_batches): one model, or consecutive
# models packed where job start-up would dominate (hpc.pack_minutes). A job writes each model's
# files as soon as the model is trained; a stopped job's rerun resumes every model from its
# checkpoint, which is kept until the job ends (a finished model's, at its last epoch).
for _arch in ARCHS:
    for _batch, _models in plan.train_batches(config, _arch, scale.COST).items():

        rule:
            name:
                f"train_{_arch}_{_batch}"
            input:
                expression="results/data/expression.parquet",
                matrix=MATRIX,  # the sidecars io.read_expression reads
                samples="results/data/samples.parquet",
                genes="results/data/genes.parquet",
            output:
                models=[f"results/models/{_arch}/{m}/model.pt" for m in _models],
                metas=[f"results/models/{_arch}/{m}/meta.json" for m in _models],
            log:
                f"logs/train/{_arch}/{_batch}.log",
            benchmark:
                f"benchmarks/train/{_arch}/{_batch}.tsv"
            params:
                arch=_arch,
                models=_models,
                arch_config=config["train"][_arch],
                common=plan.train_common(config),
                seed=config["seed"],
            threads: config["train"]["threads"]
            resources:
                gpu=1,
                mem_mb=mem("train", arch=_arch),
                runtime=runtime("train", arch=_arch, models=_models),
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
        mem_mb=mem("train", *({"arch": arch} for arch in ARCHS)),
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
