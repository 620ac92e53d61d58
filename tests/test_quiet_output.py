"""The commands print only lines worth reading: no third-party warnings, tips or tqdm bars in logs."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_overrides, write_reverse_corpus

from nmt.metrics import corpus_scores

WARNING_LINE = re.compile(r"warn|deprecat|tip:|detokeni|not empty", re.IGNORECASE)  # incl. unprefixed ones
NOTE = "nmt: note:"


def _run(args: list[str], cwd: Path) -> str:
    """stdout and stderr of ``python -m <args>`` (not a terminal), which must succeed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    done = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def _tokenised_corpus(root: Path) -> None:
    """The reverse corpus with a split-off period on every line, as the toy corpus is tokenised,
    and enough val/test lines (120) for sacreBLEU's tokenised-input check to fire."""
    write_reverse_corpus(root, n_train=400, n_eval=120)
    for path in root.glob("*.src"):
        for side in (path, path.with_suffix(".tgt")):
            lines = side.read_text(encoding="utf-8").splitlines()
            side.write_text("".join(f"{line} .\n" for line in lines), encoding="utf-8")


def _train(model: str, corpus: Path, cache: Path, run_dir: Path, cwd: Path) -> str:
    keep_defaults = ("trainer.enable_progress_bar=", "trainer.log_every_n_steps=", "trainer.max_epochs=")
    overrides = [o for o in tiny_overrides(corpus, cache, model) if not o.startswith(keep_defaults)]
    return _run(["nmt.train", *overrides, "trainer.max_epochs=4", f"hydra.run.dir={run_dir}"], cwd)


def _warning_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if WARNING_LINE.search(line)]


@pytest.mark.slow
def test_train_evaluate_compare_print_no_warnings(tmp_path):
    corpus, cache = tmp_path / "corpus", tmp_path / "cache"
    _tokenised_corpus(corpus)
    outputs = {
        "train": _train("transformer", corpus, cache, tmp_path / "runs/transformer", tmp_path),
        "train rnn": _train("rnn", corpus, cache, tmp_path / "runs/rnn", tmp_path),
    }
    run = tmp_path / "runs/rnn"  # its 4 epochs already end each line in " ." as the references do
    outputs["evaluate"] = _run(
        ["nmt.evaluate", f"run={run}", "decode.beam_size=3", f"output={tmp_path}/e.json"], tmp_path
    )
    outputs["compare"] = _run(
        ["nmt.compare", str(tmp_path / "runs"), f"out={tmp_path / 'cmp'}", "decode_sentences=8"], tmp_path
    )
    for name, output in outputs.items():
        assert _warning_lines(output) == [], f"{name}:\n{output}"
        assert "\r" not in output and "it/s" not in output, f"{name}: a progress bar in a log:\n{output}"
        assert "Tip:" not in output and "detokenize" not in output, f"{name}:\n{output}"
        assert output.count(NOTE) <= 1, f"{name}: the tokenised-text note more than once:\n{output}"
    assert re.search(r"^epoch 3 step \d+: .*val/bleu=", outputs["train"], re.MULTILINE), outputs["train"]
    assert NOTE in outputs["evaluate"], "the tokenised test set is noted once, in our own words"


def test_tokenised_note_is_one_line_once_per_process(capsys, caplog, monkeypatch):
    import nmt.metrics

    monkeypatch.setattr(nmt.metrics, "_noted", False)
    tokenised = [f"w{i} x ." for i in range(150)]
    for _ in range(3):
        corpus_scores(tokenised, tokenised)
    err = capsys.readouterr().err
    assert err.count(NOTE) == 1 and len(err.splitlines()) == 1, err
    assert "tokenised" in err and "as written" in err
    assert not [r for r in caplog.records if r.name.startswith("sacrebleu")], "sacreBLEU's own warning is silenced"
    corpus_scores(["plain text"] * 150, ["plain text"] * 150)
    assert capsys.readouterr().err == ""


def test_profiler_lines_are_dropped_and_other_stderr_kept(capfd):
    import torch

    from nmt.quiet import profiler_chatter_dropped

    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
    with profiler_chatter_dropped():
        profiler.start()
        print("a line of ours", file=sys.stderr)
    torch.nn.Linear(4, 4)(torch.randn(2, 4))
    with profiler_chatter_dropped():
        profiler.stop()
    err = capfd.readouterr().err
    assert "USDT" not in err and "a line of ours" in err, err
    assert len(profiler.key_averages()) > 0


def test_the_model_summary_loses_its_zero_flop_count_only():
    from nmt.quiet import _DropNoise

    summary = "  | Name  | Type\n5.8 M     Total params\n0         Modules in eval mode\n0         Total Flops"
    record = logging.LogRecord("pytorch_lightning", logging.INFO, __file__, 1, summary, None, None)
    assert _DropNoise().filter(record)
    assert record.getMessage() == summary.removesuffix("\n0         Total Flops")
    measured = logging.LogRecord("pytorch_lightning", logging.INFO, __file__, 1, "1.2 G     Total Flops", None, None)
    assert _DropNoise().filter(measured) and measured.getMessage() == "1.2 G     Total Flops"
    tip = logging.LogRecord("pytorch_lightning", logging.INFO, __file__, 1, "💡 Tip: install litlogger", None, None)
    assert not _DropNoise().filter(tip)


def test_the_ddp_sync_advice_is_dropped_for_the_metrics_every_rank_computes_alike():
    import warnings

    import pytorch_lightning.trainer.connectors.logger_connector.result as result

    from nmt.quiet import quiet_lightning

    module = "pytorch_lightning.trainer.connectors.logger_connector.result"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_lightning()
        for key in ("val/bleu", "val/wall_time_s", "val/loss"):
            message = f"It is recommended to use `self.log({key!r}, ..., sync_dist=True)` when logging on epoch level"
            warnings.warn_explicit(message, UserWarning, result.__file__, 433, module=module)
    assert [str(w.message).split("'")[1] for w in caught] == ["val/loss"]  # a metric of yours still warns
