"""The two layers of DESIGN rule 12: the library never imports a command; commands never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nmt"
COMMANDS = {
    "train",
    "evaluate",
    "translate",
    "plot",
    "compare",
    "length_penalty",
    "results_table",
    "serve",
    "bench",
    "prepare",
}


def _command_of(module: str) -> str | None:
    """The command a dotted module name belongs to (``nmt.bench.suite`` -> ``bench``), or None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "nmt" and parts[1] in COMMANDS else None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_module_imports_another_command():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        own = _command_of(module)
        for imported in _imports(path):
            target = _command_of(imported)
            if target is not None and target != own:
                offenders.append(f"{module} imports {imported}")
    assert not offenders, "; ".join(offenders)


def test_the_check_sees_a_command_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from nmt.evaluate import evaluate\nimport nmt.train\n", encoding="utf-8")
    assert {_command_of(m) for m in _imports(bad)} == {"evaluate", "train"}


def test_nothing_imports_the_train_command():
    """``nmt.train`` is only a Hydra main: the library, the tests and the notebooks use nmt.training."""
    root = PACKAGE.parent
    files = [*PACKAGE.rglob("*.py"), *(root / "tests").glob("*.py"), *(root / "notebooks" / "src").glob("*.py")]
    offenders = [str(p.relative_to(root)) for p in files if {"nmt.train"} & _imports(p)]
    assert not offenders, f"import nmt.training instead of the command nmt.train: {offenders}"
