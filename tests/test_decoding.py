"""nmt.decoding: one batching, one truncation rule, one decode-and-score path for training and every command."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

import nmt
from nmt.decoding import check_max_tokens, check_workers, cut_sources, decode_batches, decode_ids
from nmt.errors import ConfigError
from nmt.evaluation import evaluate
from nmt.search import DecodeSettings

CONF = Path(__file__).resolve().parents[1] / "conf"
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(("budget", "rows"), [(1, 1), (40, 1), (40, 3), (1000, 5)])
def test_batches_cover_every_sentence_once_within_the_budget(budget, rows):
    rng = random.Random(budget + rows)
    lengths = [rng.randint(1, 30) for _ in range(200)]
    batches = decode_batches(lengths, budget, rows)
    assert sorted(k for b in batches for k in b) == list(range(len(lengths)))
    for batch in batches:  # sentences × rows × longest within budget, or a sentence alone
        assert len(batch) == 1 or len(batch) * rows * max(lengths[k] for k in batch) <= budget
    flat = [lengths[k] for b in batches for k in b]
    assert flat == sorted(flat)  # length-sorted: little padding
    if budget == 1:
        assert all(len(b) == 1 for b in batches)


def test_more_beams_make_smaller_batches():
    lengths = [10] * 100
    assert [len(b) for b in decode_batches(lengths, 500, 1)] == [50, 50]
    assert [len(b) for b in decode_batches(lengths, 500, 5)] == [10] * 10


def test_the_truncation_rule_cuts_never_drops():
    ids, cut = cut_sources([[1, 2, 3, 4], [5], []], 2)
    assert ids == [[1, 2], [5], []] and cut == [True, False, False]
    assert cut_sources([[1, 2, 3]], None) == ([[1, 2, 3]], [False])


def test_greedy_output_does_not_depend_on_the_batch_budget(transformer_run):
    translator = nmt.load(transformer_run)
    sources = _test_sources(transformer_run)
    outputs = {budget: translator.translate(sources, strategy="greedy", max_tokens=budget) for budget in (1, 37, 10**6)}
    assert outputs[1] == outputs[37] == outputs[10**6] and any(outputs[1])


def _test_sources(run: Path) -> list[str]:
    import yaml

    cfg = yaml.safe_load((Path(run) / "config.yaml").read_text(encoding="utf-8"))
    return Path(cfg["data"]["corpus"]["test"]["src"]).read_text(encoding="utf-8").splitlines()


def test_training_and_evaluate_write_the_same_test_hypotheses(transformer_run, tmp_path):
    """One path: nmt.train's test decode and nmt.evaluate on the tested checkpoint with its settings agree."""
    run = Path(transformer_run)
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    decode = [f"++decode.{k}={'null' if v is None else v}" for k, v in results["test"]["decode"].items()]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="evaluate",
            overrides=[
                f"run={run}",
                "checkpoint=tested",
                *decode,
                "max_tokens=100",  # another budget than training's: batching must not matter
                f"hypotheses={tmp_path / 'hyp.txt'}",
                f"output={tmp_path / 'eval.json'}",
            ],
        )
    report = evaluate(cfg)
    trained = (run / results["test"]["hypotheses"]).read_text(encoding="utf-8")
    assert (tmp_path / "hyp.txt").read_text(encoding="utf-8") == trained and trained.strip()
    for key in ("bleu", "chrf", "bleu_lc", "signature", "decode", "max_len", "truncated_sources"):
        assert report[key] == results["test"][key], key


def test_test_scores_reach_the_trainers_loggers(transformer_run):
    """test/bleu and test/chrf are logged through Lightning's loggers: metrics.csv has them."""
    results = json.loads((Path(transformer_run) / "results.json").read_text(encoding="utf-8"))
    with open(Path(transformer_run) / "metrics.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("test/bleu")]
    assert len(rows) == 1
    assert float(rows[0]["test/bleu"]) == pytest.approx(results["test"]["bleu"])
    assert float(rows[0]["test/chrf"]) == pytest.approx(results["test"]["chrf"])
    assert int(rows[0]["step"]) == results["train"]["steps"]


@pytest.mark.parametrize(
    "settings",
    [
        DecodeSettings("beam", beam_size=3, n_best=2),
        DecodeSettings("greedy"),
        DecodeSettings("sample", seed=3),
    ],
    ids=lambda s: s.strategy,
)
def test_decoding_processes_give_the_same_hypotheses(transformer_run, settings):
    """workers=2 decodes the batches in two processes: the same hypotheses, scores and attention, in order."""
    translator = nmt.load(transformer_run)
    sources = _test_sources(transformer_run)[:40]
    one, two = (translator.decode(sources, settings, 60, need_weights=True, workers=w) for w in (1, 2))
    assert len(decode_batches([len(s.split()) for s in sources], 60, 3)) > 2  # several batches to share
    assert [[t.text for t in row] for row in two] == [[t.text for t in row] for row in one]
    assert [[t.score for t in row] for row in two] == [[t.score for t in row] for row in one]
    pairs = [(a, b) for r1, r2 in zip(one, two, strict=True) for a, b in zip(r1, r2, strict=True)]
    assert all(torch.equal(a.attention, b.attention) for a, b in pairs if a.attention is not None)
    assert any(a.attention is not None for a, _ in pairs)


def test_evaluate_records_its_decoding_processes(transformer_run, tmp_path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="evaluate",
            overrides=[
                f"run={transformer_run}",
                "workers=2",
                "max_tokens=200",
                f"output={tmp_path / 'e.json'}",
                f"hypotheses={tmp_path / 'h.txt'}",
            ],
        )
    two = evaluate(cfg)
    cfg.workers, cfg.output, cfg.hypotheses = 1, str(tmp_path / "e1.json"), str(tmp_path / "h1.txt")
    one = evaluate(cfg)
    assert (two["workers"], one["workers"]) == (2, 1) and two["bleu"] == one["bleu"]
    assert (tmp_path / "h.txt").read_text(encoding="utf-8") == (tmp_path / "h1.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("max_tokens", [1, 4096], ids=["two batches", "one batch"])
def test_decoding_processes_need_a_cpu_model(transformer_run, max_tokens):
    model = nmt.load(transformer_run).model.to("meta")
    with pytest.raises(ConfigError, match="workers=2 decodes in CPU processes.*use workers=1"):
        decode_ids(model, [[5, 6], [7]], DecodeSettings("greedy"), max_tokens=max_tokens, workers=2)


@pytest.mark.parametrize("workers", ["0", "-1", "1.5", "two"])
def test_bad_worker_counts_fail_before_loading(tmp_path, workers):
    """A bad ``workers`` is a one-line error naming it, before the run folder is even read."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=[f"run={tmp_path / 'missing'}", f"workers={workers}"])
    with pytest.raises(ConfigError, match=f"workers={workers}: give the number of decoding processes"):
        evaluate(cfg)
    assert check_workers("2") == 2 and check_workers(1, "cpu") == 1


@pytest.mark.parametrize("max_tokens", ["0", "-4", "1.5", "many", "true"])
@pytest.mark.parametrize("command", ["evaluate", "length_penalty"])
def test_bad_batch_budgets_fail_before_loading(tmp_path, command, max_tokens):
    """A bad ``max_tokens`` is a one-line error naming it before the run folder is read, not a
    traceback from the batching after minutes of loading."""
    from nmt.length_penalty import tune_length_penalty

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=command, overrides=[f"run={tmp_path / 'missing'}", f"max_tokens={max_tokens}"])
    with pytest.raises(ConfigError, match=rf"(?i)^max_tokens={max_tokens}: give the batch budget .* whole number >= 1"):
        {"evaluate": evaluate, "length_penalty": tune_length_penalty}[command](cfg)
    assert check_max_tokens(1) == 1 and check_max_tokens(4096) == 4096
    with pytest.raises(ConfigError, match="workers=2 decodes in CPU processes.*cuda:0"):
        check_workers(2, "cuda:0")
