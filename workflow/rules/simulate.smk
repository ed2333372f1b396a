# The simulation curves (Figure 2 A-D, S4): subsamples of the stored estimates of the curve
# settings, and of every model's scores for the aggregation curve.
rule simulate:
    input:
        estimates=[f for arch in ARCHS for f in curve_inputs(arch)],
        scores=[f for arch in ARCHS for f in attribution_files(arch, [SIMULATE["setting"]])],
        samples="results/data/samples.parquet",
        genes="results/data/genes.parquet",
    output:
        "results/reproducibility/curves.parquet",
    log:
        "logs/reproducibility/simulate.log",
    params:
        config=SIMULATE,
        score=config["explain"]["score"],
        k=config["reproducibility"]["top_k"],
        seed=config["seed"],
    resources:
        mem_mb=mem("simulate"),
        runtime=runtime("simulate"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/simulate.py"
