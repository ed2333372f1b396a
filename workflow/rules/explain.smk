# One rule per (architecture, batch of models) of the plan (txai.plan.batches): a job explains
# its models with one explainer and setting, and writes one file per model. The curve settings
# explain the first simulate.models models, in rule explain_{arch}_curves.
for _arch in ARCHS:
    for _batch, _models in plan.batches(config, _arch, scale.runtime_min).items():
        _jobs = [job for job in JOBS[_arch] if job.batch == _batch]

        rule:
            name:
                f"explain_{_arch}_{_batch}"
            input:
                expression="results/data/expression.parquet",
                matrix=MATRIX,  # the sidecars io.read_expression reads
                samples="results/data/samples.parquet",
                models=expand("results/models/{arch}/{model}/model.pt", arch=_arch, model=_models),
                references=lambda w, arch=_arch: reference_files(arch, w.setting, [w.explainer]),
            output:
                [
                    temp(path) if _batch == "curves" else path  # read once, by curves
                    for path in (
                        paths.attribution(_arch, "{explainer}", "{setting}", m) for m in _models
                    )
                ],
            log:
                f"logs/explain/{_arch}/{{explainer}}/{{setting}}/{_batch}.log",
            benchmark:
                f"benchmarks/explain/{_arch}/{{explainer}}/{{setting}}/{_batch}.tsv"
            wildcard_constraints:
                explainer="|".join(sorted({job.explainer for job in _jobs})),
                setting="|".join(sorted({job.setting for job in _jobs})),
            params:
                arch=_arch,
                setting=lambda wildcards, arch=_arch: SETTINGS[wildcards.setting][arch],
                explain_config=plan.explain_common(config),
                seed=config["seed"],
            threads: config["train"]["threads"]
            resources:
                gpu=1,
                mem_mb=mem("explain", *explain_costs(_arch, _jobs)),
                runtime=runtime("explain", *explain_costs(_arch, _jobs)),
            conda:
                "../../envs/torch.yaml"
            script:
                "../scripts/explain.py"
