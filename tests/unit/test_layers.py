"""The package is layered: no import cycle between its units (lazy imports count).

A unit is a subpackage (``engramlab.protocol``) or a top-level module (``engramlab.cli``).
Every module under ``engramlab/`` is parsed with :mod:`ast`; every import counts, including
those inside functions, except those under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2] / "engramlab"
#: the op registry layer: protocol at the bottom, lifecycle (its public face) and ops above
CORE = {"engramlab.protocol", "engramlab.lifecycle", "engramlab.ops"}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, package: str) -> list[str]:
    """Every module a parsed module imports (``from a import b``: ``a.b`` and ``a``)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.append(base)
            found.extend(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str, root_name: str, modules: set[str]) -> str | None:
    """The unit of a module: ``pkg.sub`` for anything inside subpackage ``sub``."""
    parts = module.split(".")
    if parts[0] != root_name or len(parts) < 2:
        return None
    unit = ".".join(parts[:2])
    return unit if unit in modules else None


def unit_graph(root: Path) -> nx.DiGraph:
    """Units of the package at ``root`` and the imports between them."""
    files = sorted(root.rglob("*.py"))
    names = {_module_name(f, root): f for f in files}
    modules = set(names)
    g = nx.DiGraph()
    for name, path in names.items():
        src = _unit(name, root.name, modules)
        if src is None:
            continue
        g.add_node(src)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for target in _imports(ast.parse(path.read_text(encoding="utf-8")), package):
            dst = _unit(target, root.name, modules)
            if dst is not None and dst != src:
                g.add_edge(src, dst, via=g.get_edge_data(src, dst, {}).get("via", name))
    return g


def _cycles(g: nx.DiGraph) -> list[list[str]]:
    return [sorted(c) for c in nx.simple_cycles(g)]


def test_the_checker_sees_lazy_imports_and_skips_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    for sub in ("a", "b", "c"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "_x.py").write_text("from pkg.b import thing\n")
    (pkg / "b" / "_y.py").write_text("def f():\n    from pkg.a._x import thing  # lazy\n")
    (pkg / "c" / "_z.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import x\n"
    )
    (pkg / "a" / "_w.py").write_text("from . import _x\nfrom ..c import _z\n")
    g = unit_graph(pkg)
    assert _cycles(g) == [["pkg.a", "pkg.b"]]
    assert not g.has_edge("pkg.c", "pkg.a")  # TYPE_CHECKING only
    assert g.has_edge("pkg.a", "pkg.c")  # relative import


def test_protocol_lifecycle_and_ops_are_layered() -> None:
    g = unit_graph(ROOT)
    for low in ("engramlab.protocol", "engramlab.lifecycle"):
        assert not g.has_edge(low, "engramlab.ops"), g.edges[low, "engramlab.ops"]["via"]
    assert not g.has_edge("engramlab.protocol", "engramlab.lifecycle")
    in_core = [c for c in _cycles(g) if CORE & set(c)]
    assert not in_core, f"import cycles through protocol/lifecycle/ops: {in_core}"


# analysis <-> plot and _runner <-> _ml_runner are removed by the engine rewrite (issue 9);
# until then only this test knows about them.
def test_no_import_cycle_between_units() -> None:
    cycles = _cycles(unit_graph(ROOT))
    assert not cycles, f"import cycles between units: {cycles}"
