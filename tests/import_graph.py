"""The package's import graph as text: each module and the ``nmt`` modules it imports.

Run from the repository root (any checkout, no install needed: it reads the source, imports nothing)::

    python tests/import_graph.py            # module -> modules it imports, then cycles and layer breaks
    python tests/import_graph.py path/to/nmt

Each line is ``module -> a, b, c``; modules under a command package (``nmt.bench.*``) are listed
under their own names. Commands (DESIGN rule 12) are marked ``[command]``. ``tests/test_layers.py``
uses the same walk and fails on a cycle or on a command imported by anything but itself.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nmt"
COMMANDS = frozenset(
    {"train", "evaluate", "translate", "plot", "compare", "length_penalty", "results_table", "serve", "bench"}
    | {"prepare"}
)


def module_name(path: Path, package: Path) -> str:
    """``nmt/bench/suite.py`` -> ``nmt.bench.suite``; ``nmt/bench/__init__.py`` -> ``nmt.bench``."""
    return ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__")


def command_of(module: str) -> str | None:
    """The command a dotted module name belongs to (``nmt.bench.suite`` -> ``bench``), or None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "nmt" and parts[1] in COMMANDS else None


def imported_names(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports (``from a import b`` adds ``a`` and ``a.b``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's own modules it imports (anywhere in the file, functions included)."""
    paths = {module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    return {
        module: {name for name in imported_names(path) if name in paths and name != module}
        for module, path in paths.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_breaks(graph: dict[str, set[str]]) -> list[str]:
    """``a -> b`` for every import of a command's module from outside that command."""
    return [
        f"{module} -> {name}"
        for module, names in sorted(graph.items())
        for name in sorted(names)
        if command_of(name) is not None and command_of(name) != command_of(module)
    ]


def main(argv: list[str]) -> None:
    package = Path(argv[1]) if len(argv) > 1 else PACKAGE
    graph = import_graph(package)
    for module, names in sorted(graph.items()):
        mark = " [command]" if command_of(module) else ""
        print(f"{module}{mark} -> {', '.join(sorted(names)) or '(none)'}")
    found = cycles(graph)
    print(f"\ncycles: {len(found)}")
    for component in found:
        print("  " + " <-> ".join(component))
    breaks = layer_breaks(graph)
    print(f"command imports from outside the command: {len(breaks)}")
    for line in breaks:
        print("  " + line)


if __name__ == "__main__":
    main(sys.argv)
