"""``nmt.train trainer=ddp`` with 2 CPU processes (gloo) against one process with the same global batch."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nmt

ROOT = Path(__file__).resolve().parents[1]
COMMON = [
    "model=transformer",
    "data=toy",
    "data.corpus.n_train=3000",
    "data.corpus.n_val=60",
    "data.corpus.n_test=60",
    "model.net.d_model=32",
    "model.net.n_heads=4",
    "model.net.enc_layers=2",
    "model.net.dec_layers=2",
    "model.net.d_ff=64",
    "model.scheduler.warmup_steps=30",
    "model.scheduler.cooldown=0.3",
    # a time limit far away: the step budget decides the rate, but under DDP the time fraction
    # takes the broadcast path (rank 0's clock for both ranks)
    "trainer.max_time=00:01:00:00",
    "model.optimizer.lr=5e-3",
    "trainer.max_epochs=6",
    "trainer.num_sanity_val_steps=0",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=5",
    "callbacks.heatmaps=null",
    "decode=greedy",
    "checkpoint.every_n_steps=0",
    "threads=1",
]
# Per process: 2 × 512 tokens under DDP is the global batch of 1024 in one process.
DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "data.max_tokens=512"]
SINGLE = ["data.max_tokens=1024"]
# conf/trainer/ddp.yaml keeps the gradients as views into DDP's buckets; this run copies them instead.
DDP_COPIES = [*DDP, "trainer.strategy.gradient_as_bucket_view=false"]
# The two runs cut different batches (a budget of 512 twice is not one of 1024, and DDP repeats a
# few batches to give both ranks as many), so their figures agree only this closely:
LOSS_TOLERANCE = 0.10  # relative difference of the last val/loss
COUNT_TOLERANCE = 0.10  # relative difference of steps and of target tokens


def _train(run_dir: Path, cache: Path, extra: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NMT_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "nmt.train", *COMMON, *extra, f"hydra.run.dir={run_dir}"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((run_dir / "results.json").read_text())


def _val_losses(run_dir: Path) -> list[float]:
    rows = csv.DictReader((run_dir / "metrics.csv").open())
    return [float(r["val/loss"]) for r in rows if r.get("val/loss")]


def _learning_rates(run_dir: Path) -> list[float]:
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    column = next(k for k in rows[0] if k.startswith("lr-"))
    return [float(r[column]) for r in rows if r.get(column)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    cache = tmp_path_factory.mktemp("cache")
    root = tmp_path_factory.mktemp("runs")
    named = {"single": SINGLE, "ddp": DDP, "ddp_copies": DDP_COPIES}
    for name, extra in named.items():
        _train(root / name, cache, extra)
    return {name: root / name for name in named}


def test_ddp_trains_from_the_store_and_matches_one_process(runs):
    ddp, single = (json.loads((runs[n] / "results.json").read_text()) for n in ("ddp", "single"))
    assert ddp["status"] == single["status"] == "finished"
    assert ddp["config"]["trainer"]["devices"] == 2
    assert ddp["config"]["trainer"]["strategy"]["_target_"] == "pytorch_lightning.strategies.DDPStrategy"
    losses = _val_losses(runs["ddp"])
    assert len(losses) == 6 and losses[-1] < losses[0]  # one validation per epoch; the loss falls
    assert abs(losses[-1] - _val_losses(runs["single"])[-1]) <= LOSS_TOLERANCE * _val_losses(runs["single"])[-1]
    for key in ("steps", "target_tokens"):  # rank 0's share alone would be about half of them
        assert abs(ddp["train"][key] - single["train"][key]) <= COUNT_TOLERANCE * single["train"][key], key
    assert ddp["train"]["tokens_per_s"] == pytest.approx(
        ddp["train"]["target_tokens"] / ddp["train"]["wall_time_s"], rel=0.01
    )
    for run in runs.values():  # all cooled down into the end of their 6 epochs
        lrs = _learning_rates(run)
        assert lrs[-1] < 0.15 * max(lrs), lrs[-5:]


def test_gradients_as_bucket_views_train_exactly_as_copies(runs):
    """The bucket view changes where the gradients live, not their values: the same run, figure for figure."""
    views, copies = (json.loads((runs[n] / "results.json").read_text()) for n in ("ddp", "ddp_copies"))
    assert views["config"]["trainer"]["strategy"]["gradient_as_bucket_view"] is True
    assert copies["config"]["trainer"]["strategy"]["gradient_as_bucket_view"] is False
    assert _val_losses(runs["ddp"]) == _val_losses(runs["ddp_copies"])
    assert views["train"]["steps"] == copies["train"]["steps"] and views["test"]["bleu"] == copies["test"]["bleu"]


def test_the_ddp_run_folder_is_whole_and_reloads(runs):
    run = runs["ddp"]
    results = json.loads((run / "results.json").read_text())
    assert results["test"]["sentences"] == 60  # scored once, on rank 0, over the whole test split
    assert len((run / "hypotheses" / "test.txt").read_text().splitlines()) == 60
    assert len(list((run / "checkpoints").glob("best-*.ckpt"))) == 1
    translator = nmt.load(run)
    out = translator.translate(["the dog sees the man ."], strategy="greedy")
    assert isinstance(out[0], str) and out[0].strip()  # the reloaded best checkpoint translates


def test_a_ddp_run_resumes_under_ddp(runs, tmp_path):
    run = tmp_path / "ddp"
    shutil.copytree(runs["ddp"], run)
    before = json.loads((run / "results.json").read_text())
    (run / "results.json").unlink()  # as after an interruption: the run is continued, not restarted
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "nmt.train", f"resume={run}", "trainer.max_epochs=7"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    after = json.loads((run / "results.json").read_text())
    assert after["status"] == "finished" and after["config"]["trainer"]["devices"] == 2
    per_epoch = before["train"]["steps"] // 6
    assert after["train"]["steps"] == 7 * per_epoch  # the seventh epoch only, on both ranks
    assert after["train"]["target_tokens"] > before["train"]["target_tokens"] * 1.1
    assert len(_val_losses(run)) == 7 and len(json.loads((run / "resumes.json").read_text())) == 1
