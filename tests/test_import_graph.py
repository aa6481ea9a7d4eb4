"""The autograder package's import graph, drawn from the code: no module may import, directly or through others,
a module that imports it. A cycle makes the import order decide what works (a name missing while a module is half
loaded) and ties the commands together so that none can be read alone.

Every `import` and `from ... import` of every module is read from its syntax tree (inside functions too: an import
deferred to call time still ties the two modules), relative ones resolved against the module's package. An edge
goes to the module named, or to a submodule when `from package import name` names one; parent packages are not
edges (importing `a.b.c` runs `a/b/__init__.py`, but a package importing its own submodules is no cycle).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "autograder"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def module_files(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """{dotted module name: file} for every module of the package (a package is its __init__.py)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]  # the package relative imports start from
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from package import name`: the submodule when there is one, else the package itself
            targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import a.b.name` of an attribute: the module that has it
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    modules = module_files(root, package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def tangles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan): in each, every module imports every
    other one, directly or through others."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(set(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> b -> ... -> a) per tangle."""
    return [one_cycle(graph, component) for component in tangles(graph)]


def one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside the component (breadth first)."""
    start = min(component)
    previous = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                path = [v]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if w not in previous:
                previous[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle through {start} in {component}")  # a strongly connected component has one


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    found = [f"{' -> '.join(one_cycle(graph, t))} (tangled: {', '.join(sorted(t))})" for t in tangles(graph)]
    assert not found, "import cycles in the autograder package:\n" + "\n".join(found)


def test_the_graph_is_drawn_from_every_kind_of_import(tmp_path):
    """The reader sees relative, absolute, `from . import submodule` and function-level imports, and names the
    cycle it finds: a test that could not see an import would pass on any package."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import leaf\n")
    (pkg / "sub" / "leaf.py").write_text("def f():\n    from ...pkg import top  # deferred, still an edge\n")
    (pkg / "top.py").write_text("import pkg.mid\n")
    (pkg / "mid.py").write_text("from .sub.leaf import f\nfrom pkg import other\n")
    (pkg / "other.py").write_text("from pkg.sub import leaf\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.sub"] == {"pkg.sub.leaf"}
    assert graph["pkg.top"] == {"pkg.mid"} and graph["pkg.mid"] == {"pkg.sub.leaf", "pkg.other"}
    assert graph["pkg.other"] == {"pkg.sub.leaf"}
    found = cycles(graph)
    assert found == [["pkg.mid", "pkg.sub.leaf", "pkg.top", "pkg.mid"]]


def test_commands_are_started_one_way():
    """`lab COMMAND`, and `python -m autograder COMMAND` as its alias: no other `__main__` module starts a command,
    and no command imports the command line (cli imports the commands, never the other way round)."""
    graph = import_graph()
    mains = sorted(str(p.relative_to(ROOT.parent)) for p in ROOT.rglob("__main__.py"))
    assert mains == [f"{PACKAGE}/__main__.py"], f"a second way to start a command: {mains}"
    importers = sorted(name for name, targets in graph.items() if f"{PACKAGE}.cli" in targets)
    assert importers == [f"{PACKAGE}.__main__"], f"modules that import the command line: {importers}"


def test_the_engine_never_imports_the_course_content():
    """The engine (autograder/) works for any course's content package: it finds this lab's (lab/) by the name the
    hidden-test lines and paths.CONTENT_PACKAGE give, never by an import written in its code. So another course
    takes autograder/ whole."""
    import ast

    from autograder.paths import CONTENT_PACKAGE

    found = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            found += [f"{path.relative_to(ROOT.parent)}: {name}" for name in names
                      if name == CONTENT_PACKAGE or name.startswith(CONTENT_PACKAGE + ".")]
    assert found == [], "the engine imports the course's content:\n" + "\n".join(found)
