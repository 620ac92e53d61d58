"""Execute the notebooks with this environment's own Python kernel, and write executed HTML copies.

Usage::

    python notebooks/execute.py                                   # every notebook, full size
    python notebooks/execute.py --html docs/notebooks             # ... and an HTML copy of each
    python notebooks/execute.py 03_decoding --param 03_decoding:run=runs/notebooks/transformer

Parameters follow papermill's convention without needing papermill: the cell tagged "parameters"
holds the defaults, and the values given here go into a new cell tagged "injected-parameters" right
after it. The kernel is the ``python3`` kernelspec of *this* environment (``sys.prefix``), started with
this interpreter: nothing is registered globally, and a kernel installed elsewhere is never picked up.
The notebooks run from the repository root (relative paths in their parameters start there).
"""

from __future__ import annotations

import argparse
import ast
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PARAMETERS, INJECTED = "parameters", "injected-parameters"


def notebook_path(name: str) -> Path:
    """``notebooks/<name>.ipynb`` for a name like "01_attention_from_scratch" (or a path to a notebook)."""
    path = Path(name) if name.endswith(".ipynb") else HERE / f"{name}.ipynb"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(HERE.glob("*.ipynb")))
        raise SystemExit(f"notebooks/execute.py: no notebook {path}; the notebooks are: {known}")
    return path


def kernel_manager(sockets: Path) -> KernelManager:
    """A manager for the ``python3`` kernel of this environment, checked to start ``sys.executable``.

    The kernel talks over local sockets (files) in the folder ``sockets``, not over TCP.
    """
    specs = KernelSpecManager(kernel_dirs=[str(Path(sys.prefix) / "share" / "jupyter" / "kernels")])
    km = KernelManager(kernel_name="python3", kernel_spec_manager=specs, transport="ipc", ip=str(sockets / "kernel"))
    command = km.format_kernel_cmd()
    if command[0] != sys.executable:  # not resolved: a venv's python is a link, and only its own path makes it the venv
        raise RuntimeError(f"the python3 kernel would start {command[0]}, not this interpreter {sys.executable}")
    return km


def parameter_names(nb: nbformat.NotebookNode) -> tuple[int, list[str]]:
    """Index of the cell tagged "parameters" and the names it assigns."""
    for index, cell in enumerate(nb.cells):
        if PARAMETERS in cell.metadata.get("tags", []):
            tree = ast.parse(cell.source)
            names = [t.id for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign) for t in _targets(node)]
            return index, names
    raise ValueError("the notebook has no cell tagged 'parameters'")


def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.Name]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t for t in targets if isinstance(t, ast.Name)]


def inject(nb: nbformat.NotebookNode, params: dict[str, Any], where: str = "notebook") -> nbformat.NotebookNode:
    """Put ``params`` in a cell tagged "injected-parameters" after the "parameters" cell (in place).

    Raises ValueError naming ``where`` and the known names when a parameter is not in the parameters cell.
    """
    if not params:
        return nb
    index, names = parameter_names(nb)
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ValueError(f"{where}: no parameter {', '.join(unknown)}; its parameters are {', '.join(names)}")
    source = "# Parameters injected by notebooks/execute.py\n" + "".join(f"{k} = {v!r}\n" for k, v in params.items())
    cell = nbformat.v4.new_code_cell(source.rstrip("\n"))
    cell.metadata["tags"] = [INJECTED]
    nb.cells.insert(index + 1, cell)
    return nb


def execute(path: Path, params: dict[str, Any] | None = None, timeout: int | None = None) -> nbformat.NotebookNode:
    """Run every cell of the notebook at ``path`` (from the repository root) and return it with its outputs.

    Raises nbclient's ``CellExecutionError`` (with the failing cell and traceback) when a cell fails.
    """
    nb = inject(nbformat.read(path, as_version=4), params or {}, where=path.name)
    with tempfile.TemporaryDirectory(prefix="nmt-kernel-") as sockets:
        km = kernel_manager(Path(sockets))
        NotebookClient(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


def outputs_left(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of code cells that hold outputs or an execution count (a committed notebook has none)."""
    return [
        i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))
    ]


STYLE = """
body { max-width: 62rem; margin: 2rem auto; padding: 0 1rem; font: 16px/1.5 system-ui, sans-serif; color: #222; }
pre, code { font-size: 13px; } .prompt { display: none; } img { max-width: 100%; }
.input_area pre { background: #f6f8fa; padding: .6rem; margin: .8rem 0 .3rem; overflow-x: auto; }
.output_area pre { padding: 0 .6rem; overflow-x: auto; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 2px 8px; }
"""


def write_html(nb: nbformat.NotebookNode, out: Path) -> Path:
    """A small, self-contained HTML copy of an executed notebook (figures embedded as PNG).

    nbconvert's "basic" template (no JupyterLab theme, which would add about 300 kB a page) inside a
    page with a short style sheet and pygments' colours for the code.
    """
    from nbconvert import HTMLExporter
    from pygments.formatters import HtmlFormatter

    body, _ = HTMLExporter(template_name="basic").from_notebook_node(nb)
    title = next((c.source.splitlines()[0].lstrip("# ") for c in nb.cells if c.cell_type == "markdown"), out.stem)
    css = STYLE + HtmlFormatter().get_style_defs(".highlight")
    page = f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>\n<style>{css}</style></head>\n'
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page + f"<body>\n{body}\n</body></html>\n", encoding="utf-8")
    return out


def _parse_params(items: list[str], names: list[str]) -> dict[str, dict[str, Any]]:
    """``NOTEBOOK:KEY=VALUE`` items -> {notebook: {key: value}}; values are Python literals or plain strings."""
    out: dict[str, dict[str, Any]] = {name: {} for name in names}
    for item in items:
        target, sep, assignment = item.partition(":")
        key, eq, text = assignment.partition("=")
        if not (sep and eq and key) or target not in out:
            raise SystemExit(
                f"notebooks/execute.py: --param {item!r}: write NOTEBOOK:KEY=VALUE, NOTEBOOK one of {names}"
            )
        try:
            out[target][key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[target][key] = text
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Execute the notebooks; optionally write HTML copies.")
    parser.add_argument("notebooks", nargs="*", help="names like 02_rnn_vs_transformer (default: all, in order)")
    parser.add_argument("--html", type=Path, help="write <name>.html here for each executed notebook")
    parser.add_argument("--param", action="append", default=[], metavar="NOTEBOOK:KEY=VALUE")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: none)")
    args = parser.parse_args(argv)
    paths = [notebook_path(n) for n in args.notebooks] or sorted(HERE.glob("*.ipynb"))
    params = _parse_params(args.param, [p.stem for p in paths])
    for path in paths:
        start = time.perf_counter()
        nb = execute(path, params[path.stem], args.timeout)
        line = f"{path.stem}: executed in {time.perf_counter() - start:.0f} s"
        if args.html:
            line += f" -> {write_html(nb, args.html / f'{path.stem}.html')}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
