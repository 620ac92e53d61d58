"""Runs that survive: exact resume after SIGKILL, same seed twice, resume config, interrupts.

The trainings run in subprocesses (a SIGKILL must kill a real process, and deterministic mode is
process-wide), on the tiny reverse corpus; about 25 s in all on one core.
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import tiny_overrides

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EVERY = 4  # checkpoint.every_n_steps: the first checkpoint is at step 4

# Runs nmt.train.train in a fresh process; with KILL_AT, a test-only callback SIGKILLs the process
# at the end of that training step (after Lightning has done with the batch, before anything else).
SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    import pytorch_lightning as pl
    import torch
    sys.path.insert(0, {tests!r})
    from conftest import compose_train
    import nmt.training as T
    from nmt.resume import resume_config

    spec = json.loads(sys.argv[1])
    torch.set_num_threads(1)
    kill_at, sig = spec.get("kill_at"), getattr(signal, spec.get("signal", "SIGKILL"))
    if kill_at:
        class KillAt(pl.Callback):
            def on_train_batch_end(self, trainer, *args):
                if trainer.global_step == kill_at:
                    os.kill(os.getpid(), sig)

        make = T.build_callbacks
        def with_kill(cfg, run_dir):
            cbs = make(cfg, run_dir)
            cbs.all.insert(0, KillAt())
            return cbs
        T.build_callbacks = with_kill
    for run_dir in spec["runs"]:
        if spec.get("resume"):
            cfg = resume_config(__import__("pathlib").Path(run_dir), compose_train([]), [])
            results = T.train(cfg, run_dir, resume=True)
        else:
            results = T.train(compose_train(spec["overrides"]), run_dir)
        print("status:", results["status"])
    """
).format(tests=str(ROOT / "tests"))


def run_train(spec: dict, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(spec)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"training failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def metrics(run_dir: Path) -> list[dict]:
    """metrics.csv rows without the wall-clock column (the only one that may differ)."""
    with (run_dir / "metrics.csv").open(newline="") as f:
        return [{k: v for k, v in row.items() if k != "val/wall_time_s"} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def overrides(reverse_corpus, cache_dir) -> list[str]:
    return [
        *tiny_overrides(reverse_corpus, cache_dir, "rnn"),
        "trainer.max_epochs=2",
        "data.max_tokens=128",  # about 20 steps an epoch: room to stop mid-epoch
        "trainer.log_every_n_steps=1",
        "callbacks.heatmaps=null",
        "deterministic=true",
        f"checkpoint.every_n_steps={EVERY}",
    ]


@pytest.fixture(scope="module")
def reference_runs(overrides, tmp_path_factory) -> tuple[Path, Path]:
    """The same seed trained twice, uninterrupted."""
    root = tmp_path_factory.mktemp("uninterrupted")
    runs = [root / "a", root / "b"]
    run_train({"overrides": overrides, "runs": [str(r) for r in runs]})
    return runs[0], runs[1]


def test_the_same_seed_twice_gives_identical_metrics_and_bleu(reference_runs):
    a, b = reference_runs
    assert metrics(a) == metrics(b) and len(metrics(a)) > 20
    ra, rb = (json.loads((r / "results.json").read_text()) for r in (a, b))
    assert ra["test"]["bleu"] == rb["test"]["bleu"] and ra["status"] == "finished"
    assert (a / "hypotheses/test.txt").read_text() == (b / "hypotheses/test.txt").read_text()


def test_sigkill_then_resume_ends_exactly_like_an_uninterrupted_run(reference_runs, overrides, tmp_path):
    reference = reference_runs[0]
    train = json.loads((reference / "results.json").read_text())["train"]
    steps, per_epoch = train["steps"], train["steps"] // train["epochs"]
    kill_at = random.Random().choice([k for k in range(EVERY + 1, steps - 1) if k % EVERY and k % per_epoch])
    run_dir = tmp_path / "killed"
    killed = run_train({"overrides": overrides, "runs": [str(run_dir)], "kill_at": kill_at}, check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (run_dir / "results.json").exists()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()

    run_train({"resume": True, "runs": [str(run_dir)]})
    expected, got = metrics(reference), metrics(run_dir)
    assert got == expected, f"killed at step {kill_at}"
    results = json.loads((run_dir / "results.json").read_text())
    ref = json.loads((reference / "results.json").read_text())
    assert results["status"] == "finished" and results["train"]["steps"] == steps
    assert results["test"]["bleu"] == ref["test"]["bleu"], f"killed at step {kill_at}"
    assert results["tested_weights"] == ref["tested_weights"], f"killed at step {kill_at}"
    assert (run_dir / "hypotheses/test.txt").read_text() == (reference / "hypotheses/test.txt").read_text()
    saved = [k for k in range(1, kill_at) if k % EVERY == 0 or k % per_epoch == 0]  # periodic, validations
    assert [r["from_step"] for r in results["resumes"]] == [saved[-1]]


def test_subword_sampling_resumes_exactly_too(reference_runs, overrides, tmp_path):
    """data.sampling draws each epoch's pieces from (seed, epoch, pair): a resume must draw the same ones."""
    sampled = [*overrides, "data.sampling={alpha:0.1}"]
    reference, run_dir = tmp_path / "sampled", tmp_path / "sampled-killed"
    run_train({"overrides": sampled, "runs": [str(reference)]})
    assert metrics(reference) != metrics(reference_runs[0])  # the draws reached training
    train = json.loads((reference / "results.json").read_text())["train"]
    steps, per_epoch = train["steps"], train["steps"] // train["epochs"]
    kill_at = random.Random().choice([k for k in range(per_epoch + 1, steps - 1) if k % EVERY and k % per_epoch])
    killed = run_train({"overrides": sampled, "runs": [str(run_dir)], "kill_at": kill_at}, check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_train({"resume": True, "runs": [str(run_dir)]})
    assert metrics(run_dir) == metrics(reference), f"killed at step {kill_at} (epoch 2)"
    results, ref = (json.loads((r / "results.json").read_text()) for r in (run_dir, reference))
    assert results["test"]["bleu"] == ref["test"]["bleu"]


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_saves_reports_and_resumes_exactly(sig, reference_runs, overrides, tmp_path):
    reference = reference_runs[0]
    train = json.loads((reference / "results.json").read_text())["train"]
    steps, per_epoch = train["steps"], train["steps"] // train["epochs"]
    # Ctrl-C at an epoch's last batch: the stop must wait for that epoch's validation (a validation
    # cut short would be lost); SIGTERM at a random step inside an epoch.
    stop_at = (
        per_epoch if sig == "SIGINT" else random.Random().choice([k for k in range(2, steps - 1) if k % per_epoch])
    )
    run_dir = tmp_path / "interrupted"
    proc = run_train({"overrides": overrides, "runs": [str(run_dir)], "kill_at": stop_at, "signal": sig})
    assert "status: interrupted" in proc.stdout
    assert f"interrupted ({sig}) at step {stop_at}: saved checkpoints/last.ckpt at step {stop_at}" in proc.stdout
    assert "resume with: python -m nmt.train resume=" in proc.stdout
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "interrupted" and results["signal"] == sig
    assert results["train"]["steps"] == stop_at and results["last_checkpoint"] == "checkpoints/last.ckpt"
    assert results["resume_command"].endswith(str(run_dir)) and "test" not in results

    proc = run_train({"resume": True, "runs": [str(run_dir)]})
    assert "status: finished" in proc.stdout
    assert metrics(run_dir) == metrics(reference), f"stopped at step {stop_at}"
    results = json.loads((run_dir / "results.json").read_text())
    ref = json.loads((reference / "results.json").read_text())
    assert results["test"]["bleu"] == ref["test"]["bleu"]
    assert [r["from_step"] for r in results["resumes"]] == [stop_at]
