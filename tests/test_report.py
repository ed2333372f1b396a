"""The report's tables and the README gallery (txai.report)."""

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from txai import gallery, io, report


def sanity_table():
    rows = []
    for explainer, rhos, label_rho in (
        ("Saliency", [0.4, 0.1], 0.05),
        ("DeepLift", [0.7, 0.6], 0.5),
    ):
        for step, rho in enumerate(rhos, start=1):
            rows.append(
                ("mlp", explainer, "cascading", f"layer{step}", step, rho, explainer == "Saliency")
            )
        rows.append(("mlp", explainer, "independent", "layer1", 1, 0.9, explainer == "Saliency"))
        rows.append(
            ("mlp", explainer, "labels", "permuted labels", 1, label_rho, explainer == "Saliency")
        )
    columns = ["arch", "explainer", "randomisation", "layer", "step", "rho", "passes"]
    return pd.DataFrame(rows, columns=columns)


def test_verdicts_take_the_last_cascading_step_and_the_labels():
    table = report.verdicts(sanity_table())
    assert table.to_dict("list") == {
        "arch": ["mlp", "mlp"],
        "explainer": ["Saliency", "DeepLift"],
        "rho_all_layers": [0.1, 0.6],
        "rho_permuted_labels": [0.05, 0.5],
        "passes": [True, False],
    }


def test_tables_write_tsv_and_config(tmp_path):
    metrics = pd.DataFrame(
        {"model": ["m01", "m02"], "order": [None, None], "seed": [1, 2],
         "test_accuracy": [0.97, 0.99], "best_val_loss": [0.1, 0.2], "best_val_accuracy": [1, 1],
         "epochs_run": [30, 28], "best_epoch": [25, 20], "lr": [1e-3, 8e-4],
         "weight_decay": [1e-3, 1e-3], "batch_size": [256, 256]}
    )  # fmt: skip
    crossval = pd.DataFrame({"class": ["a", "b"], "precision": [1.0, 0.5], "recall": [0.5, 1.0]})
    io.write_table(metrics, tmp_path / "metrics.parquet")
    io.write_table(crossval, tmp_path / "crossval.parquet")
    io.write_table(sanity_table(), tmp_path / "sanity.parquet")
    out = {name: tmp_path / f"{name}.tsv" for name in ("models", "crossval", "sanity")}
    out["config"] = tmp_path / "config.yaml"
    report.tables(
        metrics={"mlp": tmp_path / "metrics.parquet"},
        crossval={"mlp": tmp_path / "crossval.parquet"},
        sanity=tmp_path / "sanity.parquet",
        config={"seed": 5, "train": {"mlp": {"models": 2}}},
        out=out,
    )
    models = pd.read_csv(out["models"], sep="\t")
    assert list(models.columns[:3]) == ["arch", "model", "test_accuracy"]
    assert models["test_accuracy"].tolist() == [0.97, 0.99]
    assert pd.read_csv(out["crossval"], sep="\t")["arch"].tolist() == ["mlp", "mlp"]
    assert pd.read_csv(out["sanity"], sep="\t")["passes"].tolist() == [True, False]
    assert yaml.safe_load(out["config"].read_text()) == {"seed": 5, "train": {"mlp": {"models": 2}}}


def test_gallery_shrinks_wide_figures_and_keeps_small_ones(tmp_path):
    Image.fromarray(np.zeros((600, 2400, 3), dtype=np.uint8)).save(tmp_path / "wide.png")
    Image.fromarray(np.zeros((100, 300, 3), dtype=np.uint8)).save(tmp_path / "small.png")
    written = gallery.gallery([tmp_path / "wide.png", tmp_path / "small.png"], tmp_path / "g")
    assert [Image.open(p).size for p in written] == [(900, 225), (300, 100)]
