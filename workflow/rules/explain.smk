# One rule per explain job of the plan (txai.plan.explain_packs): the explainers of one setting
# packed for one batch of models (txai.plan.batches), one explainer where a job's compute would
# not be dominated by its start-up (hpc.pack_minutes). A job writes one file per explainer and
# model. The curve settings explain the first simulate.models models (batch `curves`).
for _arch in ARCHS:
    for _name, _pack in PACKS[_arch].items():
        _setting, _models = _pack[0].setting, _pack[0].models
        _explainers = [job.explainer for job in _pack]

        rule:
            name:
                f"explain_{_arch}_{_name}"
            input:
                expression="results/data/expression.parquet",
                matrix=MATRIX,  # the sidecars io.read_expression reads
                samples="results/data/samples.parquet",
                models=expand("results/models/{arch}/{model}/model.pt", arch=_arch, model=_models),
                references=reference_files(_arch, _setting, _explainers),
            output:
                [
                    temp(path) if _pack[0].batch == "curves" else path  # read once, by curves
                    for path in (
                        paths.attribution(_arch, e, _setting, m) for e in _explainers for m in _models
                    )
                ],
            log:
                f"logs/explain/{_arch}/{_setting}/{_name}.log",
            benchmark:
                f"benchmarks/explain/{_arch}/{_setting}/{_name}.tsv"
            params:
                arch=_arch,
                explainers=_explainers,
                setting_name=_setting,
                setting=SETTINGS[_setting][_arch],
                explain_config=plan.explain_common(config),
                seed=config["seed"],
            threads: config["train"]["threads"]
            resources:
                gpu=1,
                mem_mb=mem("explain", *explain_costs(_arch, _pack)),
                runtime=runtime("explain", arch=_arch, explainers=_explainers,
                                setting=_pack[0].spec, models=_models),
            conda:
                "../../envs/torch.yaml"
            script:
                "../scripts/explain.py"
