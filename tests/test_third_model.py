"""A third model from the test folder alone (tests/third_model/) runs train → evaluate → plot → compare.

It is registered the one trusted way (``plugins=third_model.uniform`` on each command line, with
tests/ on PYTHONPATH); nothing in ``nmt/`` knows it. Without ``plugins=`` its run folder is refused.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_overrides

from nmt.cli import prepare_argv
from nmt.models import registry
from nmt.results_table import describe_model

TESTS = Path(__file__).resolve().parent
PLUGIN = "plugins=third_model.uniform"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def _ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def uniform_attention(monkeypatch):
    """The model class, imported without registering it in this test process (nor its model=uniform)."""
    monkeypatch.setattr(registry, "register_model", lambda cls, **_: cls)
    monkeypatch.syspath_prepend(str(TESTS))
    yield importlib.import_module("third_model.uniform").UniformAttention
    for name in ("third_model.uniform", "third_model"):
        sys.modules.pop(name, None)


def test_the_model_keeps_the_decoding_contract(uniform_attention, monkeypatch):
    UniformAttention = uniform_attention
    torch.manual_seed(0)
    model = UniformAttention(11, 13, 0, 2, 3, False, emb_dim=8, hidden_dim=6).eval()
    src = torch.tensor([[4, 5, 6, 3], [7, 3, 0, 0]])
    mask = src != 0
    tgt_in = torch.tensor([[2, 4, 5], [2, 6, 0]])
    full, attn = model(src, mask, tgt_in, need_weights=True)
    state = model.init_state(model.encode(src, mask))
    for t in range(3):  # incremental == full
        out = model.step(tgt_in[:, t], state, need_weights=True)
        torch.testing.assert_close(out.logits, full[:, t])
        state = out.state
    assert attn.cross.shape == (2, 1, 1, 3, 4) and torch.allclose(attn.cross.sum(-1), torch.ones(2, 1, 1, 3))
    layout = model.attention_layout()
    assert (layout.layers, layout.heads, layout.self_attention, layout.single_map) == (1, 1, False, True)
    assert model.forward_flops(4, 3) > 0
    # Reports ask the registered class, found by the saved config's _target_.
    monkeypatch.setitem(registry._MODELS, registry.target_name(UniformAttention), UniformAttention)
    net = {"_target_": "third_model.uniform.UniformAttention", "hidden_dim": 6}
    assert describe_model({"model": "uniform", "config": {"model": {"net": net}}}) == "Uniform attention (GRU 6)"


def test_a_plugin_that_cannot_be_imported_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        prepare_argv("nmt.evaluate", "evaluate", argv=["nmt.evaluate", "plugins=[no_such_module_xyz]", "run=x"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert err.startswith("nmt.evaluate: error: plugins=no_such_module_xyz: cannot import it")


@pytest.mark.slow
def test_train_evaluate_plot_compare_a_model_defined_in_the_tests(reverse_corpus, cache_dir, rnn_run, tmp_path):
    run = tmp_path / "uniform"
    overrides = [o for o in tiny_overrides(reverse_corpus, cache_dir, "rnn") if not o.startswith("model")]
    overrides = [o for o in overrides if not o.startswith("trainer.max_epochs")]
    _ok(
        _run(
            "nmt.train",
            PLUGIN,
            "model=uniform",
            *overrides,
            "trainer.max_epochs=3",
            f"hydra.run.dir={run}",
            cwd=tmp_path,
        )
    )
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert results["model"] == "uniform" and results["status"] == "finished"
    assert (run / "hypotheses" / "test.txt").is_file()

    refused = _run("nmt.evaluate", f"run={run}", cwd=tmp_path)  # the folder alone cannot bring its model in
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "third_model.uniform.UniformAttention" in refused.stderr and "plugins=" in refused.stderr

    _ok(
        _run(
            "nmt.evaluate",
            PLUGIN,
            f"run={run}",
            "decode=greedy",
            f"output={tmp_path / 'eval.json'}",
            f"hypotheses={tmp_path / 'h.txt'}",
            cwd=tmp_path,
        )
    )
    report = json.loads((tmp_path / "eval.json").read_text(encoding="utf-8"))
    assert report["model"] == "uniform" and report["sentences"] == 24 and "bleu" in report

    _ok(_run("nmt.plot", PLUGIN, f"run={run}", "split=test", "n=2", f"output={tmp_path / 'plots'}", cwd=tmp_path))
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))  # the figures (thumbnails are in thumbs/)
    assert pngs == ["test-000-cross.png", "test-001-cross.png"]  # one map per sentence, as the model says
    assert sorted(p.name for p in (tmp_path / "plots" / "thumbs").glob("*.png")) == pngs

    out = tmp_path / "compare"
    _ok(_run("nmt.compare", str(run), str(rnn_run), f"out={out}", "decode_sentences=4", PLUGIN, cwd=tmp_path))
    summary = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert {r["label"] for r in summary["runs"]} == {"uniform", "rnn"}
    assert set(summary["decoding"]) == {"uniform", "rnn"} and (out / "heatmaps.png").is_file()
