import copy

import pytest
import yaml
from conftest import REPO, TINY

from txai.config import check, key_path
from txai.io import InputError

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def load(path):
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", [REPO / "config" / "config.yaml", TINY])
def test_shipped_configs_are_valid(path):
    check(load(path), SCHEMA)


def test_key_path():
    assert key_path(["explain", "explainers", 5]) == "explain.explainers[5]"
    assert key_path(["seed"]) == "seed"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["explain"]["explainers"].append("Occlusion"), r"'explain\.explainers\[\d+\]'"),
        (lambda c: c.update(bogus=1), r"'bogus' was unexpected"),
        (lambda c: c["references"].update(pool_size="many"), r"'references\.pool_size'"),
        (lambda c: c["references"].update(types=["zero", "mean"]), r"'references\.types\[1\]'"),
        (lambda c: c["data"].update(test_fraction=0.9), r"'data\.test_fraction'"),
        (lambda c: c["cohort"].update(source="files"), r"'cohort'.*'files' is a required"),
        (
            lambda c: c["cohort"].update(source="files", files={}),
            r"'cohort'.*'size' is a required",
        ),
        (lambda c: c["cohort"].update(source="toil"), r"'cohort'.*'toil' is a required"),
        (
            lambda c: c["cohort"].update(size={"samples": 10, "genes": 5}),
            r"'cohort\.size'.*'classes' is a required",
        ),
        (lambda c: c["cohort"]["demo"].update(genes=10), r"'cohort\.demo\.genes'"),
    ],
)
def test_bad_config_names_the_key(edit, message):
    config = copy.deepcopy(load(REPO / "config" / "config.yaml"))
    edit(config)
    with pytest.raises(InputError, match=message):
        check(config, SCHEMA)
