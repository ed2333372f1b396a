"""Every GPU-tagged stage computes on train.device: attribution with each backend (the curve
settings' too) and the sanity stage, whose inputs move there once; and no code picks a device
of its own. This machine has no GPU: the tests follow the configured choice to the tensors the
backends compute with, and read the source for hard-coded devices."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_explain import EXPLAIN_CONFIG, write_inputs

from txai import curves, explain, io, sanity, train

SRC = Path(__file__).resolve().parents[1] / "src" / "txai"


def hard_coded(source: str) -> list[str]:
    """Calls that pick a device themselves: `.cuda()`, `.to("...")`, `torch.device("...")`,
    `device="..."`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        literal = [a for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        keywords = [
            k for k in node.keywords if k.arg == "device" and isinstance(k.value, ast.Constant)
        ]
        if name == "cuda" or (name in ("to", "device") and literal) or keywords:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_code_picks_a_device_of_its_own():
    found = {p.name: hard_coded(p.read_text()) for p in SRC.glob("*.py")}
    assert {name: places for name, places in found.items() if places} == {}


def test_the_check_finds_hard_coded_devices():
    source = 'x.cuda()\ny = x.to("cuda")\nz = torch.zeros(3, device="cuda")\ntorch.device("cpu")\n'
    assert len(hard_coded(source)) == 4
    assert hard_coded("x.to(dev)\ntorch.zeros(3, device=x.device)\nx.cpu()\n") == []


@pytest.fixture
def chosen(monkeypatch):
    """The choices train.device was asked for; it answers the CPU, the device there is here."""
    asked, real = [], train.device

    def spy(choice="auto"):
        asked.append(choice)
        return real("cpu")

    monkeypatch.setattr(train, "device", spy)
    monkeypatch.setattr(explain, "device", spy)  # explain imports the name
    return asked


@pytest.fixture
def computed(monkeypatch):
    """(backend module, device of its inputs, device of its model) of every replicate."""
    seen = []
    for backend in explain.BACKENDS:

        def spy(model, task, repeats, backend=backend, original=backend.estimates):
            seen.append((backend.__name__, task.x.device, next(model.parameters()).device))
            yield from original(model, task, repeats)

        monkeypatch.setattr(backend, "estimates", spy)
    return seen


CASES = [  # arch, explainer, setting, fast: each backend, and a curve setting
    ("mlp", "DeepLift", {"repeats": 2, "references": {"type": "universal", "count": 2}}, True),
    ("cnn", "IntegratedGradients",
     {"repeats": 1, "references": {"type": "universal", "count": 1}}, True),
    ("cnn", "GuidedGradCam", {"repeats": 1}, False),
    ("mlp", "Saliency",
     curves.settings({"pool": 2, "reference": {"mlp": "universal", "cnn": "zero"},
                      "reference_types": [], "samples": 2, "sd": 1.0})["curve_repeats"]["mlp"],
     True),
]  # fmt: skip


@pytest.mark.parametrize(("arch", "explainer", "setting", "fast"), CASES)
def test_attribution_computes_on_the_configured_device(
    tmp_path, chosen, computed, arch, explainer, setting, fast
):
    genes, paths = write_inputs(tmp_path, arch)
    out = [str(tmp_path / f"{m}.parquet") for m in ("m01", "m02")]
    explain.run(
        expression=tmp_path / "expr.parquet", samples=tmp_path / "samples.parquet",
        models=paths, references={"universal": tmp_path / "universal.parquet"}, arch=arch,
        explainer=explainer, setting_name="s", setting=setting,
        explain_config={**EXPLAIN_CONFIG, "device": "cpu", "fast": fast}, seed=1, outputs=out,
    )  # fmt: skip
    assert chosen == ["cpu"]  # asked once, for the job
    backend = {"mlp": "txai.fast", "cnn": "txai.fast_cnn"}[arch] if fast else "txai.captum_backend"
    cpu = torch.device("cpu")
    assert computed and all(c == (backend, cpu, cpu) for c in computed)
    assert all(io.read_table(p).shape[0] > 0 for p in out)


def test_the_sanity_stage_trains_and_explains_on_the_configured_device(tmp_path, chosen, computed):
    genes, paths = write_inputs(tmp_path, "mlp")
    io.write_table(pd.DataFrame({"gene": genes}), tmp_path / "genes.parquet")
    arch_config = {"hidden": 8, "dropout": 0.25, "lr": [0.01], "weight_decay": [0.0],
                   "batch_size": [8]}  # fmt: skip
    common = {"max_epochs": 2, "early_stopping": 5, "lr_patience": 5, "lr_factor": 0.5,
              "val_fraction": 0.1, "device": "cpu"}  # fmt: skip
    sanity.run(
        expression=tmp_path / "expr.parquet", samples=tmp_path / "samples.parquet",
        genes=tmp_path / "genes.parquet", references={}, model=paths[0], arch="mlp",
        arch_config=arch_config, common=common, explainers=["Saliency"],
        setting={"repeats": 1}, explain_config={**EXPLAIN_CONFIG, "device": "cpu"},
        config={"epochs": 2, "top_k": 5}, seed=1, out=tmp_path / "sanity.parquet",
    )  # fmt: skip
    assert chosen and set(chosen) == {"cpu"}  # the trained model's and the permuted model's
    cpu = torch.device("cpu")
    assert len(computed) == 1 + 2 * 2 + 1  # trained, 2 layers x 2 randomisations, labels
    assert all(c == ("txai.fast", cpu, cpu) for c in computed)
    table = io.read_table(tmp_path / "sanity.parquet")
    assert len(table) == 5 and np.isfinite(table["rho"]).all()
