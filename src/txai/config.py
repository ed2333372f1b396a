"""Configuration checks that name the offending key before any job runs."""

from __future__ import annotations

import math
from pathlib import Path

import jsonschema
import yaml

from txai.explainers import TABLE
from txai.io import InputError


def key_path(parts) -> str:
    """['explain', 'explainers', 5] -> 'explain.explainers[5]'."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".")


def check(config: dict, schema_path) -> None:
    """Validate `config` against the JSON schema, then its explainer names against the table
    of explainers; the error names the key and what it allows."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(config)
    )
    if error is not None:
        where = f"config key '{key_path(error.absolute_path)}'" if error.absolute_path else "config"
        raise InputError(f"{where}: {error.message}. config/README.md explains every key.")
    named = [(["explain", "explainers", i], name)
             for i, name in enumerate(config["explain"]["explainers"])]  # fmt: skip
    for setting, by_arch in config["explain"]["settings"].items():
        for arch, strategy in by_arch.items():
            where = ["explain", "settings", setting, arch, "overrides"]
            named += [(where, name) for name in strategy.get("overrides", {})]
    for where, name in named:
        if name not in TABLE:
            raise InputError(
                f"config key '{key_path(where)}': {name!r} is not one of {list(TABLE)}. "
                "config/README.md explains every key."
            )


def explainers_by_arch(config: dict) -> dict[str, list[str]]:
    """The explainers run on each architecture: all on the CNN, all but the convolutional ones
    (Grad-CAM) on the MLP."""
    run = config["explain"]["explainers"]
    return {"mlp": [e for e in run if not TABLE[e].convolutional], "cnn": list(run)}


def check_combinations(config: dict) -> None:
    """Every combination a figure names must be an explainer the config runs on that
    architecture, or the run would end with an empty panel."""
    explainers = explainers_by_arch(config)
    keys = [("annotate", "representatives"), ("differential", "split_combinations"),
            ("differential", "shared_combination")]  # fmt: skip
    for section, key in keys:
        named = config[section][key]
        for combination in [named] if isinstance(named, str) else named:
            arch, explainer = combination.split(" ")
            arch = arch.split("-")[0]  # MLP-Agg -> MLP
            if explainer not in explainers[arch.lower()]:
                raise InputError(
                    f"config key '{section}.{key}': {combination!r} names {explainer}, which "
                    f"explain.explainers does not run on the {arch}; name one of "
                    f"{explainers[arch.lower()]}."
                )


def check_ensemble(config: dict) -> None:
    """The models and model counts the config names exist in the ensembles it trains, or a
    figure would lack its rows: replicated models, the models of an inter-model comparison
    (the first of each family: MLPs, CNNs sharing an order, CNNs with their own), two disjoint
    sets of aggregated models, and the models of the estimate and aggregation curves."""
    train = config["train"]
    mlp, cnn = train["mlp"]["models"], train["cnn"]["models"]
    same_order = train["cnn"].get("same_order_models", 0)
    trained = set(model_ids(train["mlp"])) | set(model_ids(train["cnn"]))
    absent = [m for m in config["explain"]["replicate_models"] if m not in trained]
    if absent:
        held = f"the MLPs m01..m{mlp:02d}, the CNNs m01..m{cnn:02d}" + (
            f" and s01..s{same_order:02d}" if same_order else ""
        )
        raise InputError(
            f"config key 'explain.replicate_models': {absent} name no trained model; the "
            f"ensembles hold {held} (train.mlp.models, train.cnn.models, "
            "train.cnn.same_order_models). Name trained models."
        )
    own = {"train.mlp.models": mlp, "train.cnn.models": cnn}
    families = own | ({"train.cnn.same_order_models": same_order} if same_order else {})
    aggregate = config["reproducibility"]["aggregate_models"]
    counts = [
        ("reproducibility.inter_models", config["reproducibility"]["inter_models"], families, ""),
        ("reproducibility.aggregate_models", 2 * aggregate, own,
         f" ({aggregate} a set, two disjoint sets)"),
        ("simulate.models", config["simulate"]["models"], own, ""),
        ("simulate.max_models", config["simulate"]["max_models"], own, ""),
    ]  # fmt: skip
    for key, needed, sizes, why in counts:
        short = {k: n for k, n in sizes.items() if n < needed}
        if short:
            have, n = next(iter(short.items()))
            raise InputError(
                f"config key '{key}': asks for {needed} models{why}, but {have} is {n}. Lower "
                f"{key} or train more models."
            )


def model_ids(arch_config: dict) -> list[str]:
    """Model names of one architecture: m01..mNN, then s01..sKK for the same-order CNN set."""
    ids = [f"m{i:02d}" for i in range(1, arch_config["models"] + 1)]
    return ids + [f"s{i:02d}" for i in range(1, arch_config.get("same_order_models", 0) + 1)]


def grid_side(n_genes: int, multiple: int = 8) -> int:
    """The CNN's square gene grid side: ceil(sqrt(G)) rounded up to a multiple (144 for 19,241)."""
    return math.ceil(math.ceil(math.sqrt(n_genes)) / multiple) * multiple


def setting_for(setting: dict, explainer: str) -> dict:
    """A setting's strategies for one explainer: its defaults, then its per-explainer overrides."""
    merged = {k: v for k, v in setting.items() if k != "overrides"}
    merged.update(setting.get("overrides", {}).get(explainer, {}))
    if not TABLE[explainer].references:
        merged.pop("references", None)
    return merged
