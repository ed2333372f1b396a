"""The library's modules in layers, imports pointing one way (docs/architecture.md, Layers).

Each module of src/txai belongs to one layer; a module may import from its own layer or the
layers below it, never from a layer above, and the imports between modules form no cycle.
Imports inside functions count like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "txai"

LAYERS = [  # bottom first
    ("foundation", set("__init__ io stats paths".split())),
    ("descriptions", set("explainers config models budget".split())),
    ("draws", {"draws"}),
    ("backends", set("backend captum_backend fast fast_cnn".split())),
    ("stages", set("cohort sources download data references train explain sanity aggregate "
                   "reproducibility curves annotate differential plan scale".split())),
    ("presentation", set("figures repro_figures bio_figures scorecard report gallery "
                         "workflow resources rehearsal".split())),
]  # fmt: skip


def imports(path: Path, modules: set[str]) -> set[str]:
    """The txai modules a source file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("txai.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("txai"):
            if node.module == "txai":  # a module, or a name of the package itself
                found |= {a.name if a.name in modules else "__init__" for a in node.names}
            else:
                found.add(node.module.split(".")[1])
    return found


def graph() -> dict[str, set[str]]:
    modules = {p.stem for p in SRC.glob("*.py")}
    return {m: imports(SRC / f"{m}.py", modules) - {m} for m in modules}


def upward(edges: dict[str, set[str]], layers: list) -> list[tuple[str, str]]:
    """(importer, imported) pairs where the imported module sits in a higher layer."""
    level = {m: i for i, (_, members) in enumerate(layers) for m in members}
    return sorted((a, b) for a, bs in edges.items() for b in bs if level[b] > level[a])


def cycle(edges: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path of modules (first = last), or [] when there is none."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return []

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_every_module_has_a_layer():
    placed = [m for _, members in LAYERS for m in members]
    assert len(placed) == len(set(placed))
    assert set(graph()) == set(placed)


def test_no_module_imports_from_a_higher_layer():
    assert upward(graph(), LAYERS) == []


def test_the_imports_form_no_cycle():
    assert cycle(graph()) == []


def test_the_checks_find_a_cycle_and_an_upward_import():
    edges = {"io": {"explain"}, "explain": {"draws"}, "draws": {"io"}, "fast": set()}
    layers = [("low", {"io", "draws"}), ("high", {"explain", "fast"})]
    assert cycle(edges) == ["draws", "io", "explain", "draws"]
    assert upward(edges, layers) == [("io", "explain")]
    assert cycle({"a": {"b"}, "b": set()}) == []


def test_imports_are_read_from_every_form_and_place(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "import txai.io\nfrom txai import draws, __version__\nfrom txai.fast import serves\n"
        "def f():\n    from txai import explain\n"
    )
    found = imports(source, {"io", "draws", "fast", "explain"})
    assert found == {"io", "draws", "__init__", "fast", "explain"}
