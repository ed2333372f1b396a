# Files given as URLs (a GTEx + TCGA source's, annotation lists) are downloaded once, their
# SHA-256 checked when configured, on the machine snakemake runs on (a local rule: cluster
# compute nodes are often offline).
DOWNLOADS = plan.downloads(config)


rule download:
    localrule: True
    output:
        "results/downloads/{name}",
    log:
        "logs/downloads/{name}.log",
    wildcard_constraints:
        name="|".join(DOWNLOADS) or "no-downloads",
    params:
        spec=lambda wildcards: DOWNLOADS[wildcards.name],
    resources:
        mem_mb=mem("tables"),
        runtime=runtime("cohort"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/download.py"


# The demo cohort, written as a user would supply it (txai.cohort).
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
        spec=config["cohort"].get("demo", {}),
        seed=config["seed"],
    resources:
        mem_mb=mem("cohort"),
        runtime=runtime("cohort"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/simulate_cohort.py"


rule prepare_data:
    input:
        **COHORT.files,
    output:
        expression="results/data/expression.parquet",
        matrix=MATRIX[0],  # its sidecars: io.read_expression reads rows from them
        matrix_ids=MATRIX[1],
        samples="results/data/samples.parquet",
        medians="results/data/class_medians.parquet",
        genes="results/data/genes.parquet",
        genesets="results/data/genesets.gmt",
    log:
        "logs/data/prepare_data.log",
    params:
        cohort=COHORT.read,
        focus_tissues=config["focus_tissues"],  # those named: each must be in the sheet
        seed=config["seed"],
        test_fraction=config["data"]["test_fraction"],
        min_class_size=config["data"]["min_class_size"],
    resources:
        mem_mb=mem("data"),
        runtime=runtime("data"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/prepare_data.py"


rule references:
    input:
        expression="results/data/expression.parquet",
        matrix=MATRIX,  # the sidecars io.read_expression reads
        samples="results/data/samples.parquet",
    output:
        "results/references/{type}.parquet",
    log:
        "logs/references/{type}.log",
    wildcard_constraints:
        type="zero|normal|universal|specific",
    params:
        pool_size=config["references"]["pool_size"],
        focus_tissues=FOCUS.tissues,
        seed=config["seed"],
    resources:
        mem_mb=mem("references"),
        runtime=runtime("references"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/references.py"


rule provenance:
    input:
        **COHORT.files,
    output:
        report(
            "results/provenance.json", caption="../report/provenance.rst", category="Run"
        ),
    log:
        "logs/provenance.log",
    params:
        config=config,
    resources:
        mem_mb=mem("tables"),
        runtime=runtime("tables"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/provenance.py"


# GTEx + TCGA from their public files (cohort.source toil or portal; txai.sources).
rule build_cohort:
    input:
        **{name: path for name, (path, _) in plan.source_files(config).items()},
    output:
        **{name: temp(path) for name, path in plan.BUILT.items()},
    log:
        "logs/data/build_cohort.log",
    params:
        source=config["cohort"]["source"],
        tcga_projects=plan.tcga_projects(config),
        min_class_size=config["data"]["min_class_size"],
    resources:
        mem_mb=mem("cohort"),
        runtime=runtime("cohort"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/build_cohort.py"
