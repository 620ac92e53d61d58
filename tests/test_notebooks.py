"""notebooks/: committed without outputs, in sync with their sources, and executed end to end at tiny sizes.

The notebooks run in this interpreter's own kernel (``notebooks/execute.py``), with the cache in the test's
temporary folder; their parameters cell is overridden the way papermill would, with sizes that train the
toy models for a couple of seconds. Their own ``assert`` cells check the toolkit against the lectures' formulas.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_attention_from_scratch", "02_rnn_vs_transformer", "03_decoding"]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"notebooks_{name}", NOTEBOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


execute = _load("execute")
build = _load("build")

TINY_TRANSFORMER = ["model.net.d_model=32", "model.net.d_ff=64", "model.net.enc_layers=2", "model.net.dec_layers=2"]
TINY_TOY = {"n_train": 300, "n_val": 30, "n_test": 30}
SMALL = {
    "01_attention_from_scratch": {"n_samples": 1000},
    "02_rnn_vs_transformer": {
        **TINY_TOY,
        "epochs": {"rnn": 2, "transformer": 2},
        "n_align": 20,
        "model_overrides": {
            "rnn": ["model.net.emb_dim=32", "model.net.hidden_dim=32", "model.net.attn_dim=32"],
            "transformer": TINY_TRANSFORMER,
        },
    },
    "03_decoding": {**TINY_TOY, "epochs": 2, "n_score": 20, "n_samples": 5, "model_overrides": TINY_TRANSFORMER},
}
FIGURES = {"01_attention_from_scratch": 8, "02_rnn_vs_transformer": 4, "03_decoding": 4}


def test_every_notebook_is_listed():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    assert sorted(p.stem for p in (NOTEBOOKS / "src").glob("*.py")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert execute.outputs_left(nb) == [], f"{name}.ipynb holds outputs: rebuild it with python notebooks/build.py"
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)


def test_outputs_are_detected():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1"), nbformat.v4.new_code_cell("2")])
    assert execute.outputs_left(nb) == []
    nb.cells[1].execution_count = 3
    assert execute.outputs_left(nb) == [1]
    nb.cells[1].execution_count = None
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="2\n")]
    assert execute.outputs_left(nb) == [0]


def test_notebooks_match_their_sources():
    assert build.main(["--check"]) == 0, "a notebook differs from notebooks/src: run python notebooks/build.py"


def test_source_parsing(tmp_path):
    source = tmp_path / "09_demo.py"
    lines = ["# %% [markdown]", "# # Title", "#", "# text", "", '# %% tags=["parameters"]', "n = 1", "", "# %%"]
    source.write_text("\n".join([*lines, "# %matplotlib inline", "x = n"]) + "\n")
    nb = build.parse(source)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert nb.cells[0].source == "# Title\n\ntext"
    assert nb.cells[1].metadata["tags"] == ["parameters"]
    assert nb.cells[2].source == "%matplotlib inline\nx = n"


def test_parameters_are_injected_after_the_parameters_cell():
    nb = nbformat.read(NOTEBOOKS / "03_decoding.ipynb", as_version=4)
    index, names = execute.parameter_names(nb)
    assert {"run", "n_train", "temperatures", "model_overrides"} <= set(names)
    execute.inject(nb, {"n_train": 10, "run": "runs/x"})
    injected = nb.cells[index + 1]
    assert injected.metadata["tags"] == ["injected-parameters"]
    assert "n_train = 10\nrun = 'runs/x'" in injected.source
    with pytest.raises(ValueError, match="03_decoding.ipynb: no parameter n_trian; its parameters are run, "):
        execute.inject(nb, {"n_trian": 10}, where="03_decoding.ipynb")


def test_kernel_is_this_environments_python(tmp_path):
    command = execute.kernel_manager(tmp_path).format_kernel_cmd()
    assert command[0] == sys.executable
    assert Path(command[0]).parent == Path(sys.prefix) / "bin"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, tmp_path, monkeypatch):
    monkeypatch.setenv("NMT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    params = dict(SMALL[name])
    if name != "01_attention_from_scratch":
        params["out_dir"] = str(tmp_path / "runs")
    nb = execute.execute(NOTEBOOKS / f"{name}.ipynb", params, timeout=300)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    figures = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= FIGURES[name]
    if name != "01_attention_from_scratch":
        assert (tmp_path / "runs").is_dir() and (tmp_path / "cache").is_dir()  # trained where it was told to
