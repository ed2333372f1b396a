"""End-to-end: Snakemake runs the workflow as a user would, on the tiny config."""

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY, snakemake, user_cohort


def test_bare_dry_run_from_the_root_has_jobs(workdir):
    done = snakemake("-n", cwd=workdir)
    assert done.returncode == 0, done.stderr
    stats = done.stdout[done.stdout.index("Job stats") :]
    counts = dict(line.split() for line in stats.splitlines()[3:] if len(line.split()) == 2)
    assert counts["simulate_cohort"] == "1" and counts["references"] == "4"
    assert int(counts["total"]) >= 8


def test_lint_is_clean(workdir):
    done = snakemake("--lint", cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def tiny_run(tiny_reference):
    """The session's run of the whole workflow on the tiny config, and that config."""
    return tiny_reference, yaml.safe_load(TINY.read_text())


def test_data_contracts(tiny_run):
    root, config = tiny_run
    expression = pd.read_parquet(root / "results/data/expression.parquet")
    samples = pd.read_parquet(root / "results/data/samples.parquet")
    genes = pd.read_parquet(root / "results/data/genes.parquet")
    assert expression.columns[0] == "sample"
    assert list(expression.columns[1:]) == genes["gene"].tolist()
    assert (expression.dtypes.iloc[1:] == np.float32).all()
    assert len(genes) == config["cohort"]["demo"]["genes"]
    x = expression.iloc[:, 1:].to_numpy()
    assert x.min() >= 0 and x.max() < np.log2(1e6 + 1)
    # Each sample's TPM (2^x - 1) sums to 1e6: the data stage converted counts to log2(TPM + 1).
    np.testing.assert_allclose((np.exp2(x.astype(np.float64)) - 1).sum(axis=1), 1e6, rtol=1e-4)
    assert samples["sample"].tolist() == expression["sample"].tolist()
    assert list(samples.columns[:6]) == [
        "sample",
        "class",
        "class_index",
        "tissue",
        "status",
        "split",
    ]
    n_classes = 2 * 2 + 2  # tiny: liver, lung with cancer; brain, heart normal only
    assert samples["class"].nunique() == n_classes
    for _, group in samples.groupby("class"):
        assert (group["split"] == "test").sum() == max(1, round(0.1 * len(group)))
    assert {"truth_role", "truth_classes", "truth_module", "chrom", "start", "length"} <= set(genes)
    assert (root / "results/data/genesets.gmt").read_text().count("DEMO_NORMAL_LIVER_MARKERS") == 1


def test_reference_contracts(tiny_run):
    root, config = tiny_run
    genes = pd.read_parquet(root / "results/data/genes.parquet")["gene"].tolist()
    n = config["references"]["pool_size"]
    for kind in config["references"]["types"]:
        pool = pd.read_parquet(root / f"results/references/{kind}.parquet")
        gene_columns = [c for c in pool.columns if c not in ("reference", "class")]
        assert gene_columns == genes
        if kind == "specific":
            focus = {f"{s}_{t}" for t in config["focus_tissues"] for s in ("normal", "cancer")}
            assert set(pool["class"]) == focus
            assert (pool.groupby("class").size() == n).all()
        else:
            assert len(pool) == n and "class" not in pool
    zero = pd.read_parquet(root / "results/references/zero.parquet")
    assert not zero[genes].to_numpy().any()


def test_provenance_names_inputs_and_config(tiny_run):
    import json

    root, config = tiny_run
    record = json.loads((root / "results/provenance.json").read_text())
    assert record["config"]["seed"] == config["seed"]
    assert set(record["inputs"]) == {"expression", "samples", "genes", "genesets"}
    assert record["packages"]["snakemake"].startswith("9.")


def test_user_cohort_through_the_data_stage(workdir):
    def run(*args):
        return snakemake(
            "results/references/specific.parquet", *args, "--cores", "2", "--configfile",
            "user.yaml", cwd=workdir,
        )  # fmt: skip

    def declare(samples: int):
        user_cohort(workdir, lambda c: c["cohort"]["size"].update(samples=samples))

    declare(3600)  # 36 samples declared as 3,600: the data stage stops, naming both
    done = run()
    assert done.returncode != 0
    assert (
        "the cohort has 36 samples, 30 genes, 3 classes, but cohort.size declares 3,600"
        in (workdir / "logs/data/prepare_data.log").read_text()
    )
    assert not (workdir / "results/data").exists()
    tpm, sheet = user_cohort(workdir)
    done = run()
    assert done.returncode == 0, done.stderr[-3000:]
    declare(40)  # a new declaration within the tolerance reruns nothing
    assert "Nothing to be done" in run("-n").stdout
    expression = pd.read_parquet(workdir / "results/data/expression.parquet")
    assert list(expression.columns[1:4]) == [
        "ENSG00000000000",
        "ENSG00000000001",
        "ENSG00000000002",
    ]
    np.testing.assert_allclose(expression.iloc[:, 1:].to_numpy(), np.log2(tpm.T + 1), rtol=1e-6)
    specific = pd.read_parquet(workdir / "results/references/specific.parquet")
    assert set(specific["class"]) == {"liverN", "liverT"}
    assert not (workdir / "results/cohort").exists()  # no demo generated for a user cohort


def test_bad_sample_sheet_stops_before_any_job(workdir):
    user_cohort(workdir)
    sheet = pd.read_csv(workdir / "samples.tsv", sep="\t")
    sheet.loc[4, "status"] = "tumour"
    sheet.to_csv(workdir / "samples.tsv", sep="\t", index=False)
    done = snakemake("--cores", "2", "--configfile", "user.yaml", cwd=workdir)
    assert done.returncode != 0
    assert "samples.tsv: line 6 (sample 'sliverN4'), column 'status'" in done.stderr
    assert not (workdir / "results").exists()


def test_training_outputs(tiny_run):
    import json

    root, config = tiny_run
    for arch, expected in (("mlp", ["m01", "m02", "m03"]), ("cnn", ["m01", "m02", "s01", "s02"])):
        metrics = pd.read_parquet(root / f"results/models/{arch}/metrics.parquet")
        assert metrics["model"].tolist() == expected
        assert (metrics["test_accuracy"] >= config["train"]["accuracy_floor"]).all()
        packed = {"mlp": "m01_m03", "cnn": "m01_s02"}[arch]  # tiny: one training job each
        assert (root / f"benchmarks/train/{arch}/{packed}.tsv").exists()
        scores = pd.read_parquet(root / f"results/models/{arch}/crossval.parquet")
        assert scores["class"].tolist()[-2:] == ["accuracy", "macro"]
        for ext in ("png", "pdf"):
            assert (root / f"results/figures/confusion_{arch}.{ext}").stat().st_size > 1000
    metas = {
        m: json.loads((root / f"results/models/cnn/{m}/meta.json").read_text())
        for m in ("m01", "m02", "s01", "s02")
    }
    genes = pd.read_parquet(root / "results/data/genes.parquet")["gene"].tolist()
    assert sorted(metas["m01"]["gene_order"]) == sorted(genes)
    assert metas["m01"]["gene_order"] != metas["m02"]["gene_order"]  # random order per model
    assert metas["s01"]["gene_order"] == metas["s02"]["gene_order"]  # the same-order set
    assert not list((root / "results/models").rglob("checkpoint.pt"))


def test_attribution_outputs(tiny_run):
    root, config = tiny_run
    genes = pd.read_parquet(root / "results/data/genes.parquet")["gene"].tolist()
    samples = pd.read_parquet(root / "results/data/samples.parquet")
    focus = samples[samples["tissue"].isin(config["focus_tissues"]) & (samples["split"] == "test")]
    n_explained = focus.groupby("class").size().clip(upper=2).sum()
    for arch, explainers in (
        ("mlp", ["Saliency", "DeepLiftShap"]),
        ("cnn", ["Saliency", "DeepLiftShap", "GuidedGradCamPlusPlus"]),
    ):
        for explainer in explainers:
            for setting in ("plain", "optimised"):
                frame = pd.read_parquet(
                    root / f"results/attributions/{arch}/{explainer}/{setting}/m01.parquet"
                )
                assert list(frame.columns) == ["sample", "replicate", *genes]
                assert frame["replicate"].nunique() == config["explain"]["replicates"]  # m01
                assert frame["sample"].nunique() == n_explained
                assert set(frame["sample"]) <= set(focus["sample"])
                assert (frame[genes].to_numpy() >= 0).all()  # abs_then_mean scores
                other = pd.read_parquet(
                    root / f"results/attributions/{arch}/{explainer}/{setting}/m02.parquet"
                )
                assert other["replicate"].unique().tolist() == [0]
                table = pd.read_csv(
                    root / f"results/tables/top_genes_{arch}_{explainer}_{setting}.tsv", sep="\t"
                )
                assert list(table.columns) == [
                    "class", "rank", "gene", "symbol", "score", "TS", "HK", "TF", "TF_cofactor",
                    "DE",
                ]  # fmt: skip
                assert (table.groupby("class").size() == config["explain"]["top_k"]).all()
                assert (table.groupby("class")["score"].diff().dropna() <= 0).all()
    assert not (root / "results/attributions/mlp/GuidedGradCamPlusPlus").exists()


def test_reproducibility_outputs(tiny_run):
    """Replicate comparisons, consistency, curves and Figures 1-3, S1, S4 (issue: Figures 1-3)."""
    root, config = tiny_run
    out = root / "results/reproducibility"
    replicates = pd.read_parquet(out / "replicates.parquet")
    assert list(replicates.columns) == [
        "arch", "explainer", "setting", "comparison", "tissue", "class", "status", "sample",
        "pair", "a", "b", "rho", "overlap",
    ]  # fmt: skip
    assert set(replicates["tissue"]) == set(config["focus_tissues"])
    got = replicates.groupby(["arch", "setting"])["comparison"].unique().map(sorted).to_dict()
    assert got[("mlp", "plain")] == ["inter-model", "intra-model"]
    assert got[("cnn", "optimised")] == ["inter-model", "inter-model, other orders", "intra-model"]
    assert got[("mlp", "aggregated")] == ["inter-model"]  # 3 models, sets of 1
    intra = replicates[(replicates["comparison"] == "intra-model") & (replicates["arch"] == "mlp")]
    assert intra.groupby(["explainer", "setting", "sample"]).size().eq(1).all()  # 2 replicates
    assert replicates["rho"].between(-1, 1).all()
    assert replicates["overlap"].between(0, config["reproducibility"]["top_k"]).all()
    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    assert {"rho_mean", "overlap_mean", "pairs"} <= set(summary.columns)
    clusters = pd.read_csv(out / "clusters.tsv", sep="\t", keep_default_na=False)
    combos = {f"{a}{s} {e}" for a, es in (("MLP", ["Saliency", "DeepLiftShap"]),
              ("CNN", ["Saliency", "DeepLiftShap", "GuidedGradCamPlusPlus"]))
              for e in es for s in ("", "-Agg")}  # fmt: skip
    for _, group in clusters.groupby("tissue"):
        assert set(group["combination"]) == combos
        assert group.loc[group["combination"] == "MLP-Agg DeepLiftShap", "group"].item() == "II"
    consistency = pd.read_parquet(out / "consistency.parquet")
    diagonal = consistency[consistency["a"] == consistency["b"]]
    assert (diagonal["overlap"] == config["reproducibility"]["top_k"]).all()
    curves = pd.read_parquet(out / "curves.parquet")
    simulate = config["simulate"]
    assert set(curves["curve"]) == {"pseudo-samples", "repeats", "references", "models"}
    refs = curves[curves["curve"] == "references"].groupby("arch")["reference"].unique()
    assert sorted(refs["mlp"]) == sorted(refs["cnn"]) == ["universal", "zero"]
    assert sorted(curves.loc[curves["curve"] == "repeats", "n"].unique()) == list(
        range(1, simulate["max_n"] + 1)
    )
    assert set(curves["sample"]) <= set(
        pd.read_parquet(root / "results/data/samples.parquet").query("status == 'normal'")["sample"]
    )
    for name in ("fig1", "fig2", "fig3", "figS1", "figS4"):
        for ext in ("png", "pdf"):
            assert (root / f"results/figures/{name}.{ext}").stat().st_size > 1000


def test_annotation_and_differential_outputs(tiny_run):
    """Gene annotation, top-gene overlaps, normal-vs-cancer tests, flags and Figures 4-5."""
    root, config = tiny_run
    genes = pd.read_parquet(root / "results/annotation/genes.parquet")
    truth = pd.read_parquet(root / "results/data/genes.parquet").set_index("gene")
    assert list(genes.columns) == [
        "gene", "symbol", "ts_category", "ts_classes", "ts", "housekeeping", "tf", "tf_cofactor",
    ]  # fmt: skip
    assert genes["tf"].sum() == (truth["truth_role"] == "tf").sum()  # the demo's planted list
    assert not genes["tf_cofactor"].any()  # none configured
    planted = truth.index[truth["truth_role"].isin(["tissue_enriched", "group_enriched"])]
    assert genes.set_index("gene").loc[planted, "ts"].mean() >= 0.9
    overlaps = pd.read_parquet(root / "results/annotation/overlaps.parquet")
    assert set(overlaps["set"]) == {"top expressed", "TS", "HK", "TF", "TF cofactor"}
    k = config["annotate"]["top_k"]
    assert overlaps["overlap"].between(0, k).all() and (overlaps["top_k"] == k).all()
    tests = pd.read_parquet(root / "results/differential/tests.parquet")
    assert set(tests["tissue"]) == set(config["focus_tissues"])
    assert tests.groupby("tissue").size().eq(len(genes)).all()
    top_de = pd.read_parquet(root / "results/differential/top_de.parquet")
    assert top_de["de_share"].between(0, 1).all()
    assert set(top_de["tissue"]) == set(config["focus_tissues"])  # Figure 5A: both tissues
    split = pd.read_parquet(root / "results/differential/split.parquet")
    assert set(split["tissue"]) == set(config["focus_tissues"])  # 5B
    table = pd.read_csv(root / "results/tables/top_genes_mlp_DeepLiftShap_optimised.tsv", sep="\t")
    assert {"TS", "HK", "TF", "TF_cofactor", "DE"} <= set(table.columns)
    ts = genes.set_index("gene")["ts"]
    assert table["TS"].tolist() == ts.loc[table["gene"]].tolist()
    shared = pd.read_parquet(root / "results/differential/shared.parquet")
    assert (shared["samples"] >= 2).all()  # shared_min_samples, default 2
    for name in ("fig4", "fig5", "figS9", "figS11"):
        for ext in ("png", "pdf"):
            assert (root / f"results/figures/{name}.{ext}").stat().st_size > 1000


def test_sanity_outputs(tiny_run):
    """Model-parameter and label randomisation for every explainer, and their figure."""
    root, config = tiny_run
    table = pd.read_parquet(root / "results/sanity/sanity.parquet")
    explainers = {"mlp": {"Saliency", "DeepLiftShap"},
                  "cnn": {"Saliency", "DeepLiftShap", "GuidedGradCamPlusPlus"}}  # fmt: skip
    for arch, names in explainers.items():
        rows = table[table["arch"] == arch]
        assert set(rows["explainer"]) == names
        layers = 2 if arch == "mlp" else 4
        for _, group in rows.groupby("explainer"):
            counts = group["randomisation"].value_counts().to_dict()
            assert counts == {"cascading": layers, "independent": layers, "labels": 1}
    assert table["rho"].dropna().between(-1, 1).all()  # NaN: constant randomised scores
    assert table.loc[table["randomisation"] == "labels", "train_accuracy"].between(0, 1).all()
    assert table["passes"].dtype == bool
    for ext in ("png", "pdf"):
        assert (root / f"results/figures/sanity.{ext}").stat().st_size > 1000


@pytest.fixture
def tf_server(monkeypatch):
    """An AnimalTFDB-format TF list served on 127.0.0.1 (the download rule's real path)."""
    import http.server
    import threading

    monkeypatch.setenv("no_proxy", "*")
    body = b"Species\tSymbol\tEnsembl\tFamily\tProtein\tEntrez_ID\n" + b"".join(
        f"Homo_sapiens\tTF{i}\tDG0000{i}\tzf-C2H2\t\t\n".encode() for i in (1, 2, 3)
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/tf.txt", body
    httpd.shutdown()


@pytest.mark.parametrize("good_checksum", [True, False])
def test_tf_list_comes_through_the_download_rule(workdir, tf_server, good_checksum):
    import hashlib

    url, body = tf_server
    sha = hashlib.sha256(body if good_checksum else body + b"x").hexdigest()
    config = yaml.safe_load(TINY.read_text())
    config["annotate"]["tf"] = {"url": url, "sha256": sha}
    (workdir / "tf.yaml").write_text(yaml.safe_dump(config))
    target = "results/annotation/genes.parquet"
    done = snakemake(target, "--cores", "2", "--configfile", "tf.yaml", cwd=workdir)
    if not good_checksum:
        assert done.returncode != 0
        assert "SHA-256" in done.stderr or "sha256" in done.stderr.lower()
        assert not (workdir / "results/downloads/tf").exists()
        assert not (workdir / target).exists()
        return
    assert done.returncode == 0, done.stderr[-3000:]
    assert (workdir / "results/downloads/tf").read_bytes() == body
    genes = pd.read_parquet(workdir / target)
    assert sorted(genes.loc[genes["tf"], "gene"]) == ["DG00001", "DG00002", "DG00003"]
