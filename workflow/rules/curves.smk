# The estimate curves (Figure 2 A-D, S4): subsamples of the stored estimates of the curve
# settings, and of every model's scores for the aggregation curve.
rule curves:
    input:
        estimates=[
            path
            for arch in ARCHS
            for path in plan.attribution_files([j for j in JOBS[arch] if j.batch == "curves"], arch)
        ],
        scores=[f for arch in ARCHS for f in attribution_files(arch, [SIMULATE["setting"]])],
        samples="results/data/samples.parquet",
        genes="results/data/genes.parquet",
    output:
        "results/reproducibility/curves.parquet",
    log:
        "logs/reproducibility/curves.log",
    params:
        config=SIMULATE,
        score=config["explain"]["score"],
        k=config["reproducibility"]["top_k"],
        seed=config["seed"],
    resources:
        mem_mb=mem("curves"),
        runtime=runtime("curves"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/curves.py"
