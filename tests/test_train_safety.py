"""nmt.train's safety nets: config errors before data, the resume allow-list, non-finite losses,
and an averaging pool whose checkpoints are spaced."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import compose_train, tiny_overrides
from omegaconf import OmegaConf, open_dict

from nmt.errors import ConfigError
from nmt.module import NonFiniteLossError, Seq2SeqModule


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "nmt.train", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.net.n_heads=5", r"^model\.net: .*"),
        ("model.optimizer.lr=-1", r"^model\.optimizer: Invalid learning rate"),
        (
            "model.optimizer._target_=nmt.optim.adamw +model.optimizer.weight_decay=-1",
            r"^model\.optimizer: Invalid weight_decay value: -1",
        ),
        ("model.scheduler.warmup_steps=0", r"^model\.scheduler: warmup_steps must be >= 1"),
        ("decode.beam_size=0", r"^decode: "),
        ("trainer.precision=bogus", r"^trainer: "),
        ("checkpoint.every_n_steps=-1", r"^checkpoint\.every_n_steps=-1 must be >= 0"),
        ("data.vocab.size=4", r"^vocab\.size=4 is too small"),
        ("data.max_tokens=0", r"^data\.max_tokens=0 must be a positive"),
        ("data.max_len=true", r"^data\.max_len=True must be a positive"),  # a bool is an int, never a length
        ("model.scheduler.cooldown=1.5", r"^model\.scheduler: cooldown must be a fraction"),
        ("train.malloc=jemalloc", r"^train\.malloc=jemalloc is not one of retain, retain_small, glibc"),
        (
            "model.scheduler.cooldown=0.2 trainer.max_epochs=-1",
            r"^model\.scheduler\.cooldown=0\.2 needs a training budget",
        ),
    ],
)
def test_config_errors_fail_before_any_data_is_read(override, message, tmp_path):
    missing = tmp_path / "no-such-corpus"  # reading the data first would raise a CorpusError instead
    cfg = compose_train([*tiny_overrides(missing, tmp_path / "cache", "transformer"), *override.split()])
    with pytest.raises(ConfigError, match=message):
        from nmt.training import train

        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in (Path(__file__).parents[1] / "conf" / "experiment").glob("*.yaml"))
)
@pytest.mark.parametrize("pair", [("en", "de"), ("de", "en")], ids="→".join)
def test_every_experiment_config_passes_the_start_checks(name, pair):
    """The published recipes build their model, optimiser and schedule (meta device), with a time budget."""
    from nmt.config_checks import check_config

    cfg = compose_train([f"experiment={name}", f"data.src_lang={pair[0]}", f"data.tgt_lang={pair[1]}"])
    assert check_config(cfg).strategy == "beam" and cfg.trainer.max_time and cfg.data.name == "multi30k"


def test_cli_config_error_is_one_line_and_leaves_no_run_folder(tmp_path):
    run_dir = tmp_path / "new-run"
    proc = cli(tmp_path, "model.net.n_heads=5", f"hydra.run.dir={run_dir}", f"cache_dir={tmp_path / 'cache'}")
    assert proc.returncode == 1
    assert re.fullmatch(r"nmt\.train: error: model\.net: [^\n]+\n", proc.stderr), proc.stderr
    assert not run_dir.exists()


def test_resume_refuses_an_unsafe_override_in_one_line_and_keeps_the_run(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    OmegaConf.save(compose_train([]), run_dir / "config.yaml")
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"stand-in: never read when refused")
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "overrides.yaml").write_text("- model=transformer\n")
    (run_dir / "train.log").touch()
    before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*"))
    proc = cli(tmp_path, f"resume={run_dir}", "trainer.max_epochs=9", "model.net.d_model=64")
    assert proc.returncode == 1
    assert re.fullmatch(
        r"nmt\.train: error: resume: model\.net\.d_model cannot change when resuming [^\n]+\n", proc.stderr
    )
    assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*")) == before
    assert (run_dir / ".hydra" / "overrides.yaml").read_text() == "- model=transformer\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no new run folder was made


def test_resume_config_takes_the_runs_own_config_and_the_safe_overrides(tmp_path):
    from nmt.resume import resume_config

    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    old_run = compose_train(["model=rnn", "seed=7"])
    with open_dict(old_run):
        del old_run.train.malloc  # a run from before train.malloc
    OmegaConf.save(old_run, run_dir / "config.yaml")
    (run_dir / "checkpoints" / "last.ckpt").touch()
    overrides = [
        f"resume={run_dir}",
        "trainer.max_epochs=30",
        "threads=2",
        "logger=[csv,tensorboard]",
        "train.malloc=glibc",
    ]
    cfg = resume_config(run_dir, compose_train(overrides), overrides)
    assert (cfg.model.name, cfg.seed, cfg.trainer.max_epochs, cfg.threads) == ("rnn", 7, 30, 2)
    assert cfg.train.malloc == "glibc"
    assert list(cfg.logger) == ["csv", "tensorboard"] and cfg.resume is None
    (run_dir / "results.json").write_text(json.dumps({"status": "finished"}))
    with pytest.raises(ConfigError, match="has finished .* pass a larger trainer.max_epochs"):
        resume_config(run_dir, compose_train([f"resume={run_dir}"]), [f"resume={run_dir}"])
    with pytest.raises(ConfigError, match=r"seed cannot change when resuming"):
        resume_config(run_dir, compose_train(["seed=1"]), ["seed=1"])


@pytest.fixture
def nan_at_step_3(monkeypatch):
    """The training loss becomes NaN at optimiser step 3 (as an overflowing model would)."""
    loss = Seq2SeqModule.loss

    def poisoned(self, logits, target, label_smoothing):
        value = loss(self, logits, target, label_smoothing)
        return value * float("nan") if self.training and self.global_step == 3 else value

    monkeypatch.setattr(Seq2SeqModule, "loss", poisoned)


def _nan_overrides(reverse_corpus, cache_dir) -> list[str]:
    return [
        *tiny_overrides(reverse_corpus, cache_dir, "rnn"),
        "trainer.max_epochs=1",
        "callbacks.heatmaps=null",
        "checkpoint.every_n_steps=2",
    ]


def test_a_nan_loss_stops_naming_the_step_and_the_last_good_checkpoint(
    reverse_corpus, cache_dir, tmp_path, nan_at_step_3
):
    from nmt.training import train

    with pytest.raises(
        NonFiniteLossError, match=r"train/loss is nan at step 3 .* the last good checkpoint is \S+last\.ckpt \(step 2\)"
    ):
        train(compose_train(_nan_overrides(reverse_corpus, cache_dir)), tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "diverged" and results["train"]["steps"] == 3
    for ckpt in (tmp_path / "checkpoints").glob("*.ckpt"):
        state = torch.load(ckpt, weights_only=True)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_skip_nonfinite_skips_the_batch_and_finishes(reverse_corpus, cache_dir, tmp_path, nan_at_step_3):
    from nmt.training import train

    results = train(compose_train([*_nan_overrides(reverse_corpus, cache_dir), "train.skip_nonfinite=true"]), tmp_path)
    assert results["status"] == "finished" and results["train"]["skipped_nonfinite"] == 1


def test_a_checkpoint_is_never_written_with_non_finite_weights():
    from nmt.models.rnn import Bahdanau

    model = Bahdanau(
        src_vocab_size=11,
        tgt_vocab_size=11,
        pad_id=0,
        bos_id=2,
        eos_id=3,
        shared_vocab=True,
        emb_dim=4,
        hidden_dim=4,
        attn_dim=4,
    )
    module = Seq2SeqModule(model, optimizer=lambda params: torch.optim.SGD(params, lr=0.1))
    module.on_save_checkpoint({})  # finite: fine
    with torch.no_grad():
        next(model.parameters())[0] = float("inf")
    with pytest.raises(NonFiniteLossError, match="checkpoint not written"):
        module.on_save_checkpoint({})


def test_the_averaging_pool_is_spaced_and_the_averaged_steps_are_listed(reverse_corpus, cache_dir, tmp_path):
    from nmt.training import train

    overrides = [
        *tiny_overrides(reverse_corpus, cache_dir, "rnn"),
        "trainer.max_epochs=2",
        "data.max_tokens=128",
        "trainer.val_check_interval=0.25",  # a validation every ~5 steps
        "callbacks.heatmaps=null",
        "checkpoint.keep_last=20",
        "checkpoint.average=2",
        "checkpoint.average_min_gap_steps=12",
    ]
    results = train(compose_train(overrides), tmp_path)
    pool = sorted(int(re.search(r"step(\d+)", p.name).group(1)) for p in (tmp_path / "checkpoints").glob("epoch*.ckpt"))
    with (tmp_path / "metrics.csv").open(newline="") as f:
        validations = [r for r in csv.DictReader(f) if r["val/bleu"]]
    assert len(pool) >= 2 and len(pool) < len(validations)
    assert all(b - a >= 12 for a, b in zip(pool, pool[1:], strict=False))
    tested = results["tested_weights"]
    steps = tested["averaged_steps"] if tested["averaged"] else tested["average_val_bleu"]["steps"]
    assert steps == pool[-2:]
