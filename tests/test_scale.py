"""Job sizes from the config (txai.scale), and the paper-scale DAG they give."""

import copy
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, TINY, snakemake
from torch.utils.flop_counter import FlopCounterMode

from txai import draws, explain, fast_cnn, models, plan, sanity, scale
from txai.config import model_ids, setting_for
from txai.io import InputError

PAPER = REPO / "config" / "paper.yaml"
HOST_LIMIT_MB = 64_000


@pytest.fixture(scope="module")
def paper():
    return scale.load(PAPER)


@pytest.fixture(scope="module")
def demo():
    return scale.load(None)


def with_cnn(config, genes, classes, channels, kernels):
    config = yaml.safe_load(yaml.safe_dump(config))
    config["cohort"]["portal"]["size"] = {
        "samples": 10 * classes,
        "genes": genes,
        "classes": classes,
    }
    config["train"]["cnn"].update(channels=channels, kernels=kernels, grid_multiple=8)
    return config


def small_model(arch):
    """300 genes, 5 classes; the CNN with channels (4, 6, 8), kernels (5, 3, 3), as with_cnn."""
    extra = {"channels": (4, 6, 8), "kernels": (5, 3, 3)} if arch == "cnn" else {}
    return models.build(arch, 300, 5, **extra)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_forward_flops_agree_with_torch_flop_counter(paper, arch):
    config = with_cnn(paper, genes=300, classes=5, channels=[4, 6, 8], kernels=[5, 3, 3])
    model = small_model(arch)
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(model.prepare(torch.zeros(1, 300)))
    assert scale.forward_flops(config, arch) == counter.get_total_flops()


def test_forward_flops_by_hand(paper):
    # 64 genes -> an 8 x 8 grid; 'same' convolutions at sides 8, 4, 2; then Linear(4, 5).
    config = with_cnn(paper, genes=64, classes=5, channels=[2, 3, 4], kernels=[3, 3, 3])
    assert scale.forward_flops(config, "cnn") == 2 * (
        64 * 9 * 2 + 16 * 9 * 2 * 3 + 4 * 9 * 3 * 4 + 4 * 5
    )
    assert scale.forward_flops(config, "mlp") == 2 * (64 * 128 + 128 * 5)


def test_paper_dimensions(paper):
    assert scale.size(paper)["genes"] == 19_241 and scale.size(paper)["classes"] == 82
    assert scale.forward_flops(paper, "cnn") == pytest.approx(2.954e9, rel=1e-3)  # 144 x 144 grid
    # Training a CNN: 3 x forward x 82 classes x 1,100 rows x 0.9 x 0.9 x 100 epochs.
    rows = 82 * 1100 * 0.9 * 0.9
    assert scale.train_flops(paper, "cnn") == pytest.approx(3 * 2.954e9 * rows * 100, rel=1e-3)


def test_passes_multiply_the_strategy(paper):
    optimised = paper["explain"]["settings"]["optimised"]
    assert scale.passes(paper, setting_for(optimised["mlp"], "DeepLift"), "DeepLift") == 40 * 60
    assert scale.passes(paper, setting_for(optimised["mlp"], "Saliency"), "Saliency") == 40 * 50
    ig = scale.passes(paper, optimised["cnn"], "IntegratedGradients")
    assert ig == 20 * 20 * 50
    gradcam = setting_for(optimised["cnn"], "GuidedGradCam")
    assert scale.passes(paper, gradcam, "GuidedGradCam") == 20 * 2


def test_explained_samples_follow_the_sample_set(paper):
    # Paper: mean class 335 samples -> per class ceil(0.1 x 670) = 67; the 4 focus tissues' 9
    # classes (GTEx liver, lung, ovary, pancreas; TCGA LIHC, LUAD, LUSC, OV, PAAD).
    plain = paper["explain"]["settings"]["plain"]["mlp"]
    assert scale.explained(paper, plain) == 9 * 67
    capped = {**plain, "samples": {"per_class": 3, "status": "normal"}}
    assert scale.explained(paper, capped) == 4 * 3
    capped["samples"]["status"] = "cancer"
    assert scale.explained(paper, capped) == 5 * 3


def test_focus_classes_per_source(paper, tmp_path):
    """A built source counts GTEx v8's tissues and the TCGA projects of each focus tissue; the
    demo its own tissues; a user's cohort the classes of its sample sheet. Without focus
    tissues, every tissue; a tissue without a normal class counts all of its own as normal."""
    assert scale.focus_classes(paper) == 9
    brain = {**paper, "focus_tissues": ["brain", "kidney"]}  # GTEx 13 + 1 (Medulla: < 25)
    assert scale.focus_classes(brain, "normal") == 14 and scale.focus_classes(brain, "cancer") == 5
    assert scale.focus_classes({**paper, "focus_tissues": []}) == 49 + 33  # the paper's 82
    toil = {**paper, "cohort": {**paper["cohort"], "source": "toil"}}
    toil["cohort"]["toil"] = {**paper["cohort"]["toil"], "tcga_projects": ["LUAD"]}
    assert scale.focus_classes(toil, "cancer") == 1
    demo = yaml.safe_load(TINY.read_text())
    assert scale.focus_classes(demo) == 4  # liver and lung, each normal and cancer
    assert scale.focus_classes({**demo, "focus_tissues": []}, "normal") == 4  # + brain, heart
    sheet = pd.DataFrame({"sample": list("abcde"), "class": ["LIHC", "LUAD", "LUSC", "liv", "B"],
                          "tissue": ["liver", "lung", "lung", "liver", None],
                          "status": ["cancer", "cancer", "cancer", "normal", None]})  # fmt: skip
    sheet.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    files = {
        **paper,
        "focus_tissues": ["lung", "liver"],
        "cohort": {"source": "files", "files": {"samples": str(tmp_path / "samples.tsv")}},
    }
    assert [scale.focus_classes(files, s) for s in ("any", "normal", "cancer")] == [4, 3, 3]
    assert scale.focus_classes({**files, "focus_tissues": []}) == 5  # B: its own tissue


@pytest.mark.parametrize("per_job", [0, 3])
def test_the_dag_and_the_cost_model_take_one_plan(demo, workdir, per_job):
    """With explain.models_per_job changed, the rules and txai.scale both follow txai.plan: the
    same batches, the same explain jobs per batch."""
    demo = yaml.safe_load(yaml.safe_dump(demo))
    demo["explain"]["models_per_job"] = per_job
    (workdir / "per_job.yaml").write_text(yaml.safe_dump({"explain": {"models_per_job": per_job}}))
    table = scale.table(demo).set_index("stage")
    for arch in ("mlp", "cnn"):
        assert table.loc[f"train {arch}", "jobs"] == len(model_ids(demo["train"][arch])) + 1
    done = snakemake("-n", "--configfile", "config/config.yaml", "per_job.yaml", cwd=workdir)
    assert done.returncode == 0, done.stderr
    counts = {rule: int(n) for rule, n in re.findall(r"^(explain_\w+)\s+(\d+)$", done.stdout, re.M)}
    for arch in ("mlp", "cnn"):
        jobs = plan.explain_jobs(demo, arch, scale.COST)
        batches = plan.batches(demo, arch, scale.COST)
        assert len(model_ids(demo["train"][arch])) == 10  # 1 batch, or 4 of 3; then curves
        assert list(batches) == (["b01"] if per_job == 0 else ["b01", "b02", "b03", "b04"]) + [
            "curves"
        ]
        packs = plan.explain_packs(demo, arch, scale.COST)  # the demo: one explainer a job
        assert sorted(job for pack in packs.values() for job in pack) == sorted(jobs)
        assert all(len(pack) == 1 for pack in packs.values())
        want = {f"explain_{arch}_{name}": 1 for name in packs}
        assert {r: n for r, n in counts.items() if r.startswith(f"explain_{arch}_")} == want
        assert table.loc[f"explain {arch}", "jobs"] == len(packs)


def test_paper_config_stands_alone():
    """Snakemake merges paper.yaml over config.yaml: no demo value may leak into the paper run."""
    merged = scale.load(PAPER)
    alone = yaml.safe_load(PAPER.read_text())
    merged["cohort"].pop("demo")

    def leaves(tree, prefix=()):
        for key, value in tree.items():
            if isinstance(value, dict) and value and key != "overrides":
                yield from leaves(value, (*prefix, key))
            else:
                yield (*prefix, key), value

    demo = dict(leaves(yaml.safe_load((REPO / "config" / "config.yaml").read_text())))
    paper = dict(leaves(alone))
    for key, value in leaves(merged):
        if key in demo and key[:2] != ("cohort", "demo"):
            assert key in paper, f"{'.'.join(key)} comes from the demo config: set it in paper.yaml"
            assert value == paper[key]


@pytest.fixture(scope="module")
def paper_dry_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    done = snakemake("-n", "-s", str(REPO / "Snakefile"), "--configfile", str(PAPER), cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def jobs(dry_run: str):
    """(rule, resources line) of every job of a dry run."""
    rule = None
    for line in dry_run.splitlines():
        if match := re.match(r"(?:local)?rule (\w+):", line):
            rule = match.group(1)
        elif "resources:" in line and rule != "all":
            yield rule, line


def test_paper_dag_lists_every_job(paper_dry_run):
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", paper_dry_run, re.M))
    train = {rule: int(n) for rule, n in counts.items() if rule.startswith("train_")}
    assert train == {"train_mlp_m01_m60": 1} | {
        f"train_cnn_{m}": 1 for m in model_ids(scale.load(PAPER)["train"]["cnn"])
    }
    assert counts["crossval"] == "2"  # the 60 MLPs in one job (hpc.pack_minutes), CNNs alone
    assert (
        counts["download"] == "73"
    )  # portal: GCT, attributes, GTF, 33 x 2 recount3; TF, cofactor, GO x 2
    assert int(counts["total"]) == 255  # with 29 + 48 explain and 66 training jobs


def test_one_key_switches_the_paper_run_to_toil_and_its_declared_size(paper_dry_run, tmp_path):
    done = snakemake(
        "-n", "-s", str(REPO / "Snakefile"), "--configfile", str(PAPER),
        "--config", "cohort={source: toil}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", done.stdout, re.M))
    assert counts["download"] == "7"  # toil: matrix, phenotype, GTF; TF, cofactor, GO x 2
    assert "toil_expression" in done.stdout and "portal_gtf" not in done.stdout

    def data_memory(dry_run: str) -> int:
        line = next(line for rule, line in jobs(dry_run) if rule == "prepare_data")
        return int(re.search(r"mem_mb=(\d+)", line).group(1))

    toil = scale.load(PAPER)
    toil["cohort"]["source"] = "toil"
    assert data_memory(done.stdout) == scale.mem_mb(toil, "data")
    assert data_memory(done.stdout) < data_memory(paper_dry_run)  # 17,200 samples, not 27,417


def test_paper_jobs_fit_a_64_gb_node(paper_dry_run):
    seen = set()
    for rule, line in jobs(paper_dry_run):
        memory = re.search(r"mem_mb=(\d+)", line)
        assert memory and re.search(r"runtime=\d+", line), f"{rule}: {line}"
        assert int(memory.group(1)) <= HOST_LIMIT_MB, f"{rule} asks for {memory.group(1)} MB"
        seen.add(rule)
    assert {
        "train_mlp_m01_m60",
        "prepare_data",
        "build_cohort",
        "reproducibility",
        "sanity_arch",
    } <= seen


def test_gpu_jobs_ask_for_a_gpu(paper_dry_run):
    for rule, line in jobs(paper_dry_run):
        gpu = rule.startswith(("train", "crossval", "explain_", "sanity_arch"))
        assert ("gpu=1" in line) == gpu, f"{rule}: {line}"


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_parameters_agree_with_the_model(paper, arch):
    config = with_cnn(paper, genes=300, classes=5, channels=[4, 6, 8], kernels=[5, 3, 3])
    model = small_model(arch)
    batchnorm = sum(
        p.numel()
        for m in model.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        for p in m.parameters()
    )
    assert scale.parameters(config, arch) == sum(p.numel() for p in model.parameters()) - batchnorm


def test_no_paper_job_asks_for_more_than_hpc_max_runtime(paper_dry_run, paper):
    minutes = [int(re.search(r"runtime=(\d+)", line)[1]) for _, line in jobs(paper_dry_run)]
    assert (
        len(minutes) == 254 and max(minutes) <= paper["hpc"]["max_runtime"] == 1440
    )  # all but `all`


def test_explain_batches_are_sized_to_fit_hpc_max_runtime(paper):
    config = copy.deepcopy(paper)
    config["hpc"]["max_runtime"] = 20  # the paper's CNN batches of 5 models ask for up to 25
    for arch in ("mlp", "cnn"):
        batches = plan.batches(config, arch, scale.COST)
        models = [m for name, batch in batches.items() if name != "curves" for m in batch]
        assert models == model_ids(config["train"][arch])  # every model once, in order
        for job in plan.explain_jobs(config, arch, scale.COST):
            if job.batch != "curves":
                asks = scale.runtime_min(config, "explain", arch=arch, explainer=job.explainer,
                                         setting=job.spec, models=job.models)  # fmt: skip
                assert asks <= 20 and len(job.models) <= 5
    cnn = plan.batches(config, "cnn", scale.COST)
    assert len(cnn["b01"]) == 3 and "m01" in cnn["b01"]  # m01 costs its 5 replicates
    assert len(cnn) > len(plan.batches(paper, "cnn", scale.COST))
    config["hpc"]["max_runtime"] = 10  # below one CNN model with its replicates
    with pytest.raises(InputError, match="explaining cnn model m01 alone is estimated at 1[1-9]"):
        plan.batches(config, "cnn", scale.COST)


def test_explainers_are_packed_where_start_up_dominates(paper):
    """The paper's MLP attributions (seconds each) run as one job per batch and setting; CNN
    jobs hold as many explainers as fit in hpc.pack_minutes of estimated compute."""
    limit = 60 * paper["hpc"]["pack_minutes"]
    for arch in ("mlp", "cnn"):
        jobs = plan.explain_jobs(paper, arch, scale.COST)
        packs = plan.explain_packs(paper, arch, scale.COST)
        assert sorted(j for pack in packs.values() for j in pack) == sorted(jobs)  # each once
        for name, pack in packs.items():
            assert {(j.batch, j.setting) for j in pack} == {tuple(name.split("_")[:2])} or (
                pack[0].batch == "curves"
            )
            seconds = [scale.seconds(paper, "explain", arch=arch, explainer=j.explainer,
                                     setting=j.spec, models=j.models) for j in pack]  # fmt: skip
            assert len(pack) == 1 or sum(seconds) <= limit
    mlp = plan.explain_packs(paper, "mlp", scale.COST)
    assert len(mlp["b01_plain_1"]) == 6 and len(mlp) == 29  # 165 jobs without packing
    unpacked = copy.deepcopy(paper)
    unpacked["hpc"]["pack_minutes"] = 0
    assert len(plan.explain_packs(unpacked, "mlp", scale.COST)) == 165


def test_a_retried_job_asks_for_more_memory_and_time(paper):
    assert [scale.on_attempt(paper, "mem_mb", 4000, a) for a in (1, 2, 3)] == [4000, 6000, 8000]
    assert [scale.on_attempt(paper, "runtime", 600, a) for a in (1, 2, 3)] == [600, 900, 1200]
    assert scale.on_attempt(paper, "runtime", 1200, 2) == 1440  # never above hpc.max_runtime


def test_jobs_of_a_rule_ask_alike(paper_dry_run):
    """Every job of a rule asks for the rule's largest request (the cost model prices a rule)."""
    asks = {}
    for rule, line in jobs(paper_dry_run):
        ask = re.findall(r"(gpu|mem_mb|runtime)=(\d+)", line)
        assert asks.setdefault(rule, ask) == ask, f"{rule}: {asks[rule]} and {ask}"
    assert len(asks) > 30


CNN_WIDTHS, SIDE, N_GENES = [4, 6, 8], 8, 50
U2, U3 = {"type": "u", "count": 2}, {"type": "u", "count": 3}  # drawn references
Z2, Z4 = {"type": "zero", "count": 2}, {"type": "zero", "count": 4}
FLOP_CASES = {  # explainer, setting, pools (None, "zero" or "drawn"), budget in rows (0: none)
    "saliency": ("Saliency", {"repeats": 3}, None, 0),
    "smoothgrad": ("GuidedBackprop", {"repeats": 2, "smoothgrad": {"copies": 2, "sd": 1.0}},
                   None, 0),
    "gradcam": ("GuidedGradCamPlusPlus", {"repeats": 2}, None, 2),
    "deeplift": ("DeepLift", {"repeats": 2, "references": U3}, "drawn", 0),
    "deepliftshap": ("DeepLiftShap", {"repeats": 2, "references": U3}, "drawn", 3),
    "deepliftshap zero": ("DeepLiftShap", {"repeats": 3, "references": Z4}, "zero", 0),
    "ig zero": ("IntegratedGradients", {"repeats": 3, "references": Z2}, "zero", 0),
    "ig zero sliced": ("IntegratedGradients", {"repeats": 2, "references": Z2}, "zero", 3),
    "ig drawn": ("IntegratedGradients", {"repeats": 2, "references": U2}, "drawn", 5),
}  # fmt: skip


def counted(model, explainer, setting, pools, memory_mb, n=6):
    """FLOPs PyTorch's own counter sees while txai explains n samples, less the one forward
    pass that finds the dropout masks' shapes (once per model, not per replicate)."""
    r = np.random.default_rng(0)
    x = r.uniform(0, 5, (n, N_GENES)).astype(np.float32)
    drawn = r.uniform(0, 2, (n, 5, N_GENES)).astype(np.float32)
    pools = {None: None, "drawn": drawn, "zero": np.zeros_like(drawn)}[pools]
    strategy = setting_for(setting, explainer)
    counter, probe = FlopCounterMode(display=False), FlopCounterMode(display=False)
    with counter:
        explain.explain_model(
            model,
            explainer,
            x,
            np.arange(n) % 5,
            strategy,
            pools,
            np.random.default_rng(1),
            ig_steps=6,
            memory_mb=memory_mb,
        )
    with probe:
        draws.dropouts(model)
    return counter.get_total_flops() - probe.get_total_flops()


def work_of(setting, explainer, pools, memory_mb, cpu, n=6):
    strategy = setting_for(setting, explainer)
    smooth, refs = strategy.get("smoothgrad", {}), strategy.get("references", {})
    return scale.Work(n, strategy.get("repeats", 1), smooth.get("copies", 1), bool(smooth),
                      refs.get("count", 0), pools == "zero", memory_mb, cpu)  # fmt: skip


@pytest.mark.parametrize("case", FLOP_CASES)
@pytest.mark.parametrize("cpu", [True, False])
def test_the_cost_model_counts_the_cnn_fast_paths_convolutions(case, cpu, monkeypatch):
    """The cost model's count of a replicate's convolution FLOPs equals PyTorch's counter on
    the real run, on a CPU (cache-sized batches) and as a GPU batches (by its memory budget),
    with a budget that slices rows or none."""
    explainer, setting, pools, rows = FLOP_CASES[case]
    torch.manual_seed(0)
    model = models.CNN(N_GENES, 5, channels=CNN_WIDTHS, kernels=(3, 3, 3)).eval()
    assert model.side == SIDE
    memory_mb = rows * fast_cnn.row_bytes(model) / 2**20 if rows else 2048
    monkeypatch.setattr(fast_cnn, "cache_sized", lambda device: cpu)
    widths = zip([1, *CNN_WIDTHS[:2]], CNN_WIDTHS, strict=True)
    convs = [2.0 * (SIDE // 2**i) ** 2 * 9 * a * b for i, (a, b) in enumerate(widths)]
    want = counted(model, explainer, setting, pools, memory_mb)
    got = scale.cnn_flops(work_of(setting, explainer, pools, memory_mb, cpu), explainer, convs,
                          CNN_WIDTHS, SIDE, N_GENES, 6)  # fmt: skip
    assert want > 0 and got == want


@pytest.mark.parametrize("case", ["saliency", "smoothgrad", "deeplift", "deepliftshap",
                                  "deepliftshap zero", "ig zero", "ig drawn"])  # fmt: skip
def test_the_cost_model_counts_the_mlp_fast_paths_products(case):
    explainer, setting, pools, rows = FLOP_CASES[case]
    torch.manual_seed(0)
    model = models.MLP(N_GENES, 5, hidden=16).eval()
    want = counted(model, explainer, setting, pools, 1 if rows else None)
    pool_rows = 5 * 6 if pools else 0  # one pool a sample (5 rows each)
    got = scale.mlp_flops(work_of(setting, explainer, pools, 1, True), N_GENES, 16, pool_rows)
    assert want > 0 and got == want


def test_the_paper_fits_eight_gpu_hours_at_its_stated_rates(paper):
    frame = scale.table(paper)
    assert frame["gpu_hours"].sum() <= 8
    rates = paper["hpc"]["rates"]
    assert {"fp32", "tf32", "bf16"} <= set(rates[paper["hpc"]["gpu"]])
    assert all(len(entry["source"]) > 20 for device in rates.values() for entry in device.values())
    assert scale.SANITY_LAYERS == {arch: len(layers) for arch, layers in sanity.LAYERS.items()}


def test_memory_terms_of_genes_classes_and_widths(paper):
    """By hand at the paper's dimensions (the terms `make rehearsal` measured over): a CNN
    training batch's activations where it may train on the CPU, a pool per focus class plus
    one drawn in float64, pandas' cost per column of a gene-wide table."""
    outputs = 64 * 144**2 + 128 * 72**2 + 256 * 36**2  # each block's convolution output
    assert scale.activations_mb(paper) == pytest.approx(256 * 4 * outputs * 2.5 / 1e6)
    matrix6 = scale.matrix_mb(paper, 6)
    assert scale.mem_mb(paper, "train") == 1_000 + matrix6 + math.ceil(
        256 * 4 * outputs * 2.5 / 1e6
    )
    assert scale.mem_mb(paper, "train", arch="mlp") == 1_000 + matrix6  # no convolutions
    on_gpu = copy.deepcopy(paper)
    on_gpu["train"]["device"] = "cuda"
    assert scale.activations_mb(on_gpu) == 0 and scale.mem_mb(on_gpu, "train") == 1_000 + matrix6
    pool = math.ceil(2_000 * 19_241 * 4 / 1e6)  # 154 MB
    assert scale.mem_mb(paper, "references") == 1_000 + scale.matrix_mb(paper, 2) + pool * (9 + 2)
    wide = math.ceil(19_241 * 45 / 1000)
    assert scale.mem_mb(paper, "data") == 1_000 + scale.matrix_mb(paper, 10) + wide
    assert scale.mem_mb(paper, "figures") == 2_000 + wide
