"""The table of explainers: a record describes an explainer completely, so a copy of a record
under a new name is computed, costed and checked exactly like the original (no code keys on
an explainer's name)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO, TINY

from txai import config, curves, explain, models, plan, scale
from txai.explainers import TABLE
from txai.io import InputError

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
PAPER = REPO / "config" / "paper.yaml"
N_GENES, N_CLASSES = 20, 3


@pytest.fixture(params=list(TABLE))
def names(request, monkeypatch) -> tuple[str, str]:
    """(an explainer's name, the name of its record's copy, registered in the table)."""
    name = request.param
    copy = f"{name}Copy"
    monkeypatch.setitem(TABLE, copy, dataclasses.replace(TABLE[name], name=copy))
    return name, copy


def trained_like(model: torch.nn.Module) -> torch.nn.Module:
    """BatchNorm statistics that are not the identity, then eval mode."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(model.prepare(torch.rand(16, N_GENES) * 4))
    return model.eval()


def test_the_backends_compute_a_copy_like_the_original(names):
    name, copy = names
    torch.manual_seed(0)
    nets = {"mlp": trained_like(models.MLP(N_GENES, N_CLASSES, hidden=8)),
            "cnn": trained_like(models.CNN(N_GENES, N_CLASSES, channels=(2, 3, 4),
                                           kernels=(3, 3, 3)))}  # fmt: skip
    r = np.random.default_rng(0)
    x = r.uniform(0, 4, (3, N_GENES)).astype(np.float32)
    pools = r.uniform(0, 2, (3, 5, N_GENES)).astype(np.float32)
    setting = {"repeats": 2, "references": {"type": "universal", "count": 2},
               "smoothgrad": {"copies": 2, "sd": 0.5}}  # fmt: skip
    archs = ["cnn"] if TABLE[name].convolutional else ["mlp", "cnn"]
    for arch in archs:
        net = nets[arch]
        assert explain.backend_for(net, TABLE[copy]) is explain.backend_for(net, TABLE[name])
        for use_fast in (False, True):
            blocks = [
                explain.explain_model(
                    net,
                    explainer,
                    x,
                    np.arange(3),
                    config.setting_for(setting, explainer),
                    pools,
                    np.random.default_rng(1),
                    replicates=2,
                    keep_estimates=True,
                    ig_steps=4,
                    use_fast=use_fast,
                )  # fmt: skip
                for explainer in (name, copy)
            ]
            assert [b[:2] for b in blocks[0]] == [b[:2] for b in blocks[1]]
            assert max(np.abs(b[2]).max() for b in blocks[0]) > 0
            for (_, _, a), (_, _, b) in zip(*blocks, strict=True):
                assert np.array_equal(a, b)


def paper_running(explainers: list[str], name: str | None = None, copy: str | None = None):
    """The paper's config running `explainers`; a setting's overrides of `name` given to
    `copy` instead (overrides are by name)."""
    conf = scale.load(PAPER)
    conf["explain"]["explainers"] = explainers
    for by_arch in conf["explain"]["settings"].values():
        for strategy in by_arch.values():
            overrides = strategy.get("overrides", {})
            if copy and name in overrides:
                overrides[copy] = overrides.pop(name)
    return conf


def test_the_cost_model_prices_a_copy_like_the_original(names):
    name, copy = names
    extra = ["Saliency"] if TABLE[name].convolutional else []  # the MLP runs something
    original = paper_running([*extra, name])
    renamed = paper_running([*extra, copy], name, copy)
    assert scale.table(renamed).equals(scale.table(original))
    for arch in ("mlp", "cnn"):
        jobs = [
            [
                (j.explainer, j.setting, config.setting_for(j.spec, j.explainer), j.models)
                for j in plan.explain_jobs(c, arch)
            ]  # fmt: skip
            for c in (original, renamed)
        ]
        assert [(e.replace(copy, name), *rest) for e, *rest in jobs[1]] == jobs[0]
        for (explainer, _, setting, batch), (other, _, same, _) in zip(*jobs, strict=True):
            for size in (scale.mem_mb, scale.runtime_min):
                assert size(renamed, "explain", arch=arch, explainer=other, setting=same,
                            models=batch) == size(original, "explain", arch=arch,
                                                  explainer=explainer, setting=setting,
                                                  models=batch)  # fmt: skip
        found = curves.sources(original["simulate"], arch, [name])
        assert curves.sources(renamed["simulate"], arch, [copy]) == [
            (*row[:3], copy) for row in found
        ]


def tiny_running(explainers: list[str], representative: str, override: str) -> dict:
    conf = yaml.safe_load(TINY.read_text())
    conf["explain"]["explainers"] = list(dict.fromkeys(explainers))
    conf["explain"]["settings"]["optimised"]["cnn"]["overrides"] = {override: {"repeats": 3}}
    conf["annotate"]["representatives"] = [representative]
    return conf


def test_the_config_checks_treat_a_copy_like_the_original(names):
    name, copy = names
    for arch in ("CNN", "MLP"):
        outcomes = []
        for explainer in (name, copy):
            conf = tiny_running(["Saliency", "DeepLiftShap", explainer], f"{arch}-Agg {explainer}",
                                explainer)  # fmt: skip
            config.check(conf, SCHEMA)
            by_arch = config.explainers_by_arch(conf)
            strategy = config.setting_for(
                conf["explain"]["settings"]["optimised"]["mlp"], explainer
            )
            try:
                config.check_combinations(conf)
                refused = None
            except InputError as error:
                refused = str(error).replace(explainer, "X")
            outcomes.append((explainer in by_arch["mlp"], strategy, refused))
        assert outcomes[0] == outcomes[1]
    assert outcomes[0][2] is not None or not TABLE[name].convolutional  # MLP + Grad-CAM refused


def test_the_config_check_refuses_a_name_not_in_the_table():
    conf = tiny_running(["Saliency"], "MLP-Agg Saliency", "Occlusion")
    where = "explain.settings.optimised.cnn.overrides"
    with pytest.raises(InputError, match=rf"'{where}': 'Occlusion' is not one of \['Saliency'"):
        config.check(conf, SCHEMA)
    conf["explain"]["settings"]["optimised"]["cnn"]["overrides"] = {}
    conf["explain"]["explainers"].append("Occlusion")
    with pytest.raises(InputError, match=r"'explain\.explainers\[1\]': 'Occlusion' is not"):
        config.check(conf, SCHEMA)


def test_each_record_reads_as_the_paper_describes_it():
    """References for IntegratedGradients, DeepLift and DeepLiftShap (averaged by DeepLiftShap
    alone); Grad-CAM on convolutional models only; the cost of an estimate in passes."""
    assert [n for n, e in TABLE.items() if e.references] == [
        "IntegratedGradients", "DeepLift", "DeepLiftShap"
    ]  # fmt: skip
    assert [n for n, e in TABLE.items() if e.averages_references] == ["DeepLiftShap"]
    assert [n for n, e in TABLE.items() if e.convolutional] == [
        "GuidedGradCam", "GuidedGradCamPlusPlus"
    ]  # fmt: skip
    passes = {n: e.passes(50) for n, e in TABLE.items()}
    assert passes == {"Saliency": 1, "InputXGradient": 1, "GuidedBackprop": 1,
                      "IntegratedGradients": 50, "DeepLift": 1, "DeepLiftShap": 1,
                      "GuidedGradCam": 2, "GuidedGradCamPlusPlus": 2}  # fmt: skip
    assert all(e.model for e in TABLE.values())
