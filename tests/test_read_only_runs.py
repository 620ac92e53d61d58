"""Reading a run folder never writes into it: every command on a read-only copy leaves it unchanged."""

from __future__ import annotations

import io
import os
import shutil
import stat
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import nmt
from nmt.compare import compare
from nmt.evaluation import evaluate
from nmt.explorer_models import ExplorerModel, Limits
from nmt.length_penalty import tune_length_penalty
from nmt.plot import plot
from nmt.search import DecodeSettings
from nmt.translate import translate_stream

CONF = Path(__file__).resolve().parents[1] / "conf"

pytestmark = pytest.mark.usefixtures("one_thread")


def _compose(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))


def _snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``folder`` with its size, mtime and mode: root ignores chmod, so compare these too."""
    out = {}
    for path in [folder, *folder.rglob("*")]:
        st = path.lstat()
        out[str(path.relative_to(folder))] = (st.st_size if path.is_file() else 0, st.st_mtime_ns, st.st_mode)
    return out


def _read_only_copy(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))  # chmod -R a-w
    return dest


@pytest.fixture
def read_only_runs(transformer_run, rnn_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the default outputs (nmt-output/) go
    runs = [_read_only_copy(transformer_run, tmp_path / "ro" / "transformer")]
    runs.append(_read_only_copy(rnn_run, tmp_path / "ro" / "rnn"))
    before = [_snapshot(r) for r in runs]
    yield runs
    assert [_snapshot(r) for r in runs] == before
    for path in [tmp_path / "ro", *(tmp_path / "ro").rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)  # let pytest clean up


def test_every_command_leaves_a_read_only_run_unchanged(read_only_runs, tmp_path):
    run, other = read_only_runs
    assert not os.access(run / "results.json", os.W_OK) or os.geteuid() == 0
    report = evaluate(_compose("evaluate", f"run={run}", "decode=greedy", "split=val", "average=2"))
    assert Path(report["output"]).is_file() and Path(report["hypotheses"]).is_file()
    evaluate(_compose("evaluate", f"run={run}", "decode=greedy", f"output={tmp_path / 'e.json'}"))
    tune_length_penalty(_compose("length_penalty", f"run={run}", "penalties=[0.6,1.0]", "decode.beam_size=2"))
    written = plot(_compose("plot", f"run={run}", "src=alpha beta"))
    written += plot(_compose("plot", f"run={run}", "split=test", "n=1", "analysis=true"))
    assert written and all(not p.resolve().is_relative_to(run) for p in written)
    translator = nmt.load(run)
    sink = io.StringIO()
    translate_stream(translator, io.BytesIO(b"alpha beta\n"), sink, DecodeSettings("greedy"))
    assert sink.getvalue().count("\n") == 1
    options = {"strategy": "greedy", "n_best": 1, "beam_size": 1, "length_penalty": 0.6}
    options |= {"temperature": 1.0, "top_k": 0, "seed": None}
    ExplorerModel.from_translator("t", translator, Limits()).translate("alpha beta", options)
    compare([run, other], out=tmp_path / "report", decode=False, sentences=[0])
    assert (tmp_path / "nmt-output").is_dir()
