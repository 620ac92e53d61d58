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
    assert results["train"]["steps"] > 0 and results["train"]["wall_time_s"] > 0
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
