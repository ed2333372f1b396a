"""The job plan, from the config alone: which jobs run and which files each reads.

The rules (workflow/rules/*.smk) and the cost model (`txai.scale`) both take the plan from here,
so what Snakemake runs and what the cost model prices cannot drift apart: the cohort's input
files and how the data stage reads them (per `cohort.source`), the explainers per architecture,
the explain settings (the config's and the curves'), the batches of models, the explain jobs the
workflow asks for, and the reference pools each needs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from txai import cohort, curves, data, paths, sources
from txai.config import (
    check_combinations,
    check_ensemble,
    explainers_by_arch,
    model_ids,
    setting_for,
)
from txai.io import InputError

ARCHS = ("mlp", "cnn")
DEMO = {
    "expression": "results/cohort/counts.parquet",
    "samples": "results/cohort/samples.tsv",
    "genes": "results/cohort/genes.parquet",
    "genesets": "results/cohort/genesets.gmt",
}
BUILT = {  # a downloaded cohort as `sources` builds it, read once by the data stage
    "expression": "results/source/expression.parquet",
    "samples": "results/source/samples.tsv",
    "genes": "results/source/genes.parquet",
}
PAPER = {"samples": 27_417, "genes": 19_241, "classes": 82}  # a GTEx + TCGA size not declared
FILES = ("expression", "samples", "genes", "gtf", "genesets")  # a user cohort's (cohort.files)
READ = ("scale", "pseudocount", "genes_in", "protein_coding_only")  # and how they are read


def check_inputs(config: dict, sample_schema) -> None:
    """What can be checked before any job runs, after the schema, from the config and small
    files only: the combinations the figures name, the models and counts the config names
    (`check_ensemble`), a user cohort's sample sheet and its class sizes, and the focus tissues
    (`focus`)."""
    check_combinations(config)
    check_ensemble(config)
    if config["cohort"]["source"] == "files":
        path = config["cohort"]["files"]["samples"]
        sheet = data.read_sample_sheet(path, sample_schema)
        data.check_class_sizes(sheet, config["data"]["min_class_size"], path)
    focus(config)


class Focus(NamedTuple):
    """The tissues explained and compared, and each one's classes by status
    ({"normal": n, "cancer": n, "any": n})."""

    tissues: list[str]
    classes: dict[str, dict[str, int]]

    @property
    def paired(self) -> list[str]:
        """The focus tissues with a normal and a cancer class: those compared normal vs cancer
        (the differential stage, Figure 5 and the DE flags)."""
        return [t for t in self.tissues if self.classes[t]["normal"] and self.classes[t]["cancer"]]


def focus(config: dict) -> Focus:
    """The focus tissues: those `focus_tissues` names, or every tissue of the cohort
    (alphabetical) when it names none; a named tissue the cohort lacks is refused."""
    found, where = cohort_tissues(config)
    tissues = config.get("focus_tissues") or list(found)
    data.check_focus(tissues, found, where)
    return Focus(tissues, {t: found[t] for t in tissues})


def cohort_tissues(config: dict) -> tuple[dict[str, dict[str, int]], str]:
    """Every tissue of the cohort with its classes by status (`data.tissue_classes`), and where
    they were found: the demo's from cohort.demo, a built source's from GTEx v8 and the TCGA
    projects it takes (`sources.tissues`), a user's from the sample sheet."""
    cohort = config["cohort"]
    source = cohort["source"]
    if source == "files":
        sheet = Path(cohort["files"]["samples"])
        stamp = (sheet.stat().st_mtime_ns, sheet.stat().st_size) if sheet.exists() else None
        return _sheet_tissues(str(sheet), stamp), f"the tissue column of {sheet}"
    if source == "demo":
        demo = cohort["demo"]
        pairs = {t: (1, 0) for t in demo["normal_only_tissues"]}
        pairs |= {t: (1, 1) for t in demo["tissues_with_cancer"]}
        where = "the demo cohort (cohort.demo)"
    else:
        pairs = sources.tissues(cohort[source].get("tcga_projects"))
        where = f"GTEx v8 and the TCGA projects of cohort.{source}"
    found = {t: {"normal": n, "cancer": c, "any": n + c} for t, (n, c) in sorted(pairs.items())}
    return found, where


@functools.cache
def _sheet_tissues(path: str, stamp: tuple[int, int] | None) -> dict[str, dict[str, int]]:
    """The sample sheet's tissues (`data.tissue_classes`), read once per version of the file
    (`stamp`: its mtime and size): the cost model asks often."""
    return data.tissue_classes(data.read_sheet(path))


class Cohort(NamedTuple):
    """The data stage's input files (`FILES` keys) and how it reads them (`txai.data.run`):
    the declared scale and layout, and `origin`, which names where the scale was declared."""

    files: dict[str, str]
    read: dict


def cohort_inputs(config: dict) -> Cohort:
    """The cohort of the config: the generated demo, one built from downloads, or the user's."""
    source = config["cohort"]["source"]
    if source == "files":
        files = config["cohort"]["files"]
        read = {key: files[key] for key in READ}
        return Cohort({k: files[k] for k in FILES if files.get(k)}, {**read, "origin": None})
    built = {"demo": (DEMO, cohort.READ), **{s: (BUILT, sources.READ[s]) for s in sources.READ}}
    files, read = built[source]
    return Cohort(files, {**read, "origin": f"cohort.source: {source}"})


def declared_size(config: dict) -> tuple[dict, str] | None:
    """The cohort size the config declares and the key it is declared under: a toil or portal
    section's own `size`, else `cohort.size`, else the paper's; None for the demo, whose size
    follows from `cohort.demo`."""
    cohort = config["cohort"]
    source = cohort["source"]
    if source == "demo":
        return None
    if "size" in cohort.get(source, {}):
        return cohort[source]["size"], f"cohort.{source}.size"
    if "size" in cohort:
        return cohort["size"], "cohort.size"
    return PAPER, f"cohort.{source}.size"  # not set: the paper's


def label(config: dict) -> str:
    """The cohort's name in tables, figures and the report: a toil or portal section's own
    `name`, else `cohort.name`."""
    cohort = config["cohort"]
    return cohort.get(cohort["source"], {}).get("name", cohort["name"])


def source_files(config: dict) -> dict[str, tuple[str, dict | None]]:
    """{input name: (path, download spec or None)} of a toil or portal cohort's files; a
    per-project entry (tcga_*) is filled in for each of `tcga_projects`."""
    source = config["cohort"]["source"]
    if source not in sources.READ:
        return {}
    section, out = config["cohort"][source], {}
    for key, spec in section.items():
        if key in ("name", "size", "tcga_projects") or not isinstance(spec, dict):
            continue
        for project in section["tcga_projects"] if key.startswith("tcga_") else [None]:
            name = f"{source}_{key}" + (f"_{project}" if project else "")
            entry = spec
            if project:
                fill = {"project": project, "suffix": project[-2:]}
                entry = {k: spec[k].format(**fill) for k in ("path", "url") if k in spec}
                entry["sha256"] = spec.get("sha256", {}).get(project)
            where = entry["path"] if "path" in entry else f"results/downloads/{name}"
            out[name] = (where, None if "path" in entry else entry)
    return out


def tcga_projects(config: dict) -> list[str]:
    """The TCGA projects a toil or portal cohort takes (none for the others)."""
    return config["cohort"].get(config["cohort"]["source"], {}).get("tcga_projects", [])


def resource(config: dict, section: str, key: str) -> str | None:
    """An annotation file: its configured path, or where the download rule puts its URL."""
    spec = config[section].get(key)
    if spec is None:
        return None
    return spec["path"] if "path" in spec else f"results/downloads/{key}"


def downloads(config: dict) -> dict[str, dict]:
    """{name: download spec} of every file the config gives as a URL."""
    out = {
        key: spec
        for section in ("annotate", "differential")
        for key, spec in config[section].items()
        if isinstance(spec, dict) and "url" in spec
    }
    return out | {name: spec for name, (_, spec) in source_files(config).items() if spec}


def annotation_files(config: dict) -> dict[str, str]:
    """The TF, TF cofactor and GO files in use (the demo: its planted TF list)."""
    keys = ("tf", "tf_cofactor", "go_obo", "go_gaf")
    files = {key: resource(config, "annotate", key) for key in keys}
    if files["tf"] is None and config["cohort"]["source"] == "demo":
        files["tf"] = "results/cohort/tfs.tsv"
    return {key: path for key, path in files.items() if path}


def settings(config: dict) -> dict[str, dict]:
    """Every explain setting of the run, {name: {arch: setting}}: the config's, then the
    curves' own (`txai.curves.settings`)."""
    return {**config["explain"]["settings"], **curves.settings(config["simulate"])}


class Cost(NamedTuple):
    """The cost model's prices of a job (`txai.scale.COST`; passed in, as txai.scale imports
    this module): compute seconds and the runtime request in minutes, both called as
    (config, stage, arch=..., ...)."""

    seconds: Callable[..., float]
    runtime: Callable[..., int]


def train_batches(config: dict, arch: str, cost: Cost | None = None) -> dict[str, list[str]]:
    """The models of each training job of an architecture, named by their first and last model
    (m01, or m01_m60): consecutive models packed while their compute estimated by the cost
    model stays within `hpc.pack_minutes`; one model a job without `cost` or with 0."""
    ids = model_ids(config["train"][arch])
    limit = 60 * config["hpc"]["pack_minutes"]
    each = cost.seconds(config, "train", arch=arch) if cost is not None and limit else math.inf
    out: list[list[str]] = []
    for model in ids:
        if out and (len(out[-1]) + 1) * each <= limit:
            out[-1].append(model)
        else:
            out.append([model])
    return {batch[0] if len(batch) == 1 else f"{batch[0]}_{batch[-1]}": batch for batch in out}


def batches(config: dict, arch: str, cost: Cost | None = None) -> dict[str, list[str]]:
    """The models of each explain rule of an architecture: batches b01, b02, ... of up to
    `explain.models_per_job` models (0: no limit), then `curves`, the first `simulate.models`,
    which the curve settings explain. With the cost model (`cost`), each batch is as many
    models as fit in `hpc.max_runtime` (a replicate model costs its replicates)."""
    ids = model_ids(config["train"][arch])
    most, limit = config["explain"]["models_per_job"] or len(ids), config["hpc"]["max_runtime"]
    specs = [(e, setting[arch]) for setting in config["explain"]["settings"].values()
             for e in explainers_by_arch(config)[arch]]  # fmt: skip

    def minutes(models: list[str]) -> int:
        if cost is None:
            return 0
        return max(cost.runtime(config, "explain", arch=arch, explainer=e, setting=s,
                                models=models) for e, s in specs)  # fmt: skip

    out: list[list[str]] = []
    for model in ids:
        if out and len(out[-1]) < most and minutes([*out[-1], model]) <= limit:
            out[-1].append(model)
        elif minutes([model]) > limit:
            raise InputError(
                f"config: explaining {arch} model {model} alone is estimated at {minutes([model])} "
                f"minutes, more than hpc.max_runtime = {limit}: lower the "
                "explain settings' repeats, references or replicates, or raise hpc.max_runtime "
                "if your GPU partition allows longer jobs."
            )
        else:
            out.append([model])
    return {f"b{i:02d}": batch for i, batch in enumerate(out, 1)} | {
        "curves": ids[: config["simulate"]["models"]]
    }


class Job(NamedTuple):
    """One explainer in a setting (its name and this architecture's dict) for the models of
    one batch: what the cost model prices and one output file per model."""

    batch: str
    explainer: str
    setting: str
    spec: dict
    models: list[str]


def explain_jobs(config: dict, arch: str, cost: Cost | None = None) -> list[Job]:
    """Every explainer, setting and batch the workflow explains for an architecture: each
    explainer in each of the config's settings for each batch (`batches`, sized by `cost`), and
    the curve settings the curves read."""
    explainers = explainers_by_arch(config)[arch]
    wanted = {(s, e) for _, _, s, e in curves.sources(config["simulate"], arch, explainers)}
    models = batches(config, arch, cost)
    jobs = []
    for name, setting in settings(config).items():
        for explainer in explainers:
            if name in config["explain"]["settings"]:
                for batch, ids in models.items():
                    if batch != "curves":
                        jobs.append(Job(batch, explainer, name, setting[arch], ids))
            elif (name, explainer) in wanted:
                jobs.append(Job("curves", explainer, name, setting[arch], models["curves"]))
    return jobs


def explain_packs(config: dict, arch: str, cost: Cost | None = None) -> dict[str, list[Job]]:
    """The explain jobs Snakemake runs, by rule name suffix ({batch}_{setting}_{n}): the `Job`s
    of one batch and setting, in explainer order, packed while their compute estimated by the
    cost model stays within `hpc.pack_minutes`, so job start-up does not dominate; one
    explainer a job without `cost` or with pack_minutes 0."""
    limit = 60 * config["hpc"]["pack_minutes"]
    packs: dict[tuple[str, str], list[tuple[list[Job], float]]] = {}
    for job in explain_jobs(config, arch, cost):
        seconds = math.inf
        if cost is not None and limit:
            seconds = cost.seconds(config, "explain", arch=arch, explainer=job.explainer,
                                   setting=job.spec, models=job.models)  # fmt: skip
        group = packs.setdefault((job.batch, job.setting), [])
        if group and group[-1][1] + seconds <= limit:
            group[-1] = (group[-1][0] + [job], group[-1][1] + seconds)
        else:
            group.append(([job], seconds))
    return {
        f"{batch}_{setting}_{n}": pack
        for (batch, setting), group in packs.items()
        for n, (pack, _) in enumerate(group, 1)
    }


def attribution_files(jobs: list[Job], arch: str) -> list[str]:
    """The attribution files the jobs write, one per model."""
    return [paths.attribution(arch, j.explainer, j.setting, m) for j in jobs for m in j.models]


def references(spec: dict, explainers: list[str]) -> list[str]:
    """The reference pools (types) a setting needs for some explainers, sorted."""
    kinds = {setting_for(spec, e).get("references", {}).get("type") for e in explainers}
    return sorted(kinds - {None})


def explain_common(config: dict) -> dict:
    """The explain section as every attribution job reads it, with the focus tissues (`focus`)
    and the device (train.device: attribution runs where training does)."""
    drop = ("explainers", "settings")
    return {k: v for k, v in config["explain"].items() if k not in drop} | {
        "focus_tissues": focus(config).tissues,
        "device": config["train"]["device"],
    }


def train_common(config: dict) -> dict:
    """The train section without the per-architecture blocks."""
    return {k: v for k, v in config["train"].items() if k not in ARCHS}


def optimised_scores(config: dict) -> dict[str, list[str]]:
    """Every explainer's aggregated (mean over models) and single-model (m01) optimised
    scores: the combinations of Figure 4, the annotation and the scorecard."""
    run = explainers_by_arch(config)
    return {
        "means": [paths.aggregate(a, e, "optimised", "mean") for a in ARCHS for e in run[a]],
        "singles": [paths.attribution(a, e, "optimised", "m01") for a in ARCHS for e in run[a]],
    }
