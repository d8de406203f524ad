"""The package's imports run one way: no cycles, and no import hidden in a function.

The import graph is read from the source (every ``import`` of an ibsim module,
at module level or in a function, outside ``if TYPE_CHECKING:`` blocks; importing
``a.b.c`` also runs the package ``a.b`` first). A cycle-free graph is what
makes the import order irrelevant; importing each module alone in a fresh
interpreter would test nothing more here, since every one of them runs
``ibsim/__init__`` (the top floor) first.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path


PACKAGE = Path(__file__).resolve().parents[1] / "ibsim"

#: Third-party modules a function may import: optional or heavy dependencies
#: deferred until the feature that needs them is used.
DEFERRED = {"tensorflow", "mpi4py", "imageio_ffmpeg", "tqdm", "scipy", "sklearn", "importlib.metadata"}


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    return names


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imported(module: str, is_package: bool, node: ast.AST, modules: dict[str, Path]) -> set[str]:
    targets: set[str] = set()
    if isinstance(node, ast.Import):
        targets = {alias.name for alias in node.names}
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        targets = {f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names}
    found = set()
    for target in targets:
        parts = target.split(".")
        # a.b.c runs the package a.b first (the top package ``ibsim`` is the
        # top floor, re-exporting the public API: every module runs it first)
        for end in range(2, len(parts) + 1):
            name = ".".join(parts[:end])
            if name in modules and name != module and not module.startswith(name + "."):
                found.add(name)  # (a module's own packages are running already: no edge)
        if target == "ibsim" and module != "ibsim":
            found.add("ibsim")
    return found


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """(module → ibsim modules it imports, function-level imports that are not deferred dependencies)."""
    modules = module_names()
    graph: dict[str, set[str]] = {}
    hidden: list[str] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_lines(tree)
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno not in skip:
                edges |= _imported(name, path.name == "__init__.py", node, modules)
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(function):
                    if isinstance(node, ast.Import):
                        roots = [a.name for a in node.names]
                    elif isinstance(node, ast.ImportFrom):
                        roots = ["." if node.level else (node.module or "")]
                    else:
                        continue
                    for root in roots:
                        if not any(root == d or root.startswith(d + ".") for d in DEFERRED):
                            hidden.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {root} "
                                          f"inside {function.name}()")
        graph[name] = edges
    return graph, hidden


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle():
    graph, _ = import_graph()
    assert len(graph) > 50  # the walk found the package
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_function_hides_an_import():
    _, hidden = import_graph()
    assert hidden == []


def test_experiment_sits_above_the_pipeline_and_the_config_below_it():
    graph, _ = import_graph()

    def reaches(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for other in graph[todo.pop()]:
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        return seen

    assert "ibsim.pipeline.runner" in reaches("ibsim.experiment")
    assert not any(m.startswith(("ibsim.pipeline", "ibsim.experiment", "ibsim.cli", "ibsim.results."))
                   for m in reaches("ibsim.config.config"))
    for component in ("ibsim.datasets", "ibsim.estimators", "ibsim.networks", "ibsim.recording", "ibsim.plots"):
        above = {m for m in reaches(component)
                 if m.startswith(("ibsim.config.config", "ibsim.pipeline", "ibsim.experiment", "ibsim.results."))}
        assert above == set(), component
