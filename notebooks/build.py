"""Write the notebooks (``notebooks/*.ipynb``) from their sources (``notebooks/src/*.py``), outputs stripped.

The sources are Python files in the "percent" format, so that they diff and review like code:

* ``# %%`` starts a code cell; ``# %% tags=["parameters"]`` gives it tags (papermill's "parameters"
  cell holds the defaults that ``notebooks/execute.py`` overrides);
* ``# %% [markdown]`` starts a Markdown cell, each line written as a comment (``# text``);
* in a code cell, a line ``# %magic …`` (e.g. ``# %matplotlib inline``) becomes the IPython magic.

Usage: ``python notebooks/build.py`` (rewrites every notebook); ``--check`` only reports notebooks that
differ from their source (exit 1), which the tests use.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
CELL = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")
MAGIC = re.compile(r"^# (%\w+.*)$")
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _cell(kind: str, lines: list[str], tags: list[str]) -> nbformat.NotebookNode:
    """One cell from its source lines (blank lines around it dropped)."""
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    if kind == "markdown":
        text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines)
        cell = nbformat.v4.new_markdown_cell(text)
    else:
        text = "\n".join(MAGIC.sub(r"\1", line) for line in lines)
        cell = nbformat.v4.new_code_cell(text)
    if tags:
        cell.metadata["tags"] = tags
    return cell


def parse(source: Path) -> nbformat.NotebookNode:
    """The notebook written in ``source`` (percent format), with no outputs and stable cell ids."""
    cells, kind, tags, lines = [], None, [], []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        match = CELL.match(line)
        if match is None:
            if kind is None and line.strip():
                raise SystemExit(f"{source}:{number}: text before the first '# %%' cell marker; start with a cell")
            lines.append(line)
            continue
        if kind is not None:
            cells.append(_cell(kind, lines, tags))
        kind = "markdown" if match["md"] else "code"
        tags = json.loads(match["tags"]) if match["tags"] else []
        lines = []
    if kind is not None:
        cells.append(_cell(kind, lines, tags))
    for number, cell in enumerate(cells):
        cell.id = f"{source.stem[:2]}-{number:03d}"  # stable ids: rebuilding an unchanged source changes nothing
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": KERNEL, "language_info": {"name": "python"}}
    nbformat.validate(nb)
    return nb


def render(source: Path) -> str:
    """The ``.ipynb`` text for ``source``."""
    return nbformat.writes(parse(source)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report notebooks that differ from their source")
    args = parser.parse_args(argv)
    stale = []
    for source in sorted(SOURCES.glob("*.py")):
        target = HERE / f"{source.stem}.ipynb"
        text = render(source)
        if args.check:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                stale.append(target)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(HERE.parent)}")
    for target in stale:
        print(f"{target.relative_to(HERE.parent)} differs from its source: run python notebooks/build.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
