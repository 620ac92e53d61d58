"""Only the project's own errors become one line; any other exception keeps its traceback (a bug to report)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from nmt.corpora.base import CorpusError
from nmt.errors import one_line_errors, project_error

CONF = Path(__file__).resolve().parents[1] / "conf"


def _boom(*args, **kwargs):
    raise RuntimeError("a real bug")


def _compose(name: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


# (module, config, overrides failing with one of our errors, its message, function to break, overrides reaching it)
HYDRA_COMMANDS = [
    ("nmt.evaluate", "evaluate", ["run=/no/such/run"], "config.yaml: missing", "load_run", ["run=/r"]),
    ("nmt.translate", "translate", ["run=/r", "nbest=0"], "nbest=0 must be >= 1", "load_run", ["run=/r"]),
    ("nmt.plot", "plot", [], "pass one run folder as run=<dir>", "load_run", ["run=/r", "src=a"]),
    ("nmt.length_penalty", "length_penalty", ["run=/r", "metric=ter"], "metric=ter: use", "evaluate", ["run=/r"]),
    ("nmt.bench.__main__", "bench", ["run=/no/such/run", "quick=true"], "config.yaml: missing", "effective_config", []),
    ("nmt.compare", "compare", ["runs=[/no/such/a,/no/such/b]"], "no such folder", "find_runs", ["runs=[/r,/s]"]),
    ("nmt.results_table", "results_table", ["folders=[/no/such]"], "/no/such", "render", ["folders=[/r]"]),
]


@pytest.mark.parametrize(
    ("module", "config", "overrides", "message", "broken", "reach"), HYDRA_COMMANDS, ids=[c[0] for c in HYDRA_COMMANDS]
)
def test_hydra_commands(module, config, overrides, message, broken, reach, monkeypatch, capsys):
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exit_:
        main(_compose(config, overrides))  # Hydra passes a given config straight to the task function
    err = capsys.readouterr().err
    command = module.removesuffix(".__main__")
    assert exit_.value.code == 2 and err == f"{command}: error: {err.split(': error: ', 1)[1]}" and message in err
    assert err.count("\n") == 1
    target = {"nmt.bench": "nmt.bench.suite", "nmt.evaluate": "nmt.evaluation"}.get(command, module)  # its library
    monkeypatch.setattr(importlib.import_module(target), broken, _boom)
    with pytest.raises(RuntimeError, match="a real bug"):  # not swallowed, not turned into one line
        main(_compose(config, reach))


def test_instantiation_errors_wrapping_ours_are_one_line(capsys):
    with pytest.raises(InstantiationException) as wrapped:
        instantiate({"_target_": "nmt.corpora.toy.load_toy", "n_val": -1})
    assert isinstance(project_error(wrapped.value), CorpusError)
    with pytest.raises(SystemExit) as exit_, one_line_errors("nmt.x"):
        raise wrapped.value
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("nmt.x: error: toy corpus: n_val=-1") and err.count("\n") == 1
    with pytest.raises(InstantiationException), one_line_errors("nmt.x"):  # wrapping a bug: kept
        instantiate({"_target_": "nmt.schedule.InverseSqrtFactor", "warmup_steps": "x"})


@pytest.mark.parametrize("module", ["nmt.evaluate", "nmt.translate"])
def test_a_missing_run_is_one_line(module, capsys):
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(module).main(_compose(module.removeprefix("nmt."), []))
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith(f"{module}: error: run=… is missing") and err.count("\n") == 1
