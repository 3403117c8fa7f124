"""The package's structure: no import cycles (imports inside functions and under
``if __name__ == "__main__":`` count), and the library never imports the commands in ``keras_gens.cli``.

``from P import x`` is an edge to P as well as to P.x: it runs P's ``__init__`` first.  The only
modules outside ``cli`` that import it are the documented ``python -m keras_gens.NAME`` paths,
which hand over to their command and are imported by nothing.
"""
from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

PACKAGES = ("keras_gens", "federated")
CLI = "keras_gens.cli"
COMMANDS = ("train", "export", "generate", "evaluate", "compare", "ocgan", "pxd_events", "results")
# The documented entry points: keras_gens/NAME.py, and results/__main__.py.
ENTRY_POINTS = {f"keras_gens.{c}" for c in COMMANDS if c != "results"} | {"keras_gens.results.__main__"}


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree):
    """Every Import/ImportFrom node, at any depth."""
    return (node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)))


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    """{module: modules of ``packages`` it imports}, read with ``ast`` (nothing is executed)."""
    files = {_module_name(root, p): p for pkg in packages for p in (root / pkg).rglob("*.py")}

    def known(name):  # the module itself, or the package whose attribute it names
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(known(a.name) for a in node.names)
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets.add(known(base))
            targets.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in files)
        graph[module] = {t for t in targets if t and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _describe(graph, component) -> str:
    return "\n".join(f"  {m} -> {', '.join(sorted(graph[m] & set(component)))}" for m in component)


def test_no_import_cycles():
    graph = import_graph(REPO)
    assert len(graph) > 80  # the whole of keras_gens and federated was read
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n\n".join(_describe(graph, c) for c in found)


def test_the_library_never_imports_the_commands():
    graph = import_graph(REPO)
    library = [m for m in graph if m.startswith("keras_gens") and not (m == CLI or m.startswith(CLI + "."))
               and m not in ENTRY_POINTS]
    offenders = {m: sorted(t for t in graph[m] if t == CLI or t.startswith(CLI + ".")) for m in library}
    assert not {m: t for m, t in offenders.items() if t}


def test_commands_keep_their_documented_module_paths():
    """``python -m keras_gens.train`` & co. keep working: each old path hands over to its cli module."""
    graph = import_graph(REPO)
    assert not any(ENTRY_POINTS & targets for targets in graph.values())  # nothing imports them
    for command in COMMANDS:
        assert f"{CLI}.{command}" in graph
        shim = REPO / "keras_gens" / (f"{command}.py" if command != "results" else "results/__main__.py")
        assert f"from keras_gens.cli.{command} import main" in shim.read_text()


def test_the_checker_sees_cycles_through_imports_inside_functions(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import c\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text('if __name__ == "__main__":\n    from pkg.e import f\n')
    (pkg / "e.py").write_text("from pkg.d import g\n")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.sub.b"] == {"pkg", "pkg.c"}  # `from .. import c` runs pkg's __init__, then c
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.b"}
    assert cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"], ["pkg.d", "pkg.e"]]  # a __main__ guard counts
