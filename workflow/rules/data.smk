rule simulate_cohort:
    output:
        counts="results/cohort/counts.parquet",
        samples="results/cohort/samples.tsv",
        genes="results/cohort/genes.parquet",
        genesets="results/cohort/genesets.gmt",
        tfs="results/cohort/tfs.tsv",
    log:
        "logs/data/simulate_cohort.log",
    params:
        spec=COHORT.get("demo", {}),
        seed=config["seed"],
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=2000,
    script:
        "../scripts/simulate_cohort.py"


rule prepare_data:
    input:
        unpack(cohort_files),
    output:
        expression="results/data/expression.parquet",
        samples="results/data/samples.parquet",
        genes="results/data/genes.parquet",
        genesets="results/data/genesets.gmt",
    log:
        "logs/data/prepare_data.log",
    params:
        cohort=cohort_params(),
        schema=str(SCHEMAS / "samples.schema.yaml"),
        focus_tissues=config["focus_tissues"],
        seed=config["seed"],
        test_fraction=config["data"]["test_fraction"],
        min_class_size=config["data"]["min_class_size"],
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=lambda wildcards, input: max(2000, 40 * input.size_mb),
    script:
        "../scripts/prepare_data.py"


rule references:
    input:
        expression="results/data/expression.parquet",
        samples="results/data/samples.parquet",
    output:
        "results/references/{type}.parquet",
    log:
        "logs/references/{type}.log",
    wildcard_constraints:
        type="zero|normal|universal|specific",
    params:
        pool_size=config["references"]["pool_size"],
        focus_tissues=config["focus_tissues"],
        seed=config["seed"],
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=lambda wildcards, input: max(2000, 20 * input.size_mb),
    script:
        "../scripts/references.py"


rule provenance:
    input:
        unpack(cohort_files),
    output:
        "results/provenance.json",
    log:
        "logs/provenance.log",
    params:
        config=config,
        repo=str(REPO),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/provenance.py"
