"""Lint of the conda environments (`--sdm conda` is not run in CI: no conda channel there).

Each rule's environment must provide every third-party module its script imports, directly or
through txai's own modules, and each environment must be pinned the same way.
"""

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

ENVS = REPO / "envs"
# import name -> conda-forge package, where they differ
PACKAGE = {"torch": "pytorch", "yaml": "pyyaml", "matplotlib": "matplotlib-base"}
INJECTED = {"snakemake"}  # Snakemake puts its own package on the script's path


def rule_envs() -> dict[str, str]:
    """{script file name: environment file name} from every rule of workflow/rules."""
    pairs = {}
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"^\s*rule\b", smk.read_text(), flags=re.M)[1:]:
            script = re.search(r'script:\s*"\.\./scripts/([\w.]+)"', block)
            conda = re.search(r'conda:\s*"\.\./\.\./envs/([\w.]+)"', block)
            if script:
                assert conda, f"{smk.name}: the rule running {script.group(1)} has no conda env"
                pairs[script.group(1)] = conda.group(1)
    return pairs


def imports(path, seen=None) -> set[str]:
    """Top-level third-party modules imported by a file and the txai modules it imports."""
    seen = set() if seen is None else seen
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "txai":
                found.add(parts[0])
                continue
            module = REPO / "src" / Path(*parts).with_suffix(".py")
            if module.exists() and module not in seen:
                seen.add(module)
                found |= imports(module, seen)
    return found - set(sys.stdlib_module_names) - INJECTED - {"txai"}


def packages(env: dict) -> set[str]:
    out = set()
    for dep in env["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else [dep]:
            out.add(re.split(r"[ <>=!]", item, maxsplit=1)[0].lower())
    return out


@pytest.mark.parametrize("env_file", sorted(p.name for p in ENVS.glob("*.yaml")))
def test_environment_is_pinned_to_conda_forge(env_file):
    env = yaml.safe_load((ENVS / env_file).read_text())
    assert env["channels"] == ["conda-forge", "nodefaults"]
    deps = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python =3.11" in deps
    for dep in [*deps, *[p for d in env["dependencies"] if isinstance(d, dict) for p in d["pip"]]]:
        assert dep == "pip" or re.search(r"[<>=]", dep), f"{env_file}: {dep} has no version bound"


def test_every_rule_environment_provides_its_imports():
    pairs = rule_envs()
    assert len(pairs) >= 15
    for script, env_file in sorted(pairs.items()):
        needed = imports(REPO / "workflow" / "scripts" / script)
        have = packages(yaml.safe_load((ENVS / env_file).read_text()))
        missing = {PACKAGE.get(m, m) for m in needed} - have
        assert not missing, f"{script} runs in envs/{env_file}, which lacks {sorted(missing)}"


def test_the_lint_sees_a_missing_package(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import numpy\nfrom txai import differential\n")
    assert {"numpy", "scipy", "pandas"} <= imports(script)
