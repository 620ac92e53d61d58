"""The train function end to end through Hydra compose, on tiny configs."""

import json

import pytest

from nmt.checkpoint import load_run


@pytest.mark.parametrize("fixture", ["transformer_run", "rnn_run"])
def test_train_writes_a_complete_run_folder(fixture, request):
    run_dir = request.getfixturevalue(fixture)
    results = json.loads((run_dir / "results.json").read_text())
    for key in ("model", "data", "src_lang", "tgt_lang", "params", "best_checkpoint", "data_fingerprint"):
        assert key in results
    assert results["model"] == fixture.removesuffix("_run")
    assert results["hardware"]["cpu_model"] and results["hardware"]["cpus"] >= 1  # steps per minute depend on it
    assert results["train"]["steps"] > 0 and results["train"]["wall_time_s"] > 0
    assert results["train"]["epochs_done"] == float(results["train"]["epochs"])  # no time limit: whole epochs
    test = results["test"]
    assert 0 <= test["bleu"] <= 100 and 0 <= test["chrf"] <= 100
    assert test["signature"]["bleu"].startswith("nrefs:1|case:mixed")
    assert "chrF2" in test["signature"]["chrf"] or "nc:6" in test["signature"]["chrf"]
    assert (run_dir / results["best_checkpoint"]).is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "metrics.csv").read_text().startswith(("epoch", "step", "lr", "train", "val"))
    hyps = (run_dir / "hypotheses" / "test.txt").read_text(encoding="utf-8").splitlines()
    assert len(hyps) == test["sentences"] == 24
    assert (run_dir / "config.yaml").is_file() and (run_dir / "vocab" / "vocab.json").is_file()


def test_training_lowers_the_validation_loss(transformer_run):
    import csv

    rows = list(csv.DictReader((transformer_run / "metrics.csv").open()))
    val = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    assert len(val) >= 2 and val[-1] < val[0]


def test_run_folder_reloads(transformer_run):
    run = load_run(transformer_run)
    assert not run.model.training
    assert run.vocab.pad_id == run.model.pad_id == 0


def test_val_wall_time_is_logged_at_every_validation(rnn_run):
    import csv

    rows = [r for r in csv.DictReader((rnn_run / "metrics.csv").open()) if r.get("val/bleu")]
    walls = [float(r["val/wall_time_s"]) for r in rows]
    assert len(walls) == 20  # one per epoch
    assert all(b > a for a, b in zip(walls, walls[1:], strict=False)) and walls[0] > 0
    results = json.loads((rnn_run / "results.json").read_text())
    assert walls[-1] <= results["train"]["wall_time_s"]


def test_averaging_more_checkpoints_than_kept_fails_before_training(reverse_corpus, cache_dir, tmp_path):
    from conftest import compose_train, tiny_overrides

    from nmt.training import train

    cfg = compose_train([*tiny_overrides(reverse_corpus, cache_dir, "rnn"), "checkpoint.average=4"])
    with pytest.raises(ValueError, match=r"checkpoint.average=4 but checkpoint.keep_last=3"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_checkpoint_average_is_tested_only_when_its_val_bleu_is_higher(reverse_corpus, cache_dir, tmp_path):
    from conftest import compose_train, tiny_overrides

    from nmt.training import train

    overrides = [*tiny_overrides(reverse_corpus, cache_dir, "rnn"), "trainer.max_epochs=6", "checkpoint.average=3"]
    results = train(compose_train(overrides), tmp_path)
    tested = results["tested_weights"]
    if tested["averaged"]:  # the average won on the validation split
        assert tested["checkpoint"] == "average of 3" and len(tested["averaged"]) == 3
        assert tested["val_bleu"] > tested["best"]["val_bleu"]
        assert [f.split("-")[0] for f in tested["averaged"]] == ["epoch003", "epoch004", "epoch005"]
    else:
        assert tested["checkpoint"] == results["best_checkpoint"]
        assert tested["average_val_bleu"]["val_bleu"] <= tested["val_bleu"]
        assert len(tested["average_val_bleu"]["files"]) == 3


def test_a_folder_with_checkpoints_of_another_run_is_refused_before_training(transformer_run, tmp_path):
    import shutil

    from conftest import compose_train

    from nmt.training import train

    run_dir = shutil.copytree(transformer_run, tmp_path / "run")
    before = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    with pytest.raises(ValueError, match=r"checkpoints: holds \d+ checkpoint\(s\) of an earlier run"):
        train(compose_train([]), run_dir)  # fails before the data is even read
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == before


def test_metrics_steps_match_checkpoint_names(rnn_run):
    import csv
    import re

    rows = list(csv.DictReader((rnn_run / "metrics.csv").open()))
    val_steps = {int(r["step"]) for r in rows if r.get("val/bleu")}
    results = json.loads((rnn_run / "results.json").read_text())
    assert max(val_steps) == results["train"]["steps"]  # the last validation is after the last update
    named = {
        int(m.group(1)) for p in (rnn_run / "checkpoints").glob("*.ckpt") if (m := re.search(r"step(\d+)", p.name))
    }
    assert named and named <= val_steps  # a checkpoint saved at a validation has that validation's step
    first_loss = min(int(r["step"]) for r in rows if r.get("train/loss"))
    assert first_loss == 5  # log_every_n_steps=5: the loss of the 5th update
