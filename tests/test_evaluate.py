"""nmt.evaluate (function and command) and checkpoint averaging."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu
import torch
from hydra import compose, initialize_config_dir

from nmt.checkpoint import CheckpointError, average_checkpoints, build_model, load_run, load_weights, select_checkpoints
from nmt.corpora.base import CorpusError
from nmt.evaluation import decode_tag, evaluate

CONF = Path(__file__).resolve().parents[1] / "conf"


pytestmark = pytest.mark.usefixtures("one_thread")


def compose_eval(run_dir: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="evaluate", overrides=[f"run={run_dir}", *overrides])


@pytest.fixture
def run_copy(transformer_run, tmp_path) -> Path:
    """A private copy of the run folder, so tests may add files to it."""
    return Path(shutil.copytree(transformer_run, tmp_path / "run"))


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


@pytest.fixture(autouse=True)
def _work_in_tmp(monkeypatch, tmp_path):
    """Default outputs go to ./nmt-output/ (nmt.outputs): into this test's folder, not the checkout."""
    monkeypatch.chdir(tmp_path)


# ---- evaluate, as a function ---------------------------------------------------------------------


def test_reloaded_run_reproduces_the_test_hypotheses_of_training(rnn_run, tmp_path):
    """The run's own test decode (in memory, right after training) == a fresh load of the best checkpoint."""
    decode = json.loads((rnn_run / "results.json").read_text())["test"]["decode"]
    report = evaluate(
        compose_eval(
            rnn_run,
            f"decode.beam_size={decode['beam_size']}",
            f"hypotheses={tmp_path / 'h.txt'}",
            f"output={tmp_path / 'r.json'}",
        )
    )
    assert _lines(tmp_path / "h.txt") == _lines(rnn_run / "hypotheses" / "test.txt")
    assert report["bleu"] == json.loads((rnn_run / "results.json").read_text())["test"]["bleu"]


def test_scores_equal_sacrebleu_on_the_written_files(transformer_run, reverse_corpus, tmp_path):
    # Sampling gives non-empty, varied hypotheses from the barely trained model: a real check.
    out = tmp_path / "val.json"
    report = evaluate(compose_eval(transformer_run, "split=val", "decode=sample", "decode.seed=3", f"output={out}"))
    saved = json.loads(out.read_text())
    hyps, refs = _lines(Path(saved["hypotheses"])), _lines(reverse_corpus / "val.tgt")
    assert len(hyps) == len(refs) == saved["sentences"] == 24 and any(hyps)
    assert saved["bleu"] == round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2)
    assert saved["chrf"] == round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2)
    assert saved["bleu_lc"] == round(sacrebleu.corpus_bleu(hyps, [refs], lowercase=True).score, 2)
    assert saved["signature"]["bleu_lc"].startswith("nrefs:1|case:lc")
    for key in ("chrf", "bleu", "signature", "decode", "checkpoint", "wall_time_s", "sentences_per_s"):
        assert key in saved
    assert (saved["split"], saved["model"], saved["src_lang"], saved["tgt_lang"]) == ("val", "transformer", "xx", "yy")
    assert saved["decode"]["strategy"] == "sample" and saved["checkpoint"].startswith("checkpoints/best-")
    assert report["output"] == str(out)


def test_default_paths_and_a_gzipped_file_pair(run_copy, reverse_corpus):
    src, ref = run_copy / "held-out.xx.gz", run_copy / "held-out.yy"
    src.write_bytes(gzip.compress((reverse_corpus / "test.src").read_bytes()))
    shutil.copy(reverse_corpus / "test.tgt", ref)
    report = evaluate(compose_eval(run_copy, f"src_file={src}", f"ref_file={ref}", "decode=greedy"))
    assert report["split"] is None and report["sentences"] == 24
    out = Path("nmt-output") / run_copy.parent.name / run_copy.name  # outside the run folder
    assert Path(report["hypotheses"]) == out / "hypotheses" / "held-out.xx.greedy.txt"
    assert Path(report["output"]) == out / "eval" / "held-out.xx.greedy.json"
    assert not (run_copy / "hypotheses" / "held-out.xx.greedy.txt").exists() and not (run_copy / "eval").exists()
    saved = evaluate(compose_eval(run_copy, f"src_file={src}", f"ref_file={ref}", "decode=greedy", "save=true"))
    assert Path(saved["output"]) == run_copy / "eval" / "held-out.xx.greedy.json"  # save=true: as asked
    assert json.loads(Path(report["output"]).read_text())["src_file"] == str(src)


def test_unknown_split_names_the_known_ones(transformer_run):
    with pytest.raises(CorpusError) as err:
        evaluate(compose_eval(transformer_run, "split=test_2017_flickr"))
    message = str(err.value)
    assert "\n" not in message and "test_2017_flickr" in message and "train, val, test" in message


def test_decode_tags_name_the_choice():
    from nmt.search import DecodeSettings

    assert decode_tag(DecodeSettings("beam", beam_size=5)) == "beam5-lp0.6"
    assert decode_tag(DecodeSettings("greedy"), "last") == "last.greedy"
    assert decode_tag(DecodeSettings("greedy"), average=3) == "avg3.greedy"


# ---- checkpoint averaging --------------------------------------------------------------------------


def _fake_ckpt(path: Path, **weights: torch.Tensor) -> Path:
    torch.save({"state_dict": {f"model.{k}": v for k, v in weights.items()}, "epoch": 0}, path)
    return path


def test_averaging_identical_checkpoints_is_the_identity(tmp_path):
    w = torch.randn(3, 4)
    a = _fake_ckpt(tmp_path / "a.ckpt", w=w, b=torch.arange(3.0))
    b = _fake_ckpt(tmp_path / "b.ckpt", w=w.clone(), b=torch.arange(3.0))
    avg = average_checkpoints([a, b])
    assert torch.equal(avg["w"], w) and torch.equal(avg["b"], torch.arange(3.0))


def test_averaging_different_checkpoints_gives_their_mean(tmp_path):
    w1, w2 = torch.randn(3, 4), torch.randn(3, 4)
    avg = average_checkpoints([_fake_ckpt(tmp_path / "a.ckpt", w=w1), _fake_ckpt(tmp_path / "b.ckpt", w=w2)])
    assert avg["w"].dtype == torch.float32
    assert torch.allclose(avg["w"], (w1 + w2) / 2, atol=1e-7)
    with pytest.raises(CheckpointError, match="other weights"):
        average_checkpoints([tmp_path / "a.ckpt", _fake_ckpt(tmp_path / "c.ckpt", v=w1)])


def test_average_picks_the_most_recent_epoch_checkpoints(run_copy):
    ckpts = run_copy / "checkpoints"
    best = next(ckpts.glob("best-*.ckpt"))
    for own in ckpts.glob("epoch*.ckpt"):  # the run's real epoch checkpoints: replaced by known steps
        own.unlink()
    for step in (10, 200, 30):  # by step, not by name order: 10 < 30 < 200
        shutil.copy(best, ckpts / f"epoch{step:03d}-step{step:06d}.ckpt")
    chosen = select_checkpoints("best", run_copy, 2)
    assert [p.name for p in chosen] == ["epoch030-step000030.ckpt", "epoch200-step000200.ckpt"]
    with pytest.raises(CheckpointError, match="average=4 needs 4 checkpoints, found 3"):
        select_checkpoints("best", run_copy, 4)
    # Averaging copies of one checkpoint translates exactly as that checkpoint does.
    plain = evaluate(compose_eval(run_copy, "decode=greedy", "split=val"))
    averaged = evaluate(compose_eval(run_copy, "decode=greedy", "split=val", "average=3"))
    assert _lines(Path(plain["hypotheses"])) == _lines(Path(averaged["hypotheses"]))
    assert Path(averaged["output"]).name == "val.avg3.greedy.json" and len(averaged["averaged_checkpoints"]) == 3
    assert load_run(run_copy, f"{ckpts}/epoch*.ckpt", average=2).averaged == chosen


def test_a_truncated_checkpoint_is_a_one_line_error_naming_the_file(run_copy):
    best = next((run_copy / "checkpoints").glob("best-*.ckpt"))
    broken = run_copy / "broken.ckpt"
    broken.write_bytes(best.read_bytes()[: best.stat().st_size // 2])
    with pytest.raises(CheckpointError) as err:
        load_weights(broken)
    assert str(broken) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="broken.ckpt"):
        load_run(run_copy, str(broken))


# ---- the command -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_command_writes_only_its_outputs_and_prints_one_line(run_copy, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    cmd = [sys.executable, "-m", "nmt.evaluate", f"run={run_copy}", "split=val", "decode=beam", "decode.beam_size=2"]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = done.stdout.strip().splitlines()
    assert len(summary) == 1 and "BLEU" in summary[0] and "chrF" in summary[0] and "sent/s" in summary[0]
    assert "nrefs:1|case:mixed" in summary[0]
    assert [p.name for p in cwd.iterdir()] == ["nmt-output"]  # no .hydra/, outputs/ or log files
    written = cwd / "nmt-output" / run_copy.parent.name / run_copy.name / "eval" / "val.beam2-lp0.6.json"
    assert json.loads(written.read_text())["sentences"] == 24

    bad = subprocess.run([*cmd[:3], f"run={run_copy}", "split=nope"], cwd=cwd, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "known: train, val, test" in bad.stderr


def test_checkpoint_tested_loads_what_train_scored(run_copy):
    results = json.loads((run_copy / "results.json").read_text())
    run = load_run(run_copy, "tested")  # this run tested its best checkpoint
    assert run.checkpoint == run_copy / results["best_checkpoint"] and run.averaged == []
    epochs = sorted((run_copy / "checkpoints").glob("epoch*.ckpt"))[-2:]
    results["tested_weights"] = {
        "checkpoint": "average of 2",
        "averaged": [str(p.relative_to(run_copy)) for p in epochs],
    }
    (run_copy / "results.json").write_text(json.dumps(results))
    run = load_run(run_copy, "tested")
    assert run.averaged == epochs
    expected = average_checkpoints(epochs)
    assert all(torch.equal(v, expected[k]) for k, v in run.model.state_dict().items())
    with pytest.raises(ValueError, match="drop average=2"):
        load_run(run_copy, "tested", average=2)
    (run_copy / "results.json").unlink()
    with pytest.raises(CheckpointError, match="results.json: unreadable.*use best or last"):
        load_run(run_copy, "tested")


def test_all_empty_hypotheses_get_a_warning(transformer_run, tmp_path, caplog):
    out = tmp_path / "empty.json"
    args = ("decode=greedy", "decode.max_len_a=0", "decode.max_len_b=0", f"output={out}", f"hypotheses={out}.txt")
    with caplog.at_level(logging.WARNING, logger="nmt.metrics"):
        report = evaluate(compose_eval(transformer_run, *args))
    assert report["bleu"] == 0.0
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [f"all {report['sentences']} hypotheses are empty"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nmt.metrics"):
        evaluate(compose_eval(transformer_run, "decode=greedy", f"output={out}", f"hypotheses={out}.txt"))
    assert "empty" not in caplog.text


def test_an_average_far_below_the_best_checkpoint_gets_a_warning(run_copy, caplog):
    ckpts = run_copy / "checkpoints"
    pool = sorted(ckpts.glob("epoch*.ckpt"))
    for path in pool:  # a pool of copies of the best checkpoint: its average scores as the best
        shutil.copy(next(ckpts.glob("best-*.ckpt")), path)
    with caplog.at_level(logging.WARNING, logger="nmt.evaluate"):
        good = evaluate(compose_eval(run_copy, "decode=greedy", "average=2"))
    assert good["average_check"]["val_bleu"] == good["average_check"]["best_checkpoint_val_bleu"] > 10
    assert "below the best" not in caplog.text
    assert [p.name for p in pool[-2:]] == [Path(p).name for p in good["averaged_checkpoints"]]  # the newest two
    run = load_run(run_copy)
    untrained = build_model(run.config.model, run.vocab).state_dict()
    state = torch.load(pool[-1], weights_only=True)
    state["state_dict"] = {f"model.{k}": v for k, v in untrained.items()}
    torch.save(state, pool[-1])  # the newest pool checkpoint: weights as at initialisation
    with caplog.at_level(logging.WARNING, logger="nmt.evaluate"):
        bad = evaluate(compose_eval(run_copy, "decode=greedy", "average=2"))
    check = bad["average_check"]
    assert check["val_bleu"] < check["best_checkpoint_val_bleu"] - 1
    assert f"average=2: the averaged weights score val BLEU {check['val_bleu']:.2f}" in caplog.text
