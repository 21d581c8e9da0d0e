"""The house rules, enforced: imports run one way (edges → training, the lab, io → the fast engine
→ the textbook core → numpy), without cycles; the engine is reached only from training (and the
package's re-exported controls); ``import relunet`` stays light; no function runs past ~80 lines
without saying why; no code comment quotes a timing (numbers live in docs/benchmarks.md)."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "relunet"

CORE = {"_validation", "_memory", "activations", "costs", "initializers", "network", "optimizers", "schedules",
        "stopping"}
EDGES = {"", "sklearn", "cli", "export", "__main__"}  # "" is the package itself, re-exporting for users; plotting serves the lab


def _name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in SRC.rglob("*.py")}


def _imports(module: str, top_level_only: bool) -> set[str]:
    """The relunet modules ``module`` imports (at its top level, or anywhere in it)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:  # `from pkg import submodule` depends on the submodule only
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != module}


def _room(module: str) -> str:
    inner = module.removeprefix("relunet").removeprefix(".")
    head = inner.split(".")[0]
    if head in CORE:
        return "core"
    if head == "_fast":
        return "engine"
    if head in EDGES:
        return "edge"
    return "middle"  # training, the lab (gradflow), io, gradcheck, datasets


ALLOWED = {
    "core": {"core"},
    "engine": {"core", "engine"},
    "middle": {"core", "engine", "middle"},
    "edge": {"core", "engine", "middle", "edge"},
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_one_way(module):
    room = _room(module)
    for dep in _imports(module, top_level_only=False):
        assert _room(dep) in ALLOWED[room], f"{module} ({room}) imports {dep} ({_room(dep)})"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_engine_is_reached_only_from_training(module):
    if _room(module) == "engine" or module.startswith("relunet.training") or module == "relunet":
        return
    engine = {dep for dep in _imports(module, top_level_only=False) if _room(dep) == "engine"}
    assert not engine, f"{module} imports the fast engine ({sorted(engine)}); only training runs it"


def test_there_is_no_import_cycle():
    graph = {m: _imports(m, top_level_only=True) for m in MODULES}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for dep in sorted(graph[m]):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " → ".join(path[path.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_import_relunet_loads_neither_the_lab_nor_heavy_libraries():
    code = ("import sys, relunet; heavy = ('matplotlib', 'sklearn', 'scipy', 'relunet.gradflow', 'relunet._fast', 'torch');"
            "print([m for m in heavy if m in sys.modules]); relunet.gradflow; print('relunet.gradflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    loaded = out[0]
    assert loaded == "['relunet._fast']" or loaded == "[]", out  # the engine's controls are re-exported
    assert out[1] == "True"  # and the lab arrives on first use


def _functions():
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield module, node


def test_no_function_runs_past_80_lines_without_saying_why():
    long = []
    for module, node in _functions():
        doc = ast.get_docstring(node) or ""
        body = node.body[1:] if doc else node.body
        if body and node.end_lineno - body[0].lineno + 1 > 80 and "Long on purpose" not in doc:
            long.append(f"{module}.{node.name}")
    assert not long, f"over 80 lines without a reason in the docstring: {long}"


TIMING = re.compile(r"\d[\d.,]*\s*(ms|µs|us|ns|s|×|MB|GB|kB|GFLOP/s)(\b|\s|$)|\d\s*%|\b(slower|faster)\b", re.I)


def test_no_comment_quotes_a_timing():
    found = []
    for module, path in MODULES.items():
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if tok.type == tokenize.COMMENT and TIMING.search(tok.string):
                found.append(f"{path.relative_to(SRC)}:{tok.start[0]}: {tok.string.strip()}")
    assert not found, "timings belong in docs/benchmarks.md, not in comments:\n" + "\n".join(found)


def test_the_rules_would_catch_a_breach():
    # the checks above are not vacuous: the core has modules, the engine is imported by training
    assert {_room(m) for m in MODULES} == {"core", "engine", "middle", "edge"}
    assert "relunet._fast" in _imports("relunet.training.step", top_level_only=True)
    assert TIMING.search("# 1.8× slower") and TIMING.search("# 4 MB on W1") and not TIMING.search("# (1) z = r W")
