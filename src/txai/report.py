"""The tables of the HTML report (`snakemake --report`).

The report shows TSV tables as they are, so the Parquet results it quotes are written here as
small TSV summaries: model accuracy, cross-validation per class, the sanity verdicts and the
run's config.
"""

from __future__ import annotations

import logging

import pandas as pd
import yaml

from txai import io

log = logging.getLogger(__name__)

MODEL_COLUMNS = ["arch", "model", "test_accuracy", "best_val_loss", "epochs_run", "best_epoch",
                 "lr", "weight_decay", "batch_size", "order", "seed"]  # fmt: skip


def tables(*, metrics: dict, crossval: dict, sanity, config: dict, out: dict) -> None:
    """Write `report/{models,crossval,sanity}.tsv` and `report/config.yaml`.

    `metrics`, `crossval`: {arch: path}; `sanity`: `sanity/sanity.parquet`; `out`: {name: path}.
    """
    models = pd.concat(
        [io.read_table(path).assign(arch=arch) for arch, path in metrics.items()],
        ignore_index=True,
    )
    io.write_text(models[MODEL_COLUMNS].to_csv(sep="\t", index=False), out["models"])
    per_class = pd.concat(
        [io.read_table(path).assign(arch=arch) for arch, path in crossval.items()],
        ignore_index=True,
    )
    per_class = per_class[["arch", *[c for c in per_class.columns if c != "arch"]]]
    io.write_text(per_class.to_csv(sep="\t", index=False, float_format="%.4f"), out["crossval"])
    io.write_text(verdicts(io.read_table(sanity)).to_csv(sep="\t", index=False), out["sanity"])
    io.write_text(yaml.safe_dump(config, sort_keys=False), out["config"])
    log.info(
        "%d models, median test accuracy %s",
        len(models),
        models.groupby("arch")["test_accuracy"].median().round(4).to_dict(),
    )


def verdicts(sanity: pd.DataFrame) -> pd.DataFrame:
    """One row per (arch, explainer): rho with every layer randomised, with permuted labels,
    and whether the explainer passes."""
    cascade = sanity[sanity["randomisation"] == "cascading"]
    full = cascade.loc[cascade.groupby(["arch", "explainer"], sort=False)["step"].idxmax()]
    labels = sanity[sanity["randomisation"] == "labels"]
    table = full[["arch", "explainer", "rho", "passes"]].rename(columns={"rho": "rho_all_layers"})
    table = table.merge(
        labels[["arch", "explainer", "rho"]].rename(columns={"rho": "rho_permuted_labels"}),
        on=["arch", "explainer"],
    )
    return table[["arch", "explainer", "rho_all_layers", "rho_permuted_labels", "passes"]].round(4)
