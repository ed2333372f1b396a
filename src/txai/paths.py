"""The path contract of per-explainer results: built and read here only.

An attribution file and an aggregate file are named by what they hold:
`results/attributions/{arch}/{explainer}/{setting}/{model}.parquet` and
`results/aggregate/{arch}/{explainer}/{setting}/{name}.parquet` (name: mean or top). The rules
write them by these templates and the stages that read them learn (arch, explainer, setting,
model or name) from `parse`, never from a path's position.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

ATTRIBUTION = "results/attributions/{arch}/{explainer}/{setting}/{model}.parquet"
AGGREGATE = "results/aggregate/{arch}/{explainer}/{setting}/{name}.parquet"
_PARSED = re.compile(
    r"(?:^|/)(?:attributions|aggregate)/(?P<arch>[^/]+)/(?P<explainer>[^/]+)/(?P<setting>[^/]+)"
    r"/(?P<name>[^/]+)\.parquet$"
)


class Scores(NamedTuple):
    """What a result file holds: one architecture's explainer in one setting, for one model
    (attributions) or over models (aggregate: `mean`, `top`)."""

    arch: str
    explainer: str
    setting: str
    name: str


def attribution(arch: str, explainer: str, setting: str, model: str) -> str:
    return ATTRIBUTION.format(arch=arch, explainer=explainer, setting=setting, model=model)


def aggregate(arch: str, explainer: str, setting: str, name: str) -> str:
    return AGGREGATE.format(arch=arch, explainer=explainer, setting=setting, name=name)


def parse(path) -> Scores:
    """(arch, explainer, setting, model or name) of an attribution or aggregate file."""
    found = _PARSED.search(Path(path).as_posix())
    if found is None:
        raise ValueError(
            f"{path}: not an attribution or aggregate file; expected {ATTRIBUTION} or {AGGREGATE}"
        )
    return Scores(**found.groupdict())
