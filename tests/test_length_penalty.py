"""nmt.length_penalty: the penalty is chosen on val alone, and test is decoded once with it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from nmt.evaluation import evaluate
from nmt.length_penalty import tune_length_penalty

CONF = Path(__file__).resolve().parents[1] / "conf"
pytestmark = pytest.mark.usefixtures("one_thread")


def compose_tune(run_dir: Path, *overrides: str):
    beam = [] if any(o.startswith("decode=") for o in overrides) else ["decode.beam_size=3"]  # the runs' beam
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="length_penalty", overrides=[f"run={run_dir}", *beam, *overrides])


@pytest.fixture
def run_copy(transformer_run, tmp_path) -> Path:
    return Path(shutil.copytree(transformer_run, tmp_path / "run"))


@pytest.fixture(autouse=True)
def _work_in_tmp(monkeypatch, tmp_path):
    """Default outputs go to ./nmt-output/ (nmt.outputs): into this test's folder, not the checkout."""
    monkeypatch.chdir(tmp_path)


def test_choice_is_the_best_on_val_and_test_is_decoded_once(run_copy):
    result = tune_length_penalty(compose_tune(run_copy, "penalties=[0.0,1.0,3.0]", "save=true"))  # as make multi30k
    tried = result["tried"]
    assert [t["length_penalty"] for t in tried] == [0.0, 1.0, 3.0]
    best = max(t["bleu"] for t in tried)
    assert result["chosen"] == next(t["length_penalty"] for t in tried if t["bleu"] == best)  # first of equals
    for t in tried:  # each val score is nmt.evaluate's own file
        written = json.loads(Path(t["output"]).read_text())
        assert written["split"] == "val" and written["decode"]["length_penalty"] == t["length_penalty"]
        assert written["bleu"] == t["bleu"]
    tests = sorted(p.name for p in (run_copy / "eval").glob("test.*.json"))
    assert tests == [f"test.tested.beam3-lp{result['chosen']:g}.json"]  # one test decode, with the choice
    saved = json.loads((run_copy / "eval" / "length_penalty.json").read_text())
    assert saved["chosen"] == result["chosen"] and saved["tuned_on"] == "val" and saved["split"] == "test"
    assert saved["test"]["signature"]["bleu"].startswith("nrefs:1|case:mixed")
    assert saved["test"]["decode"]["length_penalty"] == result["chosen"]
    assert saved["checkpoint"] and saved["config"]["checkpoint"] == "tested"


def test_the_test_scores_equal_a_plain_evaluate_with_the_chosen_penalty(run_copy, tmp_path):
    result = tune_length_penalty(compose_tune(run_copy, "penalties=[0.0,2.0]"))
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="evaluate",
            overrides=[
                f"run={run_copy}", "checkpoint=tested", "decode.beam_size=3",
                f"decode.length_penalty={result['chosen']}", f"output={tmp_path / 'plain.json'}",
                f"hypotheses={tmp_path / 'plain.txt'}",
            ],
        )  # fmt: skip
    plain = evaluate(cfg)
    assert plain["bleu"] == result["test"]["bleu"] and plain["chrf"] == result["test"]["chrf"]
    assert (tmp_path / "plain.txt").read_text() == Path(result["test"]["hypotheses"]).read_text()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["decode=greedy"], "beam search only"),
        (["tune_split=test"], "tune on a held-out split"),
        (["metric=ter"], "metric=ter"),
        (["penalties=[]"], "penalties=\\[\\]"),
        (["src_file=a.txt", "ref_file=b.txt"], "src_file/ref_file"),
    ],
)
def test_config_mistakes_stop_before_any_decode(run_copy, overrides, message):
    with pytest.raises(ValueError, match=message):
        tune_length_penalty(compose_tune(run_copy, *overrides))
    assert not (run_copy / "eval").exists() and not Path("nmt-output").exists()


def test_command_line_error_is_one_line(run_copy, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "nmt.length_penalty", f"run={tmp_path / 'missing'}"],
        capture_output=True, text=True, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "missing: no such folder" in done.stderr  # nmt.cli, before loading
