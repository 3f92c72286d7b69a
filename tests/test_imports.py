"""The shape of zizi's imports: no circles between modules, and no layer reaching upwards.

The graph is read from the source (the AST), not by importing, so it sees every import:
module-level ones, the lazy ones inside functions (zizi imports torch, numpy and its own
heavier modules lazily so that `zizi --help` stays instant) and the `if TYPE_CHECKING:`
ones. All three count. A lazy import only hides a circle from Python's import machinery,
not from the reader, who still has to hold both modules in mind to understand either; and a
type hint that names a class says the module depends on that class's module. So
`step -> trainer` for `Trainer` hints is fine exactly when `trainer` does not import `step`.

Edges go to modules, not to the packages that contain them: `from zizi.train import step`
is an edge to `zizi.train.step`; Python also runs `zizi/train/__init__.py` on the way,
but those files hold docstrings (and `zizi.metrics`' lazy `compute`), not dependencies.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "zizi"

# Lower layers never import upper ones (STYLE.md): a module may import its own package and
# anything in a lower tier, never a sibling in its tier or anything above. A package or
# top-level module not listed here fails the test until it is given its place.
TIERS: list[set[str]] = [
    {"zizi", "errors", "text"},
    {"faults", "files", "config", "latents", "runtime"},
    {"ops", "credentials"},
    {"nets"},
    {"io", "data"},
    {"metrics", "render"},
    {"train", "mirror", "demo"},
    {"cli"},
    {"__main__"},
]


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> source file, for every module below `package`."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int, str]]:
    """(imported zizi module, line, "top" | "lazy" | "type") for each import in `path`."""
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int, str]] = []

    def target(dotted: str) -> str:
        # `from zizi.train import step`: the submodule when there is one, else the package
        return dotted if dotted in known else dotted.rsplit(".", 1)[0]

    def walk(node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            k = kind
            if isinstance(child, ast.If) and _type_checking(child):
                k = "type"
            elif (
                isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                and kind == "top"
            ):
                k = "lazy"
            if isinstance(child, ast.Import):
                found.extend(
                    (a.name, child.lineno, k)
                    for a in child.names
                    if a.name == "zizi" or a.name.startswith("zizi.")
                )
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".")
                    base = base[: len(base) - child.level + is_package]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                if mod == "zizi" or mod.startswith("zizi."):
                    found.extend((target(f"{mod}.{a.name}"), child.lineno, k) for a in child.names)
            walk(child, k)

    walk(ast.parse(path.read_text("utf-8"), str(path)), "top")
    return [(t, line, k) for t, line, k in found if t in known and t != name]


def import_graph(package: Path = PACKAGE) -> dict[str, list[tuple[str, int, str]]]:
    known = modules(package)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, list[tuple[str, int, str]]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w, _, _ in graph[v]:
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
    return sorted(found)


def _explain(graph, component: list[str]) -> str:
    edges = [
        f"  {a}:{line} -> {b} ({kind})"
        for a in component
        for b, line, kind in graph[a]
        if b in component
    ]
    return " <-> ".join(component) + "\n" + "\n".join(sorted(set(edges)))


def test_no_import_cycles_inside_zizi():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import circles:\n" + "\n".join(_explain(graph, c) for c in found)


def _unit(module: str) -> str:
    """zizi.train.step -> train; zizi.errors -> errors; zizi -> zizi."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "zizi"


def upward_imports(
    graph: dict[str, list[tuple[str, int, str]]], tiers: list[set[str]]
) -> list[str]:
    """Each import of a module in the same tier (another package) or a higher one."""
    tier = {unit: n for n, units in enumerate(tiers) for unit in units}
    return sorted(
        f"{a}:{line} -> {b} ({kind})"
        for a, edges in graph.items()
        for b, line, kind in edges
        if _unit(a) != _unit(b) and tier[_unit(b)] >= tier[_unit(a)]
    )


def test_no_upward_imports_between_layers():
    graph = import_graph()
    unplaced = sorted({_unit(m) for m in graph} - set().union(*TIERS))
    assert not unplaced, f"give these a tier in TIERS: {unplaced}"
    upward = upward_imports(graph, TIERS)
    assert not upward, "imports of a sibling or a higher layer:\n" + "\n".join(upward)


def test_the_checks_see_lazy_type_only_and_relative_imports(tmp_path):
    """The graph builder on a made-up package: each kind of import makes its edge, and a
    circle through a function-level import is found."""
    pkg = tmp_path / "zizi"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from zizi.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from zizi import a\n")
    (pkg / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import b\n"
    )
    graph = import_graph(pkg)
    assert graph["zizi.a"] == [("zizi.sub.b", 1, "top")]
    assert graph["zizi.sub.b"] == [("zizi.a", 2, "lazy")]
    assert graph["zizi.sub.c"] == [("zizi.sub.b", 3, "type")]
    assert cycles(graph) == [["zizi.a", "zizi.sub.b"]]
    # a lower layer borrowing from a higher one, even lazily, and a sibling of its tier
    graph["zizi.errors"] = [("zizi.sub.b", 9, "lazy")]
    graph["zizi.files"] = [("zizi.latents", 4, "top")]
    graph["zizi.latents"] = []
    tiers = [{"zizi", "errors"}, {"files", "latents"}, {"sub"}, {"a"}]
    assert upward_imports(graph, tiers) == [
        "zizi.errors:9 -> zizi.sub.b (lazy)",
        "zizi.files:4 -> zizi.latents (top)",
        "zizi.sub.b:2 -> zizi.a (lazy)",
    ]
