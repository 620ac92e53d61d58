"""The records of ``results.json`` that every training run writes, finished or not; the test scores
its loggers get."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint

from nmt.atomic import write_json_atomic
from nmt.checkpoint import run_relative
from nmt.flops import cpu_model
from nmt.module import Seq2SeqModule
from nmt.resume import LAST, resume_command, resume_history


def epochs_done(trainer: pl.Trainer) -> float | None:
    """Optimiser steps as a fraction of an epoch's batches, e.g. 14.01 when a time limit stopped training."""
    per_epoch = trainer.num_training_batches
    if not per_epoch or per_epoch == float("inf"):
        return None
    return round(trainer.global_step / per_epoch, 2)


def train_record(trainer: pl.Trainer, module: Seq2SeqModule, last_saved_step: int | None) -> dict:
    """What is known of the training itself, finished or not (wall time across resumes)."""
    wall = module.elapsed_seconds()
    return {
        "wall_time_s": round(wall, 1),
        "steps": trainer.global_step,
        "epochs": trainer.current_epoch,  # epochs started (a time limit may stop one early)
        "epochs_done": epochs_done(trainer),
        "target_tokens": module.train_tokens,
        "tokens_per_s": round(module.train_tokens / max(wall, 1e-9), 1),
        "skipped_nonfinite": module.skipped_batches,
        "last_checkpoint_step": last_saved_step,
    }


def run_record(cfg: DictConfig, run_dir: Path, status: str, trainer: pl.Trainer, module: Seq2SeqModule) -> dict:
    """The parts of results.json common to every status."""
    return {
        "status": status,
        "model": cfg.model.name,
        "data": cfg.data.name,
        "src_lang": cfg.data.src_lang,
        "tgt_lang": cfg.data.tgt_lang,
        "params": sum(p.numel() for p in module.model.parameters()),
        "resumes": resume_history(run_dir),
        "hardware": {
            "platform": platform.platform(),
            "cpu_model": cpu_model(),  # time-limited runs: steps per minute differ by CPU
            "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "accelerator": str(trainer.accelerator.__class__.__name__),
        },
        "versions": {"torch": torch.__version__, "pytorch_lightning": pl.__version__},
    }


def stopped_results(
    cfg: DictConfig,
    run_dir: Path,
    status: str,
    trainer: pl.Trainer,
    module: Seq2SeqModule,
    best: ModelCheckpoint,
    last_saved_step: int | None,
    **extra: object,
) -> dict:
    """Write and return results.json of a run that did not finish: what is known, and how to go on.

    Args:
        status: ``interrupted`` (SIGINT/SIGTERM) or ``diverged`` (non-finite loss).
        best: the best-checkpoint callback (its score and file so far).
        last_saved_step: the step of ``checkpoints/last.ckpt`` (None: there is none).
        extra: more top-level keys (e.g. ``signal``).
    """
    last = run_dir / LAST
    results = {
        **run_record(cfg, run_dir, status, trainer, module),
        "train": train_record(trainer, module, last_saved_step),
        "val": {
            "bleu": round(float(best.best_model_score), 2) if best.best_model_score is not None else None,
            "metric": cfg.checkpoint.monitor,
        },
        "best_checkpoint": run_relative(Path(best.best_model_path), run_dir) if best.best_model_path else None,
        "last_checkpoint": str(LAST) if last.is_file() else None,
        "resume_command": resume_command(run_dir) if last.is_file() else None,
        **extra,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_json_atomic(run_dir / "results.json", results)
    return results


def log_test_scores(trainer: pl.Trainer, scores: dict) -> None:
    """``test/bleu`` and ``test/chrf`` to every logger of the trainer (metrics.csv, TensorBoard).

    The step is the one Lightning gives the validation after the last update (``global_step - 1``,
    which metrics.csv records as ``global_step``: see ``AppendingCSVLogger``).
    """
    metrics = {"test/bleu": float(scores["bleu"]), "test/chrf": float(scores["chrf"])}
    for logger in trainer.loggers:
        logger.log_metrics(metrics, step=max(trainer.global_step - 1, 0))
        logger.save()
