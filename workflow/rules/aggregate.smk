# Aggregation: one job per (architecture, setting) streams every explainer's model files into
# the mean over models, per-sample top genes and the top-gene tables to read first.
TOP_GENE_TABLES = [
    f"results/tables/top_genes_{arch}_{explainer}_{setting}.tsv"
    for arch in ARCHS
    for explainer in EXPLAINERS[arch]
    for setting in config["explain"]["settings"]
]

for _arch in ARCHS:

    rule:
        name:
            f"aggregate_{_arch}"
        input:
            attributions=[
                paths.attribution(_arch, e, "{setting}", m)
                for e in EXPLAINERS[_arch]
                for m in model_ids(config["train"][_arch])
            ],
            samples="results/data/samples.parquet",
            genes="results/data/genes.parquet",
            annotation="results/annotation/genes.parquet",
            tests="results/differential/tests.parquet",
        output:
            mean=[paths.aggregate(_arch, e, "{setting}", "mean") for e in EXPLAINERS[_arch]],
            top=[paths.aggregate(_arch, e, "{setting}", "top") for e in EXPLAINERS[_arch]],
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
