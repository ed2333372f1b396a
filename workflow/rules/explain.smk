# One rule per (architecture, batch of models): a job explains its models with one explainer
# and setting, and writes one file per model. explain.models_per_job sets the batch size. The
# estimate curves' settings explain only the curve models, in one more rule per architecture.
for _arch in ARCHS:
    _groups = [(b, m, config["explain"]["settings"]) for b, m in explain_batches(_arch).items()]
    _groups.append(("curves", curve_models(_arch), CURVE_SETTINGS))
    for _batch, _models, _settings in _groups:

        rule:
            name:
                f"explain_{_arch}_{_batch}"
            input:
                expression="results/data/expression.parquet",
                samples="results/data/samples.parquet",
                models=expand("results/models/{arch}/{model}/model.pt", arch=_arch, model=_models),
                references=lambda wildcards, arch=_arch: reference_inputs(arch, wildcards),
            output:
                [
                    temp(path) if _batch == "curves" else path  # read once, by simulate
                    for path in expand(
                        "results/attributions/{arch}/{{explainer}}/{{setting}}/{model}.parquet",
                        arch=_arch,
                        model=_models,
                    )
                ],
            log:
                f"logs/explain/{_arch}/{{explainer}}/{{setting}}/{_batch}.log",
            benchmark:
                f"benchmarks/explain/{_arch}/{{explainer}}/{{setting}}/{_batch}.tsv"
            wildcard_constraints:
                explainer="|".join(EXPLAINERS[_arch]),
                setting="|".join(_settings),
            params:
                arch=_arch,
                setting=lambda wildcards, arch=_arch: SETTINGS[wildcards.setting][arch],
                explain_config=EXPLAIN_COMMON,
                seed=config["seed"],
            threads: config["train"]["threads"]
            resources:
                gpu=1,
                mem_mb=explain_resource(mem, _arch, _models, _settings),
                runtime=explain_resource(runtime, _arch, _models, _settings),
            conda:
                "../../envs/torch.yaml"
            script:
                "../scripts/explain.py"


# Aggregation: one job per (architecture, setting) streams every explainer's model files.
for _arch in ARCHS:

    rule:
        name:
            f"aggregate_{_arch}"
        input:
            attributions=expand(
                "results/attributions/{arch}/{explainer}/{{setting}}/{model}.parquet",
                arch=_arch,
                explainer=EXPLAINERS[_arch],
                model=model_ids(config["train"][_arch]),
            ),
            samples="results/data/samples.parquet",
            genes="results/data/genes.parquet",
            annotation="results/annotation/genes.parquet",
            tests="results/differential/tests.parquet",
        output:
            mean=expand(
                "results/aggregate/{arch}/{explainer}/{{setting}}/mean.parquet",
                arch=_arch,
                explainer=EXPLAINERS[_arch],
            ),
            top=expand(
                "results/aggregate/{arch}/{explainer}/{{setting}}/top.parquet",
                arch=_arch,
                explainer=EXPLAINERS[_arch],
            ),
            table=expand(
                "results/tables/top_genes_{arch}_{explainer}_{{setting}}.tsv",
                arch=_arch,
                explainer=EXPLAINERS[_arch],
            ),
        log:
            f"logs/aggregate/{_arch}/{{setting}}.log",
        wildcard_constraints:
            setting="|".join(config["explain"]["settings"]),
        params:
            explainers=EXPLAINERS[_arch],
            score=config["explain"]["score"],
            k=config["explain"]["top_k"],
        resources:
            mem_mb=mem("aggregate", arch=_arch),
            runtime=runtime("aggregate"),
        conda:
            "../../envs/data.yaml"
        script:
            "../scripts/aggregate.py"
