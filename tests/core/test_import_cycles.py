"""No module of skyvault imports itself through others, counting every import (top level, in functions, typing).

``lint-imports`` (pyproject.toml) checks the layers and, with ``acyclic_siblings``, cycles between sibling
modules and packages; it cannot see a cycle through a package's own ``__init__`` (``skyvault.x`` importing
``skyvault.x.y`` which imports ``skyvault.x``). This test checks the whole module graph, with grimp (the graph
library import-linter is built on).
"""

from __future__ import annotations

import grimp


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative), each sorted."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = lowlink[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, imported = work[-1]
            following = next(imported, None)
            if following is not None:
                if following not in index:
                    index[following] = lowlink[following] = len(index)
                    stack.append(following)
                    on_stack.add(following)
                    work.append((following, iter(sorted(graph.find_modules_directly_imported_by(following)))))
                elif following in on_stack:
                    lowlink[module] = min(lowlink[module], index[following])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowlink[parent] = min(lowlink[parent], lowlink[module])
            if lowlink[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return sorted(cycles)


def test_the_cycle_finder_names_a_cycle_through_a_package_init() -> None:
    graph = grimp.ImportGraph()
    graph.add_import(importer="pkg", imported="pkg.a")
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.d")
    graph.add_import(importer="pkg.d", imported="pkg.c")
    assert import_cycles(graph) == [["pkg", "pkg.a", "pkg.b"], ["pkg.c", "pkg.d"]]


def test_skyvault_has_no_import_cycles() -> None:
    graph = grimp.build_graph("skyvault", cache_dir=None)
    cycles = import_cycles(graph)
    assert not cycles, "import cycles (break each by moving what both sides need into a module below them):\n" + (
        "\n".join(" <-> ".join(cycle) for cycle in cycles)
    )
