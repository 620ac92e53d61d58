"""The import graph of DESIGN rule 12: no cycles, and no command imported from outside itself."""

from __future__ import annotations

from pathlib import Path

from import_graph import command_of, cycles, import_graph, layer_breaks


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_no_command_is_imported_from_outside_it():
    assert layer_breaks(import_graph()) == []


def test_every_command_module_is_found():
    graph = import_graph()
    for command in ("train", "evaluate", "translate", "plot", "compare", "bench", "serve", "length_penalty"):
        assert any(command_of(m) == command for m in graph), command


def _package(root: Path, files: dict[str, str]) -> Path:
    package = root / "nmt"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return package


def test_the_walk_sees_cycles_and_layer_breaks(tmp_path):
    package = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from nmt.b import x\n",
            "b.py": "def f():\n    import nmt.c\n",  # an import inside a function counts too
            "c.py": "from nmt import a\n",
            "library.py": "from nmt.bench.suite import run\n",
            "bench/__init__.py": "",
            "bench/suite.py": "from nmt.bench import report\n",
            "bench/report.py": "",
            "plot.py": "from nmt.train import train\n",
            "train.py": "",
        },
    )
    graph = import_graph(package)
    assert cycles(graph) == [["nmt.a", "nmt.b", "nmt.c"]]
    assert layer_breaks(graph) == ["nmt.library -> nmt.bench.suite", "nmt.plot -> nmt.train"]
